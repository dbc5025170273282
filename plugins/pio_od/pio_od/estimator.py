"""Online estimate of filtered OD and specific growth rate (1/h) from OD readings and dosing events.

This module combines the parts: the Kalman filter on a log-OD line and the change candidates are
in :mod:`.estimator_filters`, the noise estimates in :mod:`.estimator_noise`.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, fields, replace
from numbers import Real
from typing import Any

from .estimator_filters import ChangeCandidate, KalmanLine, log_likelihood, median, theil_sen
from .estimator_noise import NoiseScale

STATE_VERSION = 1
_SECONDS_PER_HOUR = 3600.0
_GAP_LEVEL_STD = 0.05  # how far the log OD may have moved while readings were missing
_SETTLING_NOISE_FACTOR = 25.0  # readings just after a dose: mixing, bubbles


@dataclass(frozen=True)
class EstimatorConfig:
    """Tuning of `GrowthRateEstimator`; the defaults are the ones the benchmark validates.

    Rates are in 1/h, diffusions in unit^2 per hour, times in seconds, noise as log-OD variance.
    """

    warmup_readings: int = 6
    initial_growth_rate_per_h: float = 0.0
    growth_rate_prior_std_per_h: float = 1.0
    noise_cv: float | None = None
    noise_prior_cv: float = 0.01
    noise_prior_readings: int = 6
    rate_diffusion: float = 1e-6
    gate_rate_diffusion: float = 0.02
    level_diffusion: float = 1e-5
    huber_k: float = 2.0
    reject_z: float = 5.0
    max_consecutive_rejects: int = 6
    change_rate_std_per_h: float = 0.3
    change_prior_log_odds: float = -9.0
    change_commit_log_odds: float = 3.0
    change_window_s: float = 1800.0
    change_spacing_s: float = 150.0
    dilution_rel_std: float = 0.03
    post_dose_settle_s: float = 12.0
    gap_s: float = 600.0
    noise_color_factor: float = 3.0
    noise_block_readings: int = 12
    noise_prior_blocks: int = 10
    noise_memory_blocks: int = 60


@dataclass(frozen=True)
class Estimate:
    """The estimator's answer after one reading; the estimate is None until warm-up is over."""

    t_s: float
    od_filtered: float | None
    growth_rate_per_h: float | None
    growth_rate_std: float | None
    accepted: bool

    @property
    def ready(self) -> bool:
        return self.growth_rate_per_h is not None


class GrowthRateEstimator:
    """Kalman filters on log OD, state [log OD, growth rate], with detection of rate changes.

    The estimate comes from a main filter whose growth rate barely diffuses: a long memory and
    a quiet estimate. Beside it runs a bank of change candidates, one started every
    `change_spacing_s` from the main filter with its growth-rate prior widened by
    `change_rate_std_per_h`, each scored by the log Bayes factor of "the rate changed when I
    started" against "it did not". When a candidate's posterior log odds (score plus
    `change_prior_log_odds`) pass `change_commit_log_odds` it becomes the main filter: it has
    been learning the new rate since the change. A fast filter follows the readings closely
    to gate them (Huber weights, rejection beyond `reject_z`). A dilution is a known jump in
    log OD, never a death rate. See docs/growth-rate-estimator.md.
    """

    def __init__(self, config: EstimatorConfig | None = None, **overrides: Any) -> None:
        base = config or EstimatorConfig()
        self.config = EstimatorConfig(**{**asdict(base), **overrides}) if overrides else base
        self.changes_detected = 0
        self._main = KalmanLine()
        self._gate = KalmanLine()
        self._candidates: list[ChangeCandidate] = []
        self._noise = NoiseScale()
        self._warmup: list[list[float]] = []
        self._warm = False
        self._last_t_s: float | None = None
        self._last_dose_t_s: float | None = None
        self._rejected: list[float] = []
        self._last: Estimate | None = None

    # -- public API ---------------------------------------------------------------------------

    def update(self, t_s: float, od: float) -> Estimate:
        """Take one OD reading at `t_s` seconds; return the estimate after it.

        NaN, infinite, zero or negative readings, and readings not later than the previous one,
        are rejected (`accepted=False`) and leave the state as it was.
        """
        valid = all(isinstance(v, Real) and math.isfinite(v) for v in (t_s, od)) and od > 0
        if not valid or (self._last_t_s is not None and t_s <= self._last_t_s):
            if self._last is None:
                return Estimate(t_s, None, None, None, accepted=False)
            return replace(self._last, t_s=t_s, accepted=False)
        y = math.log(od)
        if not self._warm:
            return self._warmup_reading(float(t_s), y)
        return self._filter_reading(float(t_s), y)

    def dilution(self, t_s: float, volume_before_ml: float, volume_after_ml: float) -> None:
        """Media was added at `t_s`: `volume_before_ml` of culture became `volume_after_ml`.

        For an exchange (add, then remove the same volume), give the volumes around the
        addition; removal does not change OD.
        """
        if not (0 < volume_before_ml <= volume_after_ml):
            raise ValueError(
                f"dilution needs 0 < volume_before_ml <= volume_after_ml, got "
                f"{volume_before_ml!r} -> {volume_after_ml!r}"
            )
        self.dose(t_s, volume_before_ml / volume_after_ml)

    def dose(self, t_s: float, factor: float) -> None:
        """The culture's OD was multiplied by `factor` (0 < factor <= 1) at `t_s`."""
        if not (0 < factor <= 1) or not math.isfinite(t_s):
            raise ValueError(f"dose needs a finite time and a factor in (0, 1]: got {t_s=!r}, {factor=!r}")
        jump = math.log(factor)
        self._last_dose_t_s = t_s
        self._noise.shift(jump)
        if not self._warm:
            for reading in self._warmup:
                reading[1] += jump
            return
        jump_var = (self.config.dilution_rel_std * jump) ** 2
        for f in self._filters():
            f.level += jump
            f.p00 += jump_var

    @property
    def estimate(self) -> Estimate | None:
        """The latest estimate (None before the first reading)."""
        return self._last

    def to_dict(self) -> dict[str, Any]:
        """Full state as JSON-able data; `from_dict` resumes exactly where this left off."""
        return {
            "version": STATE_VERSION,
            "config": asdict(self.config),
            "changes_detected": self.changes_detected,
            "main": self._main.to_list(),
            "gate": self._gate.to_list(),
            "candidates": [
                [c.start_t_s, c.score, c.prior_log_odds, c.filter.to_list()] for c in self._candidates
            ],
            "noise": self._noise.to_list(),
            "warmup": [list(r) for r in self._warmup],
            "warm": self._warm,
            "last_t_s": self._last_t_s,
            "last_dose_t_s": self._last_dose_t_s,
            "rejected": list(self._rejected),
            "last": asdict(self._last) if self._last else None,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> GrowthRateEstimator:
        """Rebuild an estimator saved by `to_dict`."""
        if data.get("version") != STATE_VERSION:
            raise ValueError(
                f"saved estimator state has version {data.get('version')!r}, this code reads "
                f"version {STATE_VERSION}: start the estimator afresh"
            )
        known = {f.name for f in fields(EstimatorConfig)}
        est = cls(EstimatorConfig(**{k: v for k, v in data["config"].items() if k in known}))
        est.changes_detected = int(data["changes_detected"])
        est._main = KalmanLine.from_list(data["main"])
        est._gate = KalmanLine.from_list(data["gate"])
        est._candidates = [
            ChangeCandidate(start, score, prior, KalmanLine.from_list(f))
            for start, score, prior, f in data["candidates"]
        ]
        est._noise = NoiseScale.from_list(data["noise"])
        est._warmup = [list(r) for r in data["warmup"]]
        est._warm = bool(data["warm"])
        est._last_t_s = data["last_t_s"]
        est._last_dose_t_s = data["last_dose_t_s"]
        est._rejected = list(data["rejected"])
        est._last = Estimate(**data["last"]) if data["last"] else None
        return est

    # -- warm-up ------------------------------------------------------------------------------

    def _warmup_reading(self, t_s: float, y: float) -> Estimate:
        self._warmup.append([t_s, y])
        self._last_t_s = t_s
        if len(self._warmup) < max(3, self.config.warmup_readings):
            return self._current(t_s, accepted=True)
        return self._finish_warmup()

    def _finish_warmup(self) -> Estimate:
        """Start the filters from the warm-up readings, leaving out spikes found by a robust fit."""
        cfg = self.config
        times = [r[0] / _SECONDS_PER_HOUR for r in self._warmup]
        ys = [r[1] for r in self._warmup]
        slope, intercept = theil_sen(times, ys)
        residuals = [y - intercept - slope * t for t, y in zip(times, ys, strict=True)]
        scale = 1.4826 * median([abs(e) for e in residuals])
        if cfg.noise_cv is not None:
            sample_var = cfg.noise_cv**2
        else:
            # A handful of readings can look deceptively quiet: shrink towards a typical noise.
            n = len(ys) - 2
            sample_var = (n * scale * scale + cfg.noise_prior_readings * cfg.noise_prior_cv**2) / (
                n + cfg.noise_prior_readings
            )
        self._noise.start(sample_var, cfg.noise_color_factor * sample_var)
        limit = max(4.0 * scale, 3.0 * math.sqrt(sample_var))
        kept = [r for r, e in zip(self._warmup, residuals, strict=True) if abs(e) <= limit]
        t_prev, y0 = kept[0]
        self._main.reset(y0, self._noise.var, cfg.initial_growth_rate_per_h, cfg.growth_rate_prior_std_per_h)
        self._gate.copy_from(self._main)
        for t_s, y in kept[1:]:
            self._predict((t_s - t_prev) / _SECONDS_PER_HOUR)
            self._main.update(y, self._noise.var)
            self._gate.update(y, self._noise.var)
            t_prev = t_s
        last_t_s = self._warmup[-1][0]
        self._predict((last_t_s - t_prev) / _SECONDS_PER_HOUR)
        self._warm = True
        self._warmup = []
        return self._current(last_t_s, accepted=True)

    # -- running ------------------------------------------------------------------------------

    def _filter_reading(self, t_s: float, y: float) -> Estimate:
        cfg = self.config
        assert self._last_t_s is not None
        dt_s = t_s - self._last_t_s
        self._last_t_s = t_s
        self._predict(dt_s / _SECONDS_PER_HOUR)
        if dt_s > cfg.gap_s:
            # After a long gap the vial may have been handled: allow a level shift.
            for f in self._filters():
                f.p00 += _GAP_LEVEL_STD**2
            self._noise.restart_blocks()

        settling = self._last_dose_t_s is not None and t_s - self._last_dose_t_s < cfg.post_dose_settle_s
        r_var = self._noise.filter_var * (_SETTLING_NOISE_FACTOR if settling else 1.0)
        gate = self._gate
        z = (y - gate.level) / math.sqrt(gate.p00 + max(self._noise.innovation_var, r_var))
        if abs(z) > cfg.reject_z:
            return self._reject(t_s, y)
        self._rejected = []

        weight = 1.0 if abs(z) <= cfg.huber_k else cfg.huber_k / abs(z)
        r_eff = r_var / weight
        main = self._main
        if not settling:
            self._noise.learn(y, y - gate.level, cfg)
            base = log_likelihood(y, main, r_eff, cfg.huber_k)
            for c in self._candidates:
                c.score += log_likelihood(y, c.filter, r_eff, cfg.huber_k) - base
        for f in self._filters():
            f.update(y, r_eff)
        self._maybe_switch(t_s)
        return self._current(t_s, accepted=True)

    def _maybe_switch(self, t_s: float) -> None:
        """Adopt the best change candidate if its evidence is strong; keep the bank fresh."""
        cfg = self.config
        best = max(self._candidates, key=lambda c: c.log_odds, default=None)
        if best is not None and best.log_odds > cfg.change_commit_log_odds:
            self._main.copy_from(best.filter)
            self.changes_detected += best.prior_log_odds < 0
            # The other candidates stay, now weighed against the adopted one. A candidate
            # started at t stands for "the old rate until t, then a new one", so over all the
            # readings its log Bayes factor against the adopted candidate is simply the
            # difference of their scores; those that were the same kind of guess (a change,
            # at another time) become as likely a priori.
            self._candidates.remove(best)
            for c in self._candidates:
                c.score -= best.score
                c.prior_log_odds -= best.prior_log_odds
        self._candidates = [c for c in self._candidates if t_s - c.start_t_s < cfg.change_window_s]
        if not self._candidates or t_s - self._candidates[-1].start_t_s >= cfg.change_spacing_s:
            f = KalmanLine()
            f.copy_from(self._main)
            f.p11 += cfg.change_rate_std_per_h**2
            self._candidates.append(ChangeCandidate(t_s, 0.0, cfg.change_prior_log_odds, f))

    def _reject(self, t_s: float, y: float) -> Estimate:
        self._rejected.append(y)
        if len(self._rejected) >= self.config.max_consecutive_rejects:
            # A lasting shift is not a spike: move the level to it, keep the rate.
            shift = median(self._rejected) - self._gate.level
            for f in self._filters():
                f.level += shift
                f.p00 += shift * shift
            self._rejected = []
        return self._current(t_s, accepted=False)

    def _predict(self, dt_h: float) -> None:
        cfg = self.config
        self._main.predict(dt_h, cfg.rate_diffusion, cfg.level_diffusion)
        for c in self._candidates:
            c.filter.predict(dt_h, cfg.rate_diffusion, cfg.level_diffusion)
        self._gate.predict(dt_h, cfg.gate_rate_diffusion, cfg.level_diffusion)

    def _filters(self) -> list[KalmanLine]:
        return [self._main, self._gate, *(c.filter for c in self._candidates)]

    def _current(self, t_s: float, accepted: bool) -> Estimate:
        if not self._warm:
            self._last = Estimate(t_s, None, None, None, accepted)
            return self._last
        # The published estimate averages the guesses of when the last adopted change happened,
        # by their posterior weights; a new change must first be adopted, so a near miss of the
        # detector does not move it. Its spread, though, counts every hypothesis: while a change
        # is building up, the estimate says it is less sure.
        top = max([0.0, *(c.log_odds for c in self._candidates)])
        everyone = [(math.exp(-top), self._main)]
        everyone += [(math.exp(c.log_odds - top), c.filter) for c in self._candidates]
        guesses = [everyone[0]] + [
            wf for wf, c in zip(everyone[1:], self._candidates, strict=True) if c.prior_log_odds >= 0
        ]
        total = sum(w for w, _ in guesses)
        level = sum(w * f.level for w, f in guesses) / total
        rate = sum(w * f.rate for w, f in guesses) / total
        rate_var = sum(w * (f.p11 + (f.rate - rate) ** 2) for w, f in everyone) / sum(w for w, _ in everyone)
        self._last = Estimate(t_s, math.exp(level), rate, math.sqrt(max(rate_var, 0.0)), accepted)
        return self._last
