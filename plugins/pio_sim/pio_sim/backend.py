"""The ``sim`` hardware backend: device drivers that read and move the virtual vial."""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from pioreactor_kernel.hardware.protocols import ADS1115_FULL_SCALES_V

from .physics import Params, Roles, photodiode_voltage, temperature_reading
from .store import SimStore, db_path


def roles_from_map(hardware_map: Any) -> Roles:
    ir = next((c for c, role in hardware_map.leds.items() if role == "ir"), None)
    return Roles(pwm={role: c for c, role in hardware_map.pwm.items()}, ir_led=ir,
                 photodiodes=dict(hardware_map.photodiodes))


class SimBackend:
    """Provides the kernel's device protocols over one unit's ``storage/sim.sqlite``."""

    name = "sim"
    exclusive_kinds: frozenset[str] = frozenset()

    def __init__(self, *, config: Any, data_dir: Path, unit: str, hardware_map: Any,
                 clock: Callable[[], float] = time.time):
        self.params = Params.from_mapping(config.section("sim") if config is not None else {})
        self.store = SimStore(db_path(data_dir), self.params, roles_from_map(hardware_map), unit, clock)

    def pwm(self, channel: str) -> SimPWM:
        return SimPWM(self.store, channel)

    def led(self, channel: str) -> SimLED:
        return SimLED(self.store, channel)

    def analog_input(self, channel: str) -> SimADC:
        return SimADC(self.store, channel)

    def edge_counter(self, name: str) -> SimEdgeCounter:
        return SimEdgeCounter(self.store)

    def temperature_sensor(self, name: str) -> SimThermometer:
        return SimThermometer(self.store)

    def true_state(self) -> dict[str, Any]:
        return self.store.snapshot()

    def close(self) -> None:
        self.store.close()


def _percent(value: float) -> float:
    value = float(value)
    if math.isnan(value) or not 0.0 <= value <= 100.0:
        raise ValueError(f"{value!r} is outside 0-100 %")
    return value


class SimPWM:
    def __init__(self, store: SimStore, channel: str):
        self.store, self.channel = store, channel

    def set_duty(self, duty_percent: float) -> None:
        duty = _percent(duty_percent)
        with self.store.step() as (state, _):
            state.pwm[self.channel] = duty

    def close(self) -> None:
        """Closing a driver leaves the channel as it is: switching off is the caller's (or watchdog's) act."""


class SimLED:
    def __init__(self, store: SimStore, channel: str):
        self.store, self.channel = store, channel

    def set_intensity(self, intensity_percent: float) -> None:
        intensity = _percent(intensity_percent)
        with self.store.step() as (state, _):
            state.led[self.channel] = intensity

    def close(self) -> None: ...


class SimADC:
    """A photodiode through a modelled ADS1115: its six ranges, clipping at the range, 16-bit codes.

    The range is this driver's (the ADS1115 takes it with every conversion), starting at
    ``[sim] adc_full_scale_v``; satisfies the kernel's ``ProgrammableGainInput``.
    """

    full_scale_ranges_v = ADS1115_FULL_SCALES_V

    def __init__(self, store: SimStore, channel: str):
        self.store, self.channel = store, channel
        self.full_scale_v = store.params.adc_full_scale_v

    def set_full_scale_v(self, volts: float) -> None:
        if volts not in self.full_scale_ranges_v:
            raise ValueError(f"{volts!r} V is not an ADS1115 range ({', '.join(map(str, self.full_scale_ranges_v))})")
        self.full_scale_v = float(volts)

    def read_voltage(self) -> float:
        with self.store.step(rng=True) as (state, rng):
            assert rng is not None
            return photodiode_voltage(state, self.store.params, self.store.draws, self.store.roles, self.channel, rng,
                                      self.full_scale_v)

    def close(self) -> None: ...


class SimEdgeCounter:
    def __init__(self, store: SimStore):
        self.store = store
        with store.step() as (state, _):
            self._start = math.floor(state.tach_pulses)

    def count(self) -> int:
        with self.store.step() as (state, _):
            return math.floor(state.tach_pulses) - self._start

    def close(self) -> None: ...


class SimThermometer:
    def __init__(self, store: SimStore):
        self.store = store

    def read_celsius(self) -> float:
        with self.store.step(rng=True) as (state, rng):
            assert rng is not None
            return temperature_reading(state, self.store.params, rng)

    def close(self) -> None: ...


def create(**kwargs: Any) -> SimBackend:
    """The factory named in ``register_hardware``."""
    return SimBackend(**kwargs)
