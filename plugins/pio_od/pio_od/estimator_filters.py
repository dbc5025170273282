"""The growth-rate estimator's building blocks: a Kalman filter on a log-OD line, change candidates.

See :mod:`.estimator` for how they are combined and docs/growth-rate-estimator.md for the model.
"""

from __future__ import annotations

import math


class KalmanLine:
    """Kalman filter on log OD `level` and growth `rate` (1/h), with their covariance."""

    __slots__ = ("level", "rate", "p00", "p01", "p11")

    def __init__(self) -> None:
        self.level = self.rate = self.p00 = self.p01 = self.p11 = 0.0

    def reset(self, level: float, level_var: float, rate: float, rate_std: float) -> None:
        self.level, self.rate = level, rate
        self.p00, self.p01, self.p11 = level_var, 0.0, rate_std * rate_std

    def predict(self, dt_h: float, rate_diffusion: float, level_diffusion: float) -> None:
        # Integrated random walk: the rate diffuses, the level integrates it.
        q = rate_diffusion
        self.level += self.rate * dt_h
        self.p00 += dt_h * (2 * self.p01 + dt_h * self.p11) + q * dt_h**3 / 3 + level_diffusion * dt_h
        self.p01 += dt_h * self.p11 + q * dt_h**2 / 2
        self.p11 += q * dt_h

    def update(self, y: float, r_var: float) -> None:
        p00, p01 = self.p00, self.p01
        s = p00 + r_var
        k0, k1 = p00 / s, p01 / s
        nu = y - self.level
        self.level += k0 * nu
        self.rate += k1 * nu
        self.p00 -= k0 * p00
        self.p01 -= k0 * p01
        self.p11 -= k1 * p01

    def copy_from(self, other: KalmanLine) -> None:
        self.level, self.rate = other.level, other.rate
        self.p00, self.p01, self.p11 = other.p00, other.p01, other.p11

    def to_list(self) -> list[float]:
        return [self.level, self.rate, self.p00, self.p01, self.p11]

    @classmethod
    def from_list(cls, values: list[float]) -> KalmanLine:
        f = cls()
        f.level, f.rate, f.p00, f.p01, f.p11 = (float(v) for v in values)
        return f


class ChangeCandidate:
    """A filter restarted at `start_t_s` as if the rate changed then.

    `score` is its log Bayes factor against the main filter over the readings since it
    started; `prior_log_odds` is negative for a new change, zero or more for another guess of
    when the adopted change happened.
    """

    __slots__ = ("start_t_s", "score", "prior_log_odds", "filter")

    def __init__(self, start_t_s: float, score: float, prior_log_odds: float, f: KalmanLine) -> None:
        self.start_t_s, self.score, self.prior_log_odds, self.filter = start_t_s, score, prior_log_odds, f

    @property
    def log_odds(self) -> float:
        """Posterior log odds of this candidate against the main filter."""
        return self.score + self.prior_log_odds


def log_likelihood(y: float, f: KalmanLine, r_var: float, k: float) -> float:
    """Log predictive likelihood of `y` under filter `f`, with Huber's loss for robustness."""
    s = f.p00 + r_var
    z2 = (y - f.level) ** 2 / s
    loss = z2 if z2 <= k * k else 2 * k * math.sqrt(z2) - k * k
    return -0.5 * (loss + math.log(s))


def median(values: list[float]) -> float:
    s = sorted(values)
    n = len(s)
    return s[n // 2] if n % 2 else 0.5 * (s[n // 2 - 1] + s[n // 2])


def theil_sen(times: list[float], ys: list[float]) -> tuple[float, float]:
    """Robust straight line through (t, y): a spike among the points barely moves it."""
    slopes = [
        (ys[j] - ys[i]) / (times[j] - times[i])
        for i in range(len(times))
        for j in range(i + 1, len(times))
        if times[j] > times[i]
    ]
    slope = median(slopes) if slopes else 0.0
    return slope, median([y - slope * t for t, y in zip(times, ys, strict=True)])
