"""The kernel's commands and config defaults, registered through the plugin hooks."""

from __future__ import annotations

from typing import Any

from pioreactor_kernel.plugins import hookimpl

COMMANDS = {
    "run": ("pioreactor_kernel.builtin.cli_jobs:run", "Run a job or action on this unit"),
    "kill": ("pioreactor_kernel.builtin.cli_jobs:kill", "Stop running jobs on this unit"),
    "jobs": ("pioreactor_kernel.builtin.cli_jobs:jobs", "List the jobs running on this unit"),
    "mqtt": ("pioreactor_kernel.builtin.cli_mqtt:mqtt", "Print the live MQTT event log"),
    "logs": ("pioreactor_kernel.builtin.cli_mqtt:logs", "Show (or follow) this unit's log file"),
    "version": ("pioreactor_kernel.builtin.cli_info:version", "Print the kernel's and plugins' versions"),
    "plugins": ("pioreactor_kernel.builtin.cli_info:plugins", "List, install or uninstall plugins"),
    "config": ("pioreactor_kernel.builtin.cli_config:config", "Show, get or set configuration"),
    "calibrations": ("pioreactor_kernel.builtin.cli_calibrations:calibrations", "List, show, activate or delete calibrations"),
    "hardware": ("pioreactor_kernel.hardware.cli:hardware", "Show channel holders, outputs on and the hardware watchdog"),
    "broker": ("pioreactor_kernel.builtin.cli_broker:broker", "Start, stop or check the local Mosquitto broker"),
}


@hookimpl
def register_commands(cli: Any) -> None:
    for name, (target, help_text) in COMMANDS.items():
        cli.add_lazy_command(name, target, help=help_text)
    # plugins add their procedures: cli.add_lazy_command("calibrate stirring", ...)
    cli.add_command(type(cli)(name="calibrate", help="Run a guided calibration of a device (procedures come from plugins)"))


@hookimpl
def config_defaults() -> dict[str, dict[str, str]]:
    from pioreactor_kernel.hardware.hwmap import DEFAULT_MAP

    return {
        "mqtt": {"host": "localhost", "port": "1883", "keepalive_s": "2", "max_offline_messages": "20000"},
        "cluster": {"leader_name": "", "leader_address": ""},
        "logging": {"level": "INFO", "max_file_mb": "10", "backups": "5"},
        "plugins": {"disabled": ""},
        "hardware": {"backend": "auto", "lease_s": "1.0", "watchdog_poll_s": "0.1", "watchdog_idle_exit_s": "300"},
        **DEFAULT_MAP,
    }
