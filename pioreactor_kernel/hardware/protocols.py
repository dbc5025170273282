"""The device protocols: what a hardware backend provides and what a job receives.

A backend (``register_hardware``) returns *drivers* satisfying these protocols, without
ownership or leases. The kernel wraps each one (:mod:`pioreactor_kernel.hardware.devices`)
in channel ownership and, for outputs, a lease watched by the unit's watchdog; the wrapped
devices satisfy the same protocols, so a job never sees the difference.

Outputs take percent (0-100). Inputs return SI-ish lab units: volts, °C, pulse counts.
"""

from __future__ import annotations

from typing import Protocol, runtime_checkable

OUTPUT_KINDS = ("pwm", "led")
"""Kinds of output the fail-safe covers: PWM (heater, pumps, stirring motor) and LED (DAC) channels."""


class HardwareError(RuntimeError):
    """A device cannot be opened or driven; the message says which and what to do."""


@runtime_checkable
class PWMOutput(Protocol):
    """A PWM output channel: heater, pump, stirring motor or an extra output."""

    def set_duty(self, duty_percent: float) -> None:
        """Drive the channel at ``duty_percent`` (0 = off, 100 = fully on)."""

    def close(self) -> None:
        """Switch off and release the channel."""


@runtime_checkable
class LEDOutput(Protocol):
    """An LED intensity channel (a DAC output): the IR LED, or LEDs A-D."""

    def set_intensity(self, intensity_percent: float) -> None:
        """Set the channel's intensity, 0-100 % of full scale."""

    def close(self) -> None:
        """Switch off and release the channel."""


@runtime_checkable
class AnalogInput(Protocol):
    """One ADC input, e.g. a photodiode."""

    def read_voltage(self) -> float:
        """One conversion, in volts."""

    def close(self) -> None: ...


ADS1115_FULL_SCALES_V = (6.144, 4.096, 2.048, 1.024, 0.512, 0.256)
"""The ADS1115's programmable full-scale ranges (gain 2/3, 1, 2, 4, 8, 16), in volts, largest first."""


@runtime_checkable
class ProgrammableGainInput(AnalogInput, Protocol):
    """An :class:`AnalogInput` whose input range can be switched (a programmable-gain amplifier).

    Optional for a driver: one without these attributes has a fixed range, and the kernel's
    ``ADC`` then reports ``full_scale_ranges_v == ()`` and ``full_scale_v is None``. A
    conversion at or above ``full_scale_v`` is clipped to it (saturated); a smaller range
    resolves smaller voltages (a 16-bit converter's step is ``full_scale_v / 32768``).
    The range belongs to this input only: other channels of the same chip keep theirs.
    """

    full_scale_ranges_v: tuple[float, ...]
    """The ranges this input can switch between, in volts, largest first."""

    @property
    def full_scale_v(self) -> float:
        """The range the next conversion uses, in volts (one of ``full_scale_ranges_v``)."""

    def set_full_scale_v(self, volts: float) -> None:
        """Use the range ``volts`` (exactly one of ``full_scale_ranges_v``) from the next conversion on."""


@runtime_checkable
class EdgeCounter(Protocol):
    """Counts rising edges on a digital input, e.g. the stirring tachometer (2 pulses per revolution)."""

    def count(self) -> int:
        """Edges counted since the counter was opened (monotonic, never reset)."""

    def close(self) -> None: ...


@runtime_checkable
class TemperatureSensor(Protocol):
    """The vial's temperature sensor."""

    def read_celsius(self) -> float:
        """One reading, in °C."""

    def close(self) -> None: ...


@runtime_checkable
class Backend(Protocol):
    """What a ``register_hardware`` factory returns, one per unit (data dir) and process.

    Channels are strings: PWM ``"1".."5"``, LED ``"A".."D"``, ADC ``"1".."4"``, edge counter
    and temperature sensor names from the hardware map (usually ``"stirring"`` and ``"vial"``).
    A driver call must be safe from several threads. ``exclusive_kinds`` names the output
    kinds that another process cannot drive while the owner lives (a claimed GPIO line): the
    watchdog ends a hung owner of such a channel before switching it off.
    """

    name: str
    exclusive_kinds: frozenset[str]

    def pwm(self, channel: str) -> PWMOutput: ...

    def led(self, channel: str) -> LEDOutput: ...

    def analog_input(self, channel: str) -> AnalogInput: ...

    def edge_counter(self, name: str) -> EdgeCounter: ...

    def temperature_sensor(self, name: str) -> TemperatureSensor: ...

    def close(self) -> None: ...
