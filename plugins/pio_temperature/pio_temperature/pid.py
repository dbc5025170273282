"""A PID controller for the heater: derivative on measurement, anti-windup by back-calculation.

Pure arithmetic (no I/O, no clock): the caller passes the elapsed time ``dt_s`` of each step, so
the same controller runs in the job (wall clock) and in the benchmark (simulated clock).
"""

from __future__ import annotations

import math
from dataclasses import dataclass


@dataclass(frozen=True)
class Gains:
    """``kp`` in %/°C, ``ki`` in %/(°C·s), ``kd`` in %·s/°C; ``kt`` (1/s) is the back-calculation rate."""

    kp: float
    ki: float
    kd: float = 0.0
    kt: float | None = None  # default: ki / kp, i.e. 1/Ti (see tracking_rate)
    derivative_filter_s: float = 10.0

    def __post_init__(self) -> None:
        for name in ("kp", "ki", "kd", "derivative_filter_s"):
            value = getattr(self, name)
            if not (math.isfinite(value) and value >= 0):
                raise ValueError(f"PID gain {name} = {value!r} must be a finite number >= 0")
        if self.kt is not None and not (math.isfinite(self.kt) and self.kt >= 0):
            raise ValueError(f"PID gain kt = {self.kt!r} must be a finite number >= 0")

    @property
    def tracking_rate(self) -> float:
        """How fast the integral unwinds when the output saturates (1/s): 1/Ti unless set."""
        if self.kt is not None:
            return self.kt
        return self.ki / self.kp if self.kp > 0 else 0.0

    def scaled(self, time_factor: float) -> Gains:
        """The gains for a plant running ``time_factor`` times faster (e.g. ``[sim] heat_speed``)."""
        return Gains(self.kp, self.ki * time_factor, self.kd / time_factor,
                     None if self.kt is None else self.kt * time_factor, self.derivative_filter_s / time_factor)


class PID:
    """Output in ``[output_min, output_max]``; the integral never winds up beyond what saturation allows.

    Anti-windup: the integral is corrected by ``tracking_rate · (saturated − unsaturated) · dt``
    (back-calculation), and is itself kept within the output range. The derivative acts on the
    measurement, filtered, so a change of set-point gives no kick.
    """

    def __init__(self, gains: Gains, output_min: float = 0.0, output_max: float = 100.0):
        if not output_min < output_max:
            raise ValueError(f"output range [{output_min}, {output_max}] is empty")
        self.gains, self.output_min, self.output_max = gains, output_min, output_max
        self.integral = 0.0
        self._last_measurement: float | None = None
        self._derivative = 0.0
        self.last_output = 0.0
        self.last_terms: dict[str, float] = {}

    def reset(self, integral: float = 0.0) -> None:
        self.integral = min(max(integral, self.output_min), self.output_max)
        self._last_measurement = None
        self._derivative = 0.0

    def update(self, setpoint: float, measurement: float, dt_s: float) -> float:
        """One step: the output for the error now, having held the previous output for ``dt_s``."""
        if not (math.isfinite(setpoint) and math.isfinite(measurement)):
            raise ValueError(f"PID input not finite: setpoint {setpoint!r}, measurement {measurement!r}")
        g = self.gains
        dt_s = max(0.0, dt_s) if math.isfinite(dt_s) else 0.0
        error = setpoint - measurement
        if self._last_measurement is not None and dt_s > 0:
            slope = (measurement - self._last_measurement) / dt_s
            alpha = dt_s / (g.derivative_filter_s + dt_s)
            self._derivative += alpha * (slope - self._derivative)
        self._last_measurement = measurement
        self.integral += g.ki * error * dt_s
        p = g.kp * error
        d = -g.kd * self._derivative
        unsaturated = p + self.integral + d
        output = min(max(unsaturated, self.output_min), self.output_max)
        if output != unsaturated and dt_s > 0:  # back-calculation: bleed the integral towards what is feasible
            correction = (output - unsaturated) * min(1.0, g.tracking_rate * dt_s)
            self.integral += correction
        self.integral = min(max(self.integral, self.output_min), self.output_max)
        self.last_output = output
        self.last_terms = {"p": p, "i": self.integral, "d": d}
        return output
