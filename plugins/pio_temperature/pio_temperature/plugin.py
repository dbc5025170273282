"""The pio-temperature plugin: registrations only (no job code is imported here)."""

from __future__ import annotations

from typing import Any

from pioreactor_kernel.plugins import hookimpl


@hookimpl
def register_jobs(register: Any) -> None:
    register("temperature_automation", "pio_temperature.job:TemperatureAutomationJob",
             help="Read the vial's temperature and run a temperature automation (thermostat, ...)")


@hookimpl
def register_automations(register: Any) -> None:
    register("temperature", "thermostat", "pio_temperature.automations:Thermostat",
             help="Hold target_temperature with a PID on the heater")
    register("temperature", "only_record_temperature", "pio_temperature.automations:OnlyRecordTemperature",
             help="Heater off; only read and publish the temperature")


@hookimpl
def config_defaults() -> dict[str, dict[str, str]]:
    from .defaults import DEFAULTS

    return {section: dict(values) for section, values in DEFAULTS.items()}
