"""The pio-ui plugin: registrations only (Flask and the app are imported when the job runs)."""

from __future__ import annotations

from typing import Any

from pioreactor_kernel.plugins import hookimpl


@hookimpl
def register_jobs(register: Any) -> None:
    register("ui", "pio_ui.job:UIServer", help="Serve the live web UI (charts, units, logs, experiments, export)",
             service=True)


@hookimpl
def register_commands(cli: Any) -> None:
    cli.add_lazy_command("ui password", "pio_ui.cli:password",
                         help="Set (or generate) the web UI's login password")


@hookimpl
def config_defaults() -> dict[str, dict[str, str]]:
    from .defaults import CONFIG_DEFAULTS

    return {"ui": dict(CONFIG_DEFAULTS)}
