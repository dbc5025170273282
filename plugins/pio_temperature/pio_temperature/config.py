"""Names and config of pio-temperature, defined once: sections, keys, defaults, and their readers."""

from __future__ import annotations

import math
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from pioreactor_kernel.config import ConfigError

from .defaults import DEFAULTS, SECTION, THERMOSTAT_SECTION  # re-exported; import-free for config_defaults
from .pid import Gains
from .readings import SensorPolicy

JOB = "temperature_automation"
KIND = "temperature"

# published settings of the job
TEMPERATURE = "temperature"
HEATER_DUTY = "heater_duty_cycle"
READING_INTERVAL = "reading_interval_s"
FAULT = "fault"

CUTOFF_EVENT = "HeaterCutOff"



HEATER_PAUSE_ON_HARDWARE_S = 5.0
"""``heater_pause_s = auto`` off the simulator: the heating plate's own warmth near the sensor
fades within a few seconds once the heater is off (the sim models no such coupling: 0 there)."""


@dataclass(frozen=True)
class Safety:
    max_temperature_c: float
    max_heater_duty_percent: float


def _float(config: Any, section: str, key: str) -> float:
    value = float(config.getfloat(section, key, float(DEFAULTS[section][key])))
    if not math.isfinite(value):
        raise ConfigError(f"[{section}] {key} = {value!r} is not a finite number")
    return value


def reading_interval_s(config: Any) -> float:
    value = _float(config, SECTION, "reading_interval_s")
    if not 0.05 <= value <= 3600:
        raise ConfigError(f"[{SECTION}] reading_interval_s = {value:g} must be 0.05..3600 s")
    return value


def sensor_policy(config: Any) -> SensorPolicy:
    with _as_config_error(SECTION):
        return _sensor_policy(config)


def _sensor_policy(config: Any) -> SensorPolicy:
    return SensorPolicy(
        samples_per_reading=int(_float(config, SECTION, "samples_per_reading")),
        plausible_min_c=_float(config, SECTION, "plausible_min_c"),
        plausible_max_c=_float(config, SECTION, "plausible_max_c"),
        max_spread_c=_float(config, SECTION, "max_spread_c"),
        max_bad_readings=int(_float(config, SECTION, "max_bad_readings")),
        stuck_readings=int(_float(config, SECTION, "stuck_readings")),
        stuck_duty_change_percent=_float(config, SECTION, "stuck_duty_change_percent"),
    )


def safety(config: Any) -> Safety:
    max_c = _float(config, SECTION, "max_temperature_c")
    if not 0 < max_c <= 100:
        raise ConfigError(f"[{SECTION}] max_temperature_c = {max_c:g} must be in (0, 100] °C")
    max_duty = _float(config, SECTION, "max_heater_duty_percent")
    if not 0 < max_duty <= 100:
        raise ConfigError(f"[{SECTION}] max_heater_duty_percent = {max_duty:g} must be in (0, 100]")
    return Safety(max_c, max_duty)


def heater_pause_s(config: Any, backend_name: str) -> float:
    raw = (config.get(SECTION, "heater_pause_s") or "auto").strip().lower()
    if raw == "auto":
        return 0.0 if backend_name == "sim" else HEATER_PAUSE_ON_HARDWARE_S
    try:
        value = float(raw)
    except ValueError:
        value = math.nan
    if not 0 <= value <= 60:
        raise ConfigError(f"[{SECTION}] heater_pause_s = {raw!r} must be 'auto' or a number of seconds, 0..60")
    return value


def thermostat_gains(config: Any) -> Gains:
    with _as_config_error(THERMOSTAT_SECTION):
        return Gains(kp=_float(config, THERMOSTAT_SECTION, "kp"), ki=_float(config, THERMOSTAT_SECTION, "ki"),
                     kd=_float(config, THERMOSTAT_SECTION, "kd"),
                     derivative_filter_s=_float(config, THERMOSTAT_SECTION, "derivative_filter_s"))


@contextmanager
def _as_config_error(section: str) -> Iterator[None]:
    try:
        yield
    except ConfigError:
        raise
    except ValueError as e:
        raise ConfigError(f"[{section}]: {e}") from None
