"""The OD hardware of a unit (IR LED + photodiodes) and the chain from volts to a normalised signal.

The signal of a channel is ``(V_on - V_dark) / (V_ref_on - V_ref_dark)``: the photodiode's
voltage with the IR LED on, minus its dark offset (ambient light, ADC offset), divided by the
reference photodiode's, which sees the LED directly. LED drift and the chosen intensity cancel
out, so a signal (and a calibration made from it) means the same at any intensity. Without a
REF channel the signal is the dark-subtracted voltage (V), and it scales with the intensity.
"""

from __future__ import annotations

import logging
import math
import time
from collections import deque
from dataclasses import dataclass, field
from typing import Any

from . import names
from .sampling import Sampler, SampleSet, median

MIN_REFERENCE_V = 1e-3  # below this the reference sees no LED: nothing to normalise by
DARK_MEMORY = 5  # dark offsets are the median of the last few readings' darks


@dataclass(frozen=True)
class SamplingOptions:
    """How each reading samples, from ``[od_reading]``."""

    samples: int = 9
    dark_samples: int = 5
    settle_s: float = 0.002
    full_scale_v: float = 4.096

    @classmethod
    def from_config(cls, config: Any) -> SamplingOptions:
        section, d = names.OD_SECTION, names.OD_DEFAULTS

        def number(key: str) -> float:
            value = config.getfloat(section, key, float(d[key]))
            if value is None or not math.isfinite(value) or value < 0:
                raise ValueError(f"[{section}] {key} = {value!r}: expected a number >= 0")
            return float(value)

        options = cls(
            int(number("samples_per_reading")),
            int(number("dark_samples")),
            number("led_settle_s"),
            number("adc_full_scale_v"),
        )
        if not 1 <= options.samples <= 1000 or options.dark_samples > 1000 or options.settle_s > 1:
            raise ValueError(
                f"[{section}] samples_per_reading {options.samples} (1-1000), dark_samples "
                f"{options.dark_samples} (0-1000) or led_settle_s {options.settle_s} (0-1 s) out of range"
            )
        return options


@dataclass
class Reading:
    """One OD reading: normalised signal per channel (channels that failed are in ``errors``)."""

    t: float
    signals: dict[str, float]
    errors: dict[str, str] = field(default_factory=dict)
    reference_v: float | None = None


class SignalChain:
    """Dark subtraction and reference normalisation of sample sets (see the module docstring)."""

    def __init__(self, angles: dict[str, str]):
        self.angles = dict(angles)
        self.ref = next((ch for ch, a in angles.items() if a == names.REF), None)
        self._darks: dict[str, deque[float]] = {ch: deque(maxlen=DARK_MEMORY) for ch in angles}

    @property
    def signal_channels(self) -> dict[str, str]:
        return {ch: a for ch, a in self.angles.items() if a != names.REF}

    @property
    def unit(self) -> str:
        return "V/V" if self.ref else "V"

    def reading(self, s: SampleSet) -> Reading:
        errors = dict(s.errors)
        net: dict[str, float | None] = {}
        for ch in self.angles:
            dark = s.dark_v.get(ch)
            if dark is not None:
                self._darks[ch].append(dark)
            on = s.on_v.get(ch)
            offset = median(list(self._darks[ch])) if self._darks[ch] else 0.0
            net[ch] = None if on is None else on - offset
        scale = 1.0
        ref_v = None
        if self.ref is not None:
            ref_v = net.get(self.ref)
            if ref_v is None or not ref_v >= MIN_REFERENCE_V:
                why = (
                    errors.get(self.ref)
                    or f"reference signal {ref_v if ref_v is not None else float('nan'):.4f} V "
                    "is too weak (is the IR LED working?)"
                )
                return Reading(s.t, {}, {ch: f"no reference: {why}" for ch in self.signal_channels}, ref_v)
            scale = 1.0 / ref_v
        signals: dict[str, float] = {}
        for ch in self.signal_channels:
            value = net.get(ch)
            if value is None:
                errors.setdefault(ch, "no usable conversions")
            elif math.isfinite(value * scale):
                signals[ch] = value * scale
        return Reading(s.t, signals, {ch: e for ch, e in errors.items() if ch in self.signal_channels}, ref_v)


class ODHardware:
    """The IR LED and every photodiode of the hardware map, held by ``owner``; close it when done.

    A photodiode that cannot be opened is logged and left out; the IR LED, a busy channel, or
    no usable signal channel at all is an error (raised).
    """

    def __init__(
        self, owner: str, options: SamplingOptions | None = None, *, logger: logging.Logger | None = None
    ):
        from pioreactor_kernel import hardware

        log = logger or logging.getLogger(f"pioreactor.{owner}")
        angles = hardware.hardware_map().photodiode_channels()
        if not any(a != names.REF for a in angles.values()):
            raise hardware.HardwareError(
                "no photodiode measures the culture: map one in [hardware.photodiodes], "
                "e.g. `pio config set hardware.photodiodes.2 90`"
            )
        self.devices = hardware.DeviceSet(owner=owner)
        try:
            led = self.devices.led(hardware.IR_LED)
            adcs = {}
            for ch, angle in sorted(angles.items()):
                try:
                    adcs[ch] = self.devices.analog_input(ch)
                except hardware.ChannelBusy:
                    raise
                except Exception as e:  # noqa: BLE001 - one broken channel must not stop the rest
                    log.error(
                        "photodiode channel %s (angle %s) cannot be opened, reading without it: %s",
                        ch,
                        angle,
                        e,
                    )
            if not any(angles[ch] != names.REF for ch in adcs):
                raise hardware.HardwareError("no photodiode channel measuring the culture could be opened")
        except BaseException:
            self.devices.close()
            raise
        # a REF that is mapped but broken stays in the chain: its readings then fail loudly
        self.chain = SignalChain({ch: a for ch, a in angles.items() if ch in adcs or a == names.REF})
        o = options or SamplingOptions()
        self.sampler = Sampler(
            led,
            adcs,
            samples=o.samples,
            dark_samples=o.dark_samples,
            settle_s=o.settle_s,
            full_scale_v=o.full_scale_v,
            logger=log,
        )

    @property
    def angles(self) -> dict[str, str]:
        """Signal channels (not REF) and their angles."""
        return self.chain.signal_channels

    def read(self, intensity_percent: float) -> Reading:
        return self.chain.reading(self.sampler.sample(intensity_percent))

    def read_mean(
        self, intensity_percent: float, readings: int, spacing_s: float = 0.2
    ) -> tuple[dict[str, float], dict[str, float], dict[str, str]]:
        """Mean and SD per channel over ``readings`` readings (a blank, a calibration standard)."""
        values: dict[str, list[float]] = {ch: [] for ch in self.angles}
        errors: dict[str, str] = {}
        for i in range(readings):
            if i:
                time.sleep(spacing_s)
            r = self.read(intensity_percent)
            for ch, v in r.signals.items():
                values[ch].append(v)
            errors.update(r.errors)
        means = {ch: sum(v) / len(v) for ch, v in values.items() if v}
        sds = {ch: _sd(v) for ch, v in values.items() if v}
        return means, sds, {ch: e for ch, e in errors.items() if ch not in means}

    def close(self) -> None:
        self.devices.close()


def _sd(values: list[float]) -> float:
    if len(values) < 2:
        return 0.0
    m = sum(values) / len(values)
    return math.sqrt(sum((v - m) ** 2 for v in values) / (len(values) - 1))


class ErrorThrottle:
    """Logs a recurring error once, then every ``every``-th repeat, and says when it cleared."""

    def __init__(self, logger: logging.Logger, every: int = 60):
        self.logger, self.every = logger, every
        self._counts: dict[str, int] = {}

    def error(self, key: str, message: str, *args: object, level: int = logging.ERROR) -> None:
        n = self._counts.get(key, 0) + 1
        self._counts[key] = n
        if n == 1 or n % self.every == 0:
            suffix = f" (x{n})" if n > 1 else ""
            self.logger.log(level, message + suffix, *args)

    def clear(self, key: str, message: str, *args: object) -> None:
        if self._counts.pop(key, 0):
            self.logger.info(message, *args)
