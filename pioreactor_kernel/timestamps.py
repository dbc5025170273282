"""ISO-8601 UTC timestamps with a ``Z`` suffix, as the wire dialect uses them."""

from __future__ import annotations

import time
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # datetime is imported on use: every job imports this module, few parse timestamps
    from datetime import datetime


def current_utc_timestamp() -> str:
    """e.g. ``2026-11-24T10:00:00.123456Z``."""
    t = time.time()
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(t)) + f".{int((t % 1) * 1e6):06d}Z"


def parse_timestamp(value: str) -> datetime:
    from datetime import UTC, datetime

    return datetime.fromisoformat(value.replace("Z", "+00:00")).astimezone(UTC)


def to_timestamp(dt: datetime) -> str:
    from datetime import UTC

    return dt.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
