"""OD calibrations: fit a monotone curve OD600(signal) to standards, and apply it with its range.

The fit pools standards that disagree with a monotone trend (isotonic regression, pool-
adjacent-violators: replicates and noisy standards are averaged, never crossed), then runs a
monotone cubic (Fritsch-Carlson PCHIP) through the pooled points. The kernel's ``monotone``
curve type is piecewise linear, so the cubic is stored as dense knots: any process evaluates
it with ``Calibration.predict`` without this plugin.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from pioreactor_kernel.calibrations import Calibration

from . import names

KNOTS_PER_INTERVAL = 16


class FitError(ValueError):
    """Standards that cannot make a calibration; the message says what to change."""


def fit_monotone(signals: list[float], ods: list[float]) -> tuple[list[float], list[float]]:
    """Knots ``(xs, ys)`` (xs increasing) of a monotone curve through the standards ``(signal, od)``."""
    pairs = [(float(x), float(y)) for x, y in zip(signals, ods, strict=True)]
    if any(not (math.isfinite(x) and math.isfinite(y)) for x, y in pairs):
        raise FitError("every standard needs a finite OD600 and signal")
    if any(y < 0 for _, y in pairs):
        raise FitError("an OD600 cannot be negative")
    xs_distinct = sorted({x for x, _ in pairs})
    if len(xs_distinct) < 2:
        raise FitError("at least two standards with different signals are needed")
    # mean OD per distinct signal, weighted by replicate count
    groups: dict[float, list[float]] = {}
    for x, y in pairs:
        groups.setdefault(x, []).append(y)
    xs = xs_distinct
    ys = [sum(groups[x]) / len(groups[x]) for x in xs]
    ws = [float(len(groups[x])) for x in xs]
    increasing = _slope(xs, ys, ws) >= 0
    fitted = _pav(ys if increasing else [-y for y in ys], ws)
    if not increasing:
        fitted = [-y for y in fitted]
    if max(fitted) - min(fitted) <= 0:
        raise FitError("the standards' OD600 does not change with the signal: check that each standard "
                       "was in the vial when it was measured")
    return _pchip_knots(xs, fitted)


def _slope(xs: list[float], ys: list[float], ws: list[float]) -> float:
    sw = sum(ws)
    mx = sum(w * x for w, x in zip(ws, xs, strict=True)) / sw
    my = sum(w * y for w, y in zip(ws, ys, strict=True)) / sw
    return sum(w * (x - mx) * (y - my) for w, x, y in zip(ws, xs, ys, strict=True))


def _pav(ys: list[float], ws: list[float]) -> list[float]:
    """Weighted isotonic (non-decreasing) regression by pool-adjacent-violators."""
    blocks: list[list[float]] = []  # [mean, weight, count]
    for y, w in zip(ys, ws, strict=True):
        blocks.append([y, w, 1])
        while len(blocks) > 1 and blocks[-2][0] > blocks[-1][0]:
            m2, w2, n2 = blocks.pop()
            m1, w1, n1 = blocks.pop()
            blocks.append([(m1 * w1 + m2 * w2) / (w1 + w2), w1 + w2, n1 + n2])
    out: list[float] = []
    for m, _, n in blocks:
        out.extend([m] * int(n))
    return out


def _pchip_knots(xs: list[float], ys: list[float]) -> tuple[list[float], list[float]]:
    """Dense knots of the Fritsch-Carlson monotone cubic through ``(xs, ys)``."""
    n = len(xs)
    h = [xs[i + 1] - xs[i] for i in range(n - 1)]
    delta = [(ys[i + 1] - ys[i]) / h[i] for i in range(n - 1)]
    d = [0.0] * n
    if n == 2:
        d = [delta[0], delta[0]]
    else:
        for i in range(1, n - 1):
            if delta[i - 1] * delta[i] > 0:
                w1, w2 = 2 * h[i] + h[i - 1], h[i] + 2 * h[i - 1]
                d[i] = (w1 + w2) / (w1 / delta[i - 1] + w2 / delta[i])
        d[0] = _end_slope(h[0], h[1], delta[0], delta[1])
        d[-1] = _end_slope(h[-1], h[-2], delta[-1], delta[-2])
    kx, ky = [xs[0]], [ys[0]]
    for i in range(n - 1):
        for k in range(1, KNOTS_PER_INTERVAL + 1):
            t = k / KNOTS_PER_INTERVAL
            h00, h10 = (1 + 2 * t) * (1 - t) ** 2, t * (1 - t) ** 2
            h01, h11 = t * t * (3 - 2 * t), t * t * (t - 1)
            kx.append(xs[i] + t * h[i])
            ky.append(h00 * ys[i] + h10 * h[i] * d[i] + h01 * ys[i + 1] + h11 * h[i] * d[i + 1])
    return kx, ky


def _end_slope(h0: float, h1: float, d0: float, d1: float) -> float:
    s = ((2 * h0 + h1) * d0 - h0 * d1) / (h0 + h1)
    if s * d0 <= 0:
        return 0.0
    if d0 * d1 <= 0 and abs(s) > abs(3 * d0):
        return 3 * d0
    return s


def make_calibration(name: str, angle: str, channel: str, signals: list[float], ods: list[float], *,
                     signal_unit: str, ir_led_intensity: float | None = None) -> Calibration:
    xs, ys = fit_monotone(signals, ods)
    return Calibration(
        device=names.calibration_device(angle), name=name, calibration_type="od", x="signal", y="od600",
        x_unit=signal_unit, y_unit="OD600", recorded_x=[float(s) for s in signals],
        recorded_y=[float(o) for o in ods], curve_type="monotone", curve_data=[xs, ys],
        meta={"angle": angle, "channel": channel, "signal_unit": signal_unit, "ir_led_intensity": ir_led_intensity},
    )


def residuals(cal: Calibration) -> list[tuple[float, float, float, float]]:
    """``(signal, od600, fitted, residual)`` per standard."""
    return [(x, y, cal.predict(x), y - cal.predict(x)) for x, y in zip(cal.recorded_x, cal.recorded_y, strict=False)]


@dataclass
class CalibratedValue:
    od: float
    out_of_range: str | None  # None, "below" or "above" (in OD600, beyond the standards)


class ODCurve:
    """An active OD calibration applied to readings: in range it interpolates; outside the
    standards it extrapolates the end slope (``extrapolate``) or holds the end value
    (``clamp``), and always says which side it left by."""

    def __init__(self, calibration: Calibration, out_of_range: str = "extrapolate"):
        if calibration.curve_type != "monotone" and not calibration.recorded_x:
            raise ValueError(f"calibration {calibration.name} has no recorded standards")
        if out_of_range not in ("extrapolate", "clamp"):
            raise ValueError(f"[od_reading] out_of_range = {out_of_range!r}: use extrapolate or clamp")
        self.calibration, self.mode = calibration, out_of_range
        self.name = calibration.name
        self.lo, self.hi = min(calibration.recorded_x), max(calibration.recorded_x)
        y_lo, y_hi = calibration.predict(self.lo), calibration.predict(self.hi)
        self.increasing = y_hi >= y_lo
        self._lo_slope = _end_segment_slope(calibration, self.lo, 1)
        self._hi_slope = _end_segment_slope(calibration, self.hi, -1)

    def __call__(self, signal: float) -> CalibratedValue:
        cal = self.calibration
        if self.lo <= signal <= self.hi:
            return CalibratedValue(cal.predict(signal), None)
        below_signal = signal < self.lo
        edge = self.lo if below_signal else self.hi
        value = cal.predict(edge)
        if self.mode == "extrapolate":
            value += (self._lo_slope if below_signal else self._hi_slope) * (signal - edge)
        side = "below" if below_signal == self.increasing else "above"
        return CalibratedValue(value, side)


def _end_segment_slope(cal: Calibration, edge: float, direction: int) -> float:
    if cal.curve_type == "monotone":
        xs, ys = (list(v) for v in cal.curve_data)  # type: ignore[arg-type]
        pts = [(float(x), float(y)) for x, y in zip(xs, ys, strict=True)]
        inside = [p for p in pts if (p[0] >= edge if direction > 0 else p[0] <= edge)]
        inside.sort(key=lambda p: p[0], reverse=direction < 0)
        if len(inside) >= 2 and inside[1][0] != inside[0][0]:
            return (inside[1][1] - inside[0][1]) / (inside[1][0] - inside[0][0])
        return 0.0
    step = 1e-6 * max(1.0, abs(edge))
    return (cal.predict(edge + step * direction) - cal.predict(edge)) / (step * direction)
