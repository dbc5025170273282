"""The pio-sim plugin: registrations only (no simulator code is imported here)."""

from __future__ import annotations

from typing import Any

from pioreactor_kernel.plugins import hookimpl


@hookimpl
def register_hardware(register: Any) -> None:
    register("sim", "pio_sim.backend:create", help="The virtual bioreactor (coherent across processes)")


@hookimpl
def register_commands(cli: Any) -> None:
    cli.add_command(type(cli)(name="sim", help="The virtual bioreactor: its true state, a fresh culture"))
    cli.add_lazy_command("sim status", "pio_sim.cli:status", help="Print the virtual vial's true (hidden) state")
    cli.add_lazy_command("sim reset", "pio_sim.cli:reset", help="Start a fresh culture in the virtual vial")


@hookimpl
def config_defaults() -> dict[str, dict[str, str]]:
    from pioreactor_kernel.hardware.hwmap import DEFAULT_MAP

    return {**DEFAULT_MAP, "sim": {"seed": "", "speed": "1", "heat_speed": "1", "phototroph": "false"}}
