"""Hardware for jobs: devices by role, from the backend that config selects, safe to lose.

A job asks for a device by its role in the physical map (or by channel) and gets an object
satisfying the protocols of :mod:`.protocols`::

    from pioreactor_kernel import hardware

    with hardware.open_pwm("heater", owner="temperature_automation") as heater, \\
         hardware.open_temperature_sensor(owner="temperature_automation") as sensor:
        heater.set_duty(25)
        sensor.read_celsius()

Every device is owned by one process at a time (:class:`ChannelBusy` names the holder). Every
output (PWM, LED) is on only under a lease this process renews; the unit's watchdog switches it
off within about a second if the process dies or hangs. See docs/hardware.md.
"""

from __future__ import annotations

import importlib
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .hwmap import (
    ALT_MEDIA,
    DEFAULT_MAP,
    HEATER,
    IR_LED,
    MEDIA,
    PUMPS,
    STIRRING,
    TACHOMETER,
    VIAL_TEMPERATURE,
    WASTE,
    HardwareMap,
)
from .protocols import (
    AnalogInput,
    Backend,
    EdgeCounter,
    HardwareError,
    LEDOutput,
    PWMOutput,
    TemperatureSensor,
)

if TYPE_CHECKING:
    from .devices import ADC, LED, PWM, Device, Output, Tachometer, Thermometer
    from .ownership import ChannelBusy, holder_of

# devices and ownership load on first use: every `pio` process imports this package (for the
# map's config defaults), most never open a device.
_LAZY = {"ADC": "devices", "LED": "devices", "PWM": "devices", "Device": "devices", "Output": "devices",
         "Tachometer": "devices", "Thermometer": "devices", "ChannelBusy": "ownership", "holder_of": "ownership"}


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        value = getattr(importlib.import_module(f".{_LAZY[name]}", __name__), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def _devices() -> Any:
    from . import devices

    return devices


__all__ = [
    "ADC", "ALT_MEDIA", "DEFAULT_MAP", "DeviceSet", "HEATER", "IR_LED", "LED", "MEDIA", "PUMPS", "PWM", "STIRRING", "TACHOMETER",
    "VIAL_TEMPERATURE", "WASTE", "AnalogInput", "Backend", "ChannelBusy", "Device", "EdgeCounter",
    "HardwareError", "HardwareMap", "LEDOutput", "Output", "PWMOutput", "Tachometer", "TemperatureSensor",
    "Thermometer", "backend", "hardware_map", "holder_of", "open_analog_input", "open_edge_counter", "open_led",
    "open_pwm", "open_temperature_sensor", "reset",
]


def open_pwm(role_or_channel: str, *, owner: str | None = None, directory: Path | None = None) -> PWM:
    """A PWM output by role (``"heater"``, ``"media"``, ``"waste"``, ``"alt_media"``, ``"stirring"``) or channel."""
    from .context import current

    ctx = current(directory)
    channel = ctx.map.pwm_channel(role_or_channel)
    return _devices().PWM.open(ctx, channel, ctx.map.role_of("pwm", channel), owner, lambda: ctx.backend.pwm(channel))


def open_led(role_or_channel: str, *, owner: str | None = None, directory: Path | None = None) -> LED:
    """An LED channel by role (``"ir"``) or letter (``"A"``..``"D"``)."""
    from .context import current

    ctx = current(directory)
    channel = ctx.map.led_channel(role_or_channel)
    return _devices().LED.open(ctx, channel, ctx.map.role_of("led", channel), owner, lambda: ctx.backend.led(channel))


def open_analog_input(channel: str, *, owner: str | None = None, directory: Path | None = None) -> ADC:
    """An ADC input by channel (``"1"``..``"4"``); ``hardware_map().photodiodes`` tells each one's angle."""
    from .context import current

    ctx = current(directory)
    channel = str(channel)
    return _devices().ADC.open(ctx, channel, ctx.map.role_of("adc", channel), owner, lambda: ctx.backend.analog_input(channel))


def open_edge_counter(name: str = TACHOMETER, *, owner: str | None = None, directory: Path | None = None) -> Tachometer:
    """The edge counter ``name`` (the stirring tachometer by default)."""
    from .context import current

    ctx = current(directory)
    return _devices().Tachometer.open(ctx, name, name, owner, lambda: ctx.backend.edge_counter(name))


def open_temperature_sensor(name: str = VIAL_TEMPERATURE, *, owner: str | None = None,
                            directory: Path | None = None) -> Thermometer:
    """The temperature sensor ``name`` (the vial's by default)."""
    from .context import current

    ctx = current(directory)
    return _devices().Thermometer.open(ctx, name, name, owner, lambda: ctx.backend.temperature_sensor(name))


class DeviceSet:
    """The devices one job holds, opened under its name and closed together (outputs off first)::

        self.devices = hardware.DeviceSet(owner=self.job_name)
        self.heater = self.devices.pwm("heater")
        ...
        def on_disconnected(self):
            self.devices.close()
    """

    def __init__(self, owner: str, directory: Path | None = None):
        self.owner, self.directory = owner, directory
        self._devices: list[Device] = []

    def _track(self, device: Any) -> Any:
        self._devices.append(device)
        return device

    def pwm(self, role_or_channel: str) -> PWM:
        return self._track(open_pwm(role_or_channel, owner=self.owner, directory=self.directory))

    def led(self, role_or_channel: str) -> LED:
        return self._track(open_led(role_or_channel, owner=self.owner, directory=self.directory))

    def analog_input(self, channel: str) -> ADC:
        return self._track(open_analog_input(channel, owner=self.owner, directory=self.directory))

    def edge_counter(self, name: str = TACHOMETER) -> Tachometer:
        return self._track(open_edge_counter(name, owner=self.owner, directory=self.directory))

    def temperature_sensor(self, name: str = VIAL_TEMPERATURE) -> Thermometer:
        return self._track(open_temperature_sensor(name, owner=self.owner, directory=self.directory))

    def close(self) -> None:
        """Close every device, outputs first; one failing close does not keep the others open."""
        errors = []
        for device in sorted(reversed(self._devices), key=lambda d: not isinstance(d, _devices().Output)):
            try:
                device.close()
            except Exception as e:  # noqa: BLE001 - reported after the others are closed
                errors.append(f"{device}: {e}")
        self._devices.clear()
        if errors:
            raise HardwareError("closing devices failed: " + "; ".join(errors))

    def __enter__(self) -> DeviceSet:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def hardware_map(directory: Path | None = None) -> HardwareMap:
    from .context import current

    return current(directory).map


def backend(directory: Path | None = None) -> Backend:
    """The unit's backend driver object (no ownership, no leases: for diagnostics and the watchdog)."""
    from .context import current

    return current(directory).backend


def reset() -> None:
    """Forget this process's hardware contexts (tests, after changing ``PIO_DATA_DIR`` or config)."""
    from .context import reset as _reset

    _reset()
