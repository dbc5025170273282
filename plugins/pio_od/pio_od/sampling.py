"""Taking one OD sample set: dark samples, then the IR LED on only while the photodiodes are read.

Each channel is read ``samples`` times, channels interleaved so that every channel's average
covers the same moments, and averaged robustly (:func:`robust_mean`): a spike, a NaN or an
absurd conversion is dropped, not averaged in. Each channel's ADC range follows its signal
(:mod:`.autorange`); a channel whose conversions hit the top of its range is read again on a
larger range while the LED is still on. Hardware calls can fail; a channel that fails gives
``None`` with the reason in ``errors`` and the others carry on.
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol

from .autorange import AutoRange

MIN_PLAUSIBLE_V = -0.05  # single-ended ADCs read slightly below 0 at most
MAX_PLAUSIBLE_V = 10.0
_MAD_TO_SD = 1.4826


class ADCLike(Protocol):
    def read_voltage(self) -> float: ...


class LEDLike(Protocol):
    def set_intensity(self, intensity_percent: float) -> None: ...


def plausible(value: Any) -> bool:
    """A conversion worth keeping: a finite number of volts in the ADC's possible range."""
    return (
        isinstance(value, int | float)
        and not isinstance(value, bool)
        and math.isfinite(value)
        and MIN_PLAUSIBLE_V <= value <= MAX_PLAUSIBLE_V
    )


def median(values: list[float]) -> float:
    s = sorted(values)
    n = len(s)
    return s[n // 2] if n % 2 else 0.5 * (s[n // 2 - 1] + s[n // 2])


def robust_mean(samples: list[float], min_valid: int = 1) -> float | None:
    """Mean of the samples within 3.5 robust SDs of their median; None if fewer than ``min_valid`` are usable.

    The spread comes from the median absolute deviation, so one or two spikes among nine
    samples neither move the centre nor widen the band. A floor (0.1 mV + 0.2 %) keeps
    quantised, identical samples from rejecting their neighbours one LSB away.
    """
    good = [s for s in samples if plausible(s)]
    if len(good) < max(1, min_valid):
        return None
    centre = median(good)
    spread = _MAD_TO_SD * median([abs(s - centre) for s in good])
    limit = max(3.5 * spread, 1e-4 + 0.002 * abs(centre))
    kept = [s for s in good if abs(s - centre) <= limit]
    return sum(kept) / len(kept)


@dataclass
class SampleSet:
    """One reading's raw material, per ADC channel: volts with the LED on and off."""

    t: float  # wall-clock time (epoch s) in the middle of the LED-on sampling
    on_v: dict[str, float | None]
    dark_v: dict[str, float | None]
    peak_v: dict[str, float]
    errors: dict[str, str] = field(default_factory=dict)


class Sampler:
    """Reads every channel with the LED off (dark), then on at ``intensity``, then switches it off."""

    def __init__(
        self,
        led: LEDLike,
        adcs: Mapping[str, ADCLike],
        *,
        samples: int = 9,
        dark_samples: int = 5,
        settle_s: float = 0.0,
        full_scale_v: float = 4.096,
        logger: logging.Logger | None = None,
    ):
        if samples < 1:
            raise ValueError(f"samples_per_reading must be at least 1, got {samples}")
        self.led, self.adcs = led, dict(adcs)
        self.samples, self.dark_samples, self.settle_s = samples, max(0, dark_samples), max(0.0, settle_s)
        self.gains = {ch: AutoRange(adc, ch, full_scale_v, logger) for ch, adc in self.adcs.items()}
        self.led_on_s = 0.0  # how long the LED was on for the last reading

    def sample(self, intensity_percent: float) -> SampleSet:
        errors: dict[str, str] = {}
        dark: dict[str, float | None] = dict.fromkeys(self.adcs)
        if self.dark_samples:
            raw_dark = self._read_rounds(self.dark_samples, errors)
            dark = {ch: robust_mean(v, (len(v) + 1) // 2) for ch, v in raw_dark.items()}
        on_at = time.monotonic()
        try:
            self.led.set_intensity(intensity_percent)
            if self.settle_s:
                time.sleep(self.settle_s)
            t0 = time.time()
            raw_on = self._read_rounds(self.samples, errors)
            self._read_unsaturated(raw_on, errors)
            t1 = time.time()
        finally:
            self.led.set_intensity(0.0)
            self.led_on_s = time.monotonic() - on_at
        on: dict[str, float | None] = {}
        peak: dict[str, float] = {}
        for ch, values in raw_on.items():
            good = [v for v in values if plausible(v)]
            peak[ch] = max(good, default=math.nan)
            on[ch] = robust_mean(values, (len(values) + 1) // 2)
            if on[ch] is None and ch not in errors:
                bad = next((v for v in values if not plausible(v)), None)
                errors[ch] = f"{len(values) - len(good)} of {len(values)} conversions unusable (e.g. {bad!r})"
            elif self.gains[ch].saturated(peak[ch]):
                errors[ch] = f"signal {peak[ch]:.3f} V at the ADC's full scale"
                on[ch] = None
        for ch, gain in self.gains.items():
            level = on.get(ch)
            gain.observe(level if level is not None else peak.get(ch, math.nan))
        return SampleSet(0.5 * (t0 + t1), on, dark, peak, errors)

    def _read_unsaturated(self, raw_on: dict[str, list[float]], errors: dict[str, str]) -> None:
        """Read again, on the next larger range, every channel with a conversion at the top of its range."""
        while True:  # each pass moves a channel to a strictly larger range, so this ends
            again = []
            for ch, values in raw_on.items():
                peak = max((v for v in values if plausible(v)), default=math.nan)
                if self.gains[ch].saturated(peak) and self.gains[ch].step_up(peak):
                    again.append(ch)
            if not again:
                return
            raw_on.update(self._read_rounds(self.samples, errors, again))

    def _read_rounds(
        self, rounds: int, errors: dict[str, str], channels: list[str] | None = None
    ) -> dict[str, list[float]]:
        adcs = self.adcs if channels is None else {ch: self.adcs[ch] for ch in channels}
        values: dict[str, list[float]] = {ch: [] for ch in adcs}
        for _ in range(rounds):
            for ch, adc in adcs.items():
                try:
                    values[ch].append(adc.read_voltage())
                except Exception as e:  # noqa: BLE001 - a failing channel must not stop the others
                    values[ch].append(math.nan)
                    errors.setdefault(ch, f"{type(e).__name__}: {e}")
        return values
