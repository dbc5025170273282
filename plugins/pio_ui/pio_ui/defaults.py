"""The UI's config section and defaults: what every ``pio`` process reads through the
``config_defaults`` hook, so nothing else is imported with them."""

from __future__ import annotations

from typing import Final

SECTION: Final = "ui"
CONFIG_DEFAULTS: Final = {
    "host": "0.0.0.0",  # the LAN; 127.0.0.1 keeps the UI on this machine only
    "port": "8080",
    "password": "",  # empty: generated into <data dir>/ui_password on first start, and printed
    "session_days": "14",
    "login_failures_per_minute": "5",
    "flush_interval_ms": "100",
    "rollup_refresh_s": "30",  # windows of a minute per bucket or more; finer ones read the rows
}
