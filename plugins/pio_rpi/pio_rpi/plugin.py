"""The pio-rpi plugin: registrations only (no hardware library is imported here)."""

from __future__ import annotations

from typing import Any

from pioreactor_kernel.plugins import hookimpl


@hookimpl
def register_hardware(register: Any) -> None:
    register("rpi", "pio_rpi.backend:create", help="Raspberry Pi HAT: lgpio PWM/GPIO, ADS1115, TMP1075, DAC43608")


@hookimpl
def config_defaults() -> dict[str, dict[str, str]]:
    from pioreactor_kernel.hardware.hwmap import DEFAULT_MAP

    from .defaults import DEFAULT_RPI_CONFIG

    return {**DEFAULT_MAP, "rpi": dict(DEFAULT_RPI_CONFIG)}
