"""The pieces of the stirring loop that need no hardware: RPM from tachometer counts, the PI law."""

from __future__ import annotations

import math
from collections import deque


class RpmMeter:
    """RPM over a sliding window of (time, edge count) samples: less quantisation than one interval."""

    def __init__(self, window_s: float, pulses_per_revolution: float):
        if not window_s > 0 or not pulses_per_revolution > 0:
            raise ValueError("window_s and pulses_per_revolution must be positive")
        self.window_s, self.pulses_per_revolution = window_s, pulses_per_revolution
        self._samples: deque[tuple[float, int]] = deque()

    def add(self, t_s: float, count: int) -> float | None:
        """Record a sample; return the RPM over the window (None until two samples exist)."""
        self._samples.append((t_s, count))
        while len(self._samples) > 2 and t_s - self._samples[1][0] >= self.window_s:
            self._samples.popleft()
        return self.rpm()

    def rpm(self) -> float | None:
        if len(self._samples) < 2:
            return None
        (t0, c0), (t1, c1) = self._samples[0], self._samples[-1]
        if t1 <= t0:
            return None
        return max(0.0, (c1 - c0) / self.pulses_per_revolution / (t1 - t0) * 60.0)

    def reset(self) -> None:
        self._samples.clear()


class PIController:
    """A PI law in RPM space: output = setpoint + kp * error + integral (an RPM to ask the curve for).

    Working in RPM space makes the calibration curve both the feed-forward and the
    linearisation; gains are then dimensionless (kp) and 1/s (ki). Anti-windup: the integral
    does not grow while the output is clamped in the direction of the error, and is bounded.
    """

    def __init__(self, kp: float, ki_per_s: float, integral_limit_rpm: float = 1000.0):
        for name, value in (("kp", kp), ("ki_per_s", ki_per_s), ("integral_limit_rpm", integral_limit_rpm)):
            if not math.isfinite(value) or value < 0:
                raise ValueError(f"{name} must be a finite number >= 0, got {value!r}")
        self.kp, self.ki_per_s, self.integral_limit_rpm = kp, ki_per_s, integral_limit_rpm
        self.integral_rpm = 0.0

    def update(self, setpoint_rpm: float, measured_rpm: float, dt_s: float,
               output_limits: tuple[float, float]) -> float:
        low, high = output_limits
        error = setpoint_rpm - measured_rpm
        candidate = self.integral_rpm + self.ki_per_s * error * dt_s
        candidate = max(-self.integral_limit_rpm, min(self.integral_limit_rpm, candidate))
        output = setpoint_rpm + self.kp * error + candidate
        if (output > high and error > 0) or (output < low and error < 0):
            output = setpoint_rpm + self.kp * error + self.integral_rpm  # hold the integral
        else:
            self.integral_rpm = candidate
        return max(low, min(high, output))

    def reset(self) -> None:
        self.integral_rpm = 0.0


class LaggedReference:
    """The setpoint as the measurement can show it now: the value it had ``delay_s`` ago.

    The measured RPM trails the setpoint by the motor's time constant plus half the counting
    window. Comparing it with the current setpoint during a ramp would read that lag as an
    error and wind the integral up (the classic overshoot); comparing it with the setpoint of
    ``delay_s`` ago leaves only the real error, so feedback can act while the setpoint ramps.
    """

    def __init__(self, delay_s: float):
        if not delay_s >= 0:
            raise ValueError(f"delay_s must be >= 0, got {delay_s!r}")
        self.delay_s = delay_s
        self._history: deque[tuple[float, float]] = deque()
        self._before = 0.0  # the value before the history starts

    def add(self, t_s: float, setpoint: float) -> float:
        """Record the setpoint at ``t_s``; return the lagged one."""
        self._history.append((t_s, setpoint))
        while len(self._history) > 1 and self._history[1][0] <= t_s - self.delay_s:
            self._before = self._history.popleft()[1]
        first_t, first_value = self._history[0]
        return first_value if first_t <= t_s - self.delay_s else self._before

    def reset(self, value: float = 0.0) -> None:
        self._history.clear()
        self._before = value


def ramp_towards(current: float, target: float, rate_per_s: float, dt_s: float) -> float:
    """Move ``current`` towards ``target`` by at most ``rate_per_s * dt_s``."""
    step = rate_per_s * dt_s
    if target > current:
        return min(target, current + step)
    return max(target, current - step)
