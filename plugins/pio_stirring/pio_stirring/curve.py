"""RPM vs duty cycle: the least-squares fit a calibration stores, and its inverse for feed-forward."""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from typing import Any, NamedTuple


class Fit(NamedTuple):
    coefficients: list[float]  # highest power first (the calibration store's ``poly`` convention)
    residuals: list[float]  # measured - fitted, per point
    rmse: float
    r_squared: float

    def predict(self, x: float) -> float:
        return poly_value(self.coefficients, x)


def poly_value(coefficients: Sequence[float], x: float) -> float:
    y = 0.0
    for c in coefficients:
        y = y * x + c
    return y


def polyfit(xs: Sequence[float], ys: Sequence[float], degree: int) -> Fit:
    """Least-squares polynomial of ``degree`` through (xs, ys); needs more points than coefficients."""
    if degree < 0:
        raise ValueError(f"degree must be 0 or more, got {degree}")
    n = degree + 1
    if len(xs) != len(ys) or len(xs) < n:
        raise ValueError(f"a degree-{degree} fit needs at least {n} points, got {len(xs)}")
    if not all(math.isfinite(v) for v in (*xs, *ys)):
        raise ValueError("cannot fit non-finite values")
    # centre and scale x so the normal equations stay well conditioned, then expand back
    mid = (max(xs) + min(xs)) / 2
    half = (max(xs) - min(xs)) / 2 or 1.0
    ts = [(x - mid) / half for x in xs]
    a = [[sum(t ** (i + j) for t in ts) for j in range(n)] for i in range(n)]
    b = [sum(y * t ** i for t, y in zip(ts, ys, strict=True)) for i in range(n)]
    low_first = _solve(a, b)  # coefficients of t^0..t^degree
    coefficients = _expand(low_first, mid, half)
    fitted = [poly_value(coefficients, x) for x in xs]
    residuals = [y - f for y, f in zip(ys, fitted, strict=True)]
    mean = sum(ys) / len(ys)
    ss_res = sum(r * r for r in residuals)
    ss_tot = sum((y - mean) ** 2 for y in ys)
    return Fit(coefficients, residuals, math.sqrt(ss_res / len(ys)), 1.0 - ss_res / ss_tot if ss_tot else 1.0)


def _solve(a: list[list[float]], b: list[float]) -> list[float]:
    """Gaussian elimination with partial pivoting (tiny systems)."""
    n = len(b)
    m = [row[:] + [rhs] for row, rhs in zip(a, b, strict=True)]
    for col in range(n):
        pivot = max(range(col, n), key=lambda r: abs(m[r][col]))
        if abs(m[pivot][col]) < 1e-12:
            raise ValueError("the points do not determine the curve (all duty cycles equal?)")
        m[col], m[pivot] = m[pivot], m[col]
        for r in range(col + 1, n):
            f = m[r][col] / m[col][col]
            for c in range(col, n + 1):
                m[r][c] -= f * m[col][c]
    out = [0.0] * n
    for r in range(n - 1, -1, -1):
        out[r] = (m[r][n] - sum(m[r][c] * out[c] for c in range(r + 1, n))) / m[r][r]
    return out


def _expand(low_first: list[float], mid: float, half: float) -> list[float]:
    """Coefficients in x (highest first) of sum c_i ((x - mid) / half)^i."""
    result = [0.0] * len(low_first)  # low first, in x
    for i, c in enumerate(low_first):
        # ((x - mid)/half)^i = sum_k C(i,k) x^k (-mid)^(i-k) / half^i
        for k in range(i + 1):
            result[k] += c * math.comb(i, k) * (-mid) ** (i - k) / half ** i
    return result[::-1]


class RpmCurve:
    """RPM as a function of duty cycle, and the duty cycle that gives an RPM (feed-forward)."""

    def __init__(self, rpm_at: Callable[[float], float], source: str, max_duty: float = 100.0):
        self.rpm_at, self.source, self.max_duty = rpm_at, source, max_duty

    @classmethod
    def linear_guess(cls, rpm_per_duty: float, stall_duty: float, max_duty: float = 100.0) -> RpmCurve:
        return cls(lambda d: rpm_per_duty * (d - stall_duty), f"uncalibrated guess ({rpm_per_duty:g} RPM/% above "
                   f"{stall_duty:g} %)", max_duty)

    @classmethod
    def from_calibration(cls, calibration: Any, max_duty: float = 100.0) -> RpmCurve:
        if calibration.curve_type not in ("poly", "monotone") or not calibration.curve_data:
            raise ValueError(f"stirring calibration {calibration.name!r} has no usable curve "
                             f"({calibration.curve_type} {calibration.curve_data})")
        curve = cls(calibration.predict, f"calibration {calibration.name!r}", max_duty)
        if not curve.rpm_at(max_duty) > curve.rpm_at(0.0):
            raise ValueError(f"stirring calibration {calibration.name!r} does not rise with duty cycle: "
                             "recalibrate with `pio calibrate stirring`")
        return curve

    @property
    def rpm_limits(self) -> tuple[float, float]:
        """The RPM the curve gives at duty 0 and at the maximum duty: the controller's output range."""
        return max(0.0, self.rpm_at(0.0)), self.rpm_at(self.max_duty)

    def duty_for(self, rpm: float) -> float:
        """The smallest duty in [0, max_duty] reaching ``rpm`` (bisection: any rising curve); 0 for RPM <= 0."""
        if not math.isfinite(rpm):
            raise ValueError(f"RPM {rpm!r} is not a finite number")
        lo, hi = 0.0, self.max_duty
        if rpm <= 0 or self.rpm_at(lo) >= rpm:
            return lo
        if self.rpm_at(hi) <= rpm:
            return hi
        for _ in range(50):
            mid = (lo + hi) / 2
            if self.rpm_at(mid) < rpm:
                lo = mid
            else:
                hi = mid
        return hi
