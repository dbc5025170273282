"""Judging the temperature sensor: one reading from a few samples, garbage refused, a stuck sensor found.

Pure logic (no I/O, no clock), shared by the job and the benchmark. A *reading* is the median
of ``samples_per_reading`` samples taken a few milliseconds apart; samples that far apart
cannot physically differ by more than ``max_spread_c``, so a sample that does is garbage.
"""

from __future__ import annotations

import math
import statistics
from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class SensorPolicy:
    """What counts as a believable reading, and when the sensor is declared failed.

    All from ``[temperature_automation]`` (see docs/temperature.md).
    """

    samples_per_reading: int = 3
    plausible_min_c: float = -5.0  # a liquid vial colder than this: the sensor lies
    plausible_max_c: float = 100.0  # hotter than boiling water: the sensor lies
    max_spread_c: float = 1.0  # samples milliseconds apart cannot differ more
    max_bad_readings: int = 3  # consecutive bad readings before the sensor is declared failed
    stuck_readings: int = 20  # identical readings, under a heater that moved, before "stuck" (0: off)
    stuck_duty_change_percent: float = 10.0

    def __post_init__(self) -> None:
        if self.samples_per_reading < 1 or self.max_bad_readings < 1 or self.stuck_readings < 0:
            raise ValueError("samples_per_reading and max_bad_readings must be >= 1, stuck_readings >= 0")
        if not self.plausible_min_c < self.plausible_max_c or not self.max_spread_c > 0:
            raise ValueError("need plausible_min_c < plausible_max_c and max_spread_c > 0")


@dataclass(frozen=True)
class Reading:
    """A believable reading (°C), or why there is none (``celsius`` is None, ``problem`` says why)."""

    celsius: float | None
    problem: str = ""
    samples: tuple[Any, ...] = ()

    @property
    def ok(self) -> bool:
        return self.celsius is not None


def assess(samples: Sequence[float | BaseException], policy: SensorPolicy) -> Reading:
    """One reading from raw samples (a sample is a number, or the exception reading it raised)."""
    shown = tuple(_show(s) for s in samples)
    valid: list[float] = []
    problems: list[str] = []
    for sample in samples:
        if isinstance(sample, BaseException):
            problems.append(f"read failed: {type(sample).__name__}: {sample}")
        elif not isinstance(sample, int | float) or isinstance(sample, bool) or not math.isfinite(sample):
            problems.append(f"not a finite number: {sample!r}")
        elif not policy.plausible_min_c <= sample <= policy.plausible_max_c:
            problems.append(f"{sample:g} °C is outside the plausible {policy.plausible_min_c:g}..{policy.plausible_max_c:g} °C")
        else:
            valid.append(float(sample))
    majority = len(samples) // 2 + 1
    if valid:
        centre = statistics.median(valid)
        agreeing = [v for v in valid if abs(v - centre) <= policy.max_spread_c]
        if len(agreeing) < len(valid):
            problems.append(f"samples disagree by more than {policy.max_spread_c:g} °C: {shown}")
        if len(agreeing) >= majority:
            return Reading(statistics.median(agreeing), "", shown)
    return Reading(None, "; ".join(dict.fromkeys(problems)) or "no samples", shown)


class StuckDetector:
    """A sensor that repeats the very same value while the heater it should feel moved.

    Identical readings alone are not enough (a quiet sensor at equilibrium can repeat itself);
    identical readings while the heater's duty changed by ``stuck_duty_change_percent`` or sat
    at its maximum throughout are: heat went in (or stopped) and the sensor did not notice.
    """

    def __init__(self, policy: SensorPolicy, max_duty_percent: float = 100.0):
        self.policy, self.max_duty_percent = policy, max_duty_percent
        self._window: deque[tuple[float, float]] = deque(maxlen=max(policy.stuck_readings, 1))

    def reset(self) -> None:
        self._window.clear()

    def add(self, celsius: float, duty_percent: float) -> str:
        """Record a reading and the duty that held before it; a message when the sensor looks stuck."""
        n = self.policy.stuck_readings
        if n == 0:
            return ""
        self._window.append((celsius, duty_percent))
        if len(self._window) < n:
            return ""
        values = {c for c, _ in self._window}
        if len(values) > 1:
            return ""
        duties = [d for _, d in self._window]
        moved = max(duties) - min(duties) >= self.policy.stuck_duty_change_percent
        pinned = min(duties) >= 0.9 * self.max_duty_percent and min(duties) > 0
        if not (moved or pinned):
            return ""
        how = (f"while the heater went from {min(duties):.0f} % to {max(duties):.0f} %" if moved
               else f"while the heater was at {min(duties):.0f} % throughout")
        return f"the temperature sensor is stuck: {n} identical readings of {celsius:g} °C {how}"


def _show(sample: Any) -> Any:
    if isinstance(sample, BaseException):
        return f"{type(sample).__name__}"
    return sample
