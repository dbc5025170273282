"""Each photodiode's ADC range kept just above its signal (the ADS1115's programmable gain).

A smaller range resolves smaller voltages (an ADS1115's step is ``range / 32768``: 7.8 µV on
±0.256 V against 125 µV on ±4.096 V), but clips what exceeds it. The kernel's ``ADC`` offers
``full_scale_ranges_v`` and ``set_full_scale_v(v)`` when the backend can switch ranges
(``ProgrammableGainInput``); :class:`AutoRange` uses them:

- it starts on the largest range, so the first reading cannot clip;
- after each reading it goes at once to a larger range when the signal (the robust mean of
  the lit conversions, dark offset included) uses more than ``HEADROOM`` of the range, and to
  a smaller one only when every one of the last ``MEMORY`` readings would use at most
  ``STEP_DOWN_AT`` of it (hysteresis: a signal near a boundary does not flip the range);
- a conversion at the top of the range (saturated) makes the sampler step to the next larger
  range and read that channel again while the LED is still on, until it fits or no larger
  range is left (then the reading of that channel is refused).

Without range control (a driver that does not offer it), only saturation is detected, against
the configured ``fixed_full_scale_v``.
"""

from __future__ import annotations

import logging
import math
from collections import deque
from typing import Any

HEADROOM = 0.6  # of the range: room for spikes (bubbles, up to +45 % on the simulator) and growth
STEP_DOWN_AT = 0.4  # of the smaller range: a step down must leave the signal there or below
MEMORY = 6  # readings the step-down decision looks back on (30 s at the default interval)
SATURATED = 0.999  # of a range the ADC reports: its top codes
SATURATED_FIXED = 0.98  # of a configured range the ADC does not report (it may be nominal)


class AutoRange:
    """The range of one ADC channel, chosen from its recent signal (see the module docstring)."""

    def __init__(
        self,
        adc: Any,
        channel: str = "",
        fixed_full_scale_v: float = 4.096,
        logger: logging.Logger | None = None,
    ):
        self.channel = channel
        self.logger = logger or logging.getLogger("pioreactor.od_reading")
        setter = getattr(adc, "set_full_scale_v", None)
        ranges = getattr(adc, "full_scale_ranges_v", None) if callable(setter) else None
        self.ranges = sorted({float(r) for r in ranges or ()})
        self._setter = setter
        self._recent: deque[float] = deque(maxlen=MEMORY)
        self.changes = 0
        if not self.ranges:
            self.full_scale_v = float(fixed_full_scale_v)
            return
        current = getattr(adc, "full_scale_v", None)
        self.full_scale_v = float(current) if current in self.ranges else math.inf
        self._change(self.ranges[-1], "start on the largest range")
        if self.full_scale_v == math.inf:  # not set and not known: assume the largest
            self.full_scale_v = self.ranges[-1]

    @property
    def adjustable(self) -> bool:
        return bool(self.ranges)

    def saturated(self, volts: float) -> bool:
        """Whether a conversion of ``volts`` is at the top of the current range (clipped)."""
        return (
            math.isfinite(volts)
            and volts >= (SATURATED if self.ranges else SATURATED_FIXED) * self.full_scale_v
        )

    def step_up(self, volts: float) -> bool:
        """After a saturated conversion: go to the next larger range; False if there is none."""
        larger = [r for r in self.ranges if r > self.full_scale_v]
        if not larger:
            return False
        self._recent.clear()
        return self._change(larger[0], f"saturated at {volts:.4g} V, reading again")

    def observe(self, level_v: float) -> None:
        """Take the signal level (V) of a reading and choose the range for the next one."""
        if not math.isfinite(level_v):
            return
        self._recent.append(level_v)
        if not self.ranges:
            return
        fs = self.full_scale_v
        if level_v > HEADROOM * fs:
            fits = [r for r in self.ranges if level_v <= HEADROOM * r]
            self._change(
                fits[0] if fits else self.ranges[-1], f"signal {level_v:.4g} V above {HEADROOM:.0%} of it"
            )
            self._recent.clear()
            self._recent.append(level_v)
            return
        highest = max(self._recent)
        smaller = [r for r in self.ranges if r < fs and highest <= STEP_DOWN_AT * r]
        if smaller:
            self._change(
                smaller[0], f"signal at most {highest:.4g} V over the last {len(self._recent)} readings"
            )

    def _change(self, full_scale_v: float, why: str) -> bool:
        if full_scale_v == self.full_scale_v:
            return False
        try:
            self._setter(full_scale_v)  # type: ignore[misc]
        except Exception as e:  # noqa: BLE001 - a range that cannot be set leaves the one in use
            self.logger.error(
                "channel %s: cannot switch the ADC range to %g V: %s", self.channel, full_scale_v, e
            )
            return False
        self.logger.debug(
            "channel %s: ADC range %g V -> %g V (%s)", self.channel, self.full_scale_v, full_scale_v, why
        )
        self.full_scale_v = full_scale_v
        self.changes += 1
        return True
