"""The growth-rate benchmark's synthetic stress set: OD traces with a noise model of their own.

These traces do not come from the simulator: each reading is the true OD times noise drawn
here, so the estimator's input is stated exactly and can be made harsher than the simulator's
(bench_growth_rate.py `--synthetic`). `SCENARIOS` and `NOISE_PROFILES` say what each trace is:
batch growth (Baranyi lag, Monod growth that stops abruptly when the substrate runs out), a
turbidostat (exchange of 1 ml into 14 ml whenever OD passes 0.8), a turbidostat whose rate steps
0.3 -> 0.6 -> 0.3 1/h, the same with heavier noise and spikes, and one whose pump delivers 4 %
more than reported. Readings carry short-correlated multiplicative noise, a slowly correlated
residual, an additive floor, rare spikes (mostly upward, like bubbles: a whole reading, which
oversampling cannot reject; in bursts in the noisy profile), extra noise while a dose mixes in,
0.1 s jitter and 0.5 % missing readings.
"""

from __future__ import annotations

import math
import random
from typing import Any

from sim_traces import Trace

INTERVAL_S = 5.0

NOISE_PROFILES: dict[str, dict[str, float]] = {
    # cv: std of the short-correlated multiplicative noise; rho: its AR(1) coefficient per reading;
    # slow_*: a slowly correlated multiplicative residual (OU); floor_od: additive noise;
    # spike_p: chance per reading of a spike (bubble: mostly upward, 5-40 %); burst_p: chance
    # that a spike continues into the next reading.
    "nominal": dict(
        cv=0.01, rho=0.5, slow_std=0.002, slow_tau_s=1200.0, floor_od=0.0005, spike_p=0.002, burst_p=0.0
    ),
    "noisy": dict(
        cv=0.03, rho=0.5, slow_std=0.004, slow_tau_s=1200.0, floor_od=0.001, spike_p=0.015, burst_p=0.3
    ),
}

SCENARIOS: dict[str, dict[str, Any]] = {
    # rates: (from hour, true rate 1/h) for turbidostats; pump_bias: systematic error of the
    # delivered volume (each dose also varies by pump_cv at random).
    "batch": dict(hours=10.0, noise="nominal"),
    "turbidostat": dict(hours=10.0, noise="nominal", rates=[(0, 0.5)], pump_bias=0.0),
    "step": dict(hours=12.0, noise="nominal", rates=[(0, 0.3), (4, 0.6), (8, 0.3)], pump_bias=0.0),
    "noisy": dict(hours=10.0, noise="noisy", rates=[(0, 0.5)], pump_bias=0.0),
    "pump_off": dict(hours=10.0, noise="nominal", rates=[(0, 0.5)], pump_bias=0.04),
}
PUMP_CV = 0.02
VOLUME_ML, EXCHANGE_ML, TARGET_OD = 14.0, 1.0, 0.8


class BatchCulture:
    """Batch growth: a Baranyi lag, then Monod growth until the substrate runs out (abrupt stop)."""

    def __init__(self, od0=0.05, od_max=1.6, mu_max_per_h=0.9, lag_h=2.0, ks_rel=0.02) -> None:
        self.log_od, self.od0, self.od_max = math.log(od0), od0, od_max
        self.mu, self.ks = mu_max_per_h, ks_rel
        self.q0 = 1 / (math.exp(mu_max_per_h * lag_h) - 1)
        self.t_s = 0.0

    def rate(self) -> float:
        q = self.q0 * math.exp(self.mu * self.t_s / 3600)
        substrate = max(1 - (math.exp(self.log_od) - self.od0) / (self.od_max - self.od0), 0.0)
        return self.mu * q / (1 + q) * substrate / (self.ks + substrate)

    def advance(self, t_s: float) -> None:
        while self.t_s < t_s:
            h = min(1.0, t_s - self.t_s)
            self.log_od += self.rate() * h / 3600
            self.t_s += h


def scaled_noise(profile: dict[str, float], scale: float) -> dict[str, float]:
    return {k: v * scale if k in ("cv", "slow_std", "floor_od") else v for k, v in profile.items()}


def white_equivalent_var(kind: str, noise_scale: float = 1.0) -> float:
    """Low-frequency variance per reading of the trace's AR(1) noise: `cv^2 (1+rho)/(1-rho)`."""
    noise = scaled_noise(NOISE_PROFILES[SCENARIOS[kind]["noise"]], noise_scale)
    return noise["cv"] ** 2 * (1 + noise["rho"]) / (1 - noise["rho"])


def build(kind: str, seed: int, noise_scale: float = 1.0) -> Trace:
    """One synthetic experiment of `SCENARIOS[kind]`, reproducible from `seed`.

    `noise_scale` multiplies the profile's noise levels (cv, slow_std, floor_od; not the spikes).
    An "od" event is ("od", t, od, true rate, whether the reading carries a spike, true OD).
    """
    rng = random.Random(f"{kind}-{seed}")
    spec = SCENARIOS[kind]
    noise = scaled_noise(NOISE_PROFILES[spec["noise"]], noise_scale)
    trace = Trace(kind)
    rates = spec.get("rates", [])
    ends_h = [h for h, _ in rates[2:]] + [spec["hours"]] if len(rates) > 1 else []
    trace.steps = [(h * 3600, end * 3600, r) for (h, r), end in zip(rates[1:], ends_h, strict=True)]
    batch = BatchCulture() if not rates else None

    def true_rate(t_s: float) -> float:
        if batch:
            return batch.rate()
        return [r for h, r in rates if h * 3600 <= t_s][-1] if t_s >= 0 else rates[0][1]

    log_od = math.log(0.05) if batch else math.log(0.76)
    e_short = e_slow = 0.0
    spike_next = False
    last_dose_s = -1e9
    t = 0.0
    for k in range(int(spec["hours"] * 3600 / INTERVAL_S)):
        t_next = k * INTERVAL_S + rng.gauss(0.0, 0.1)
        if batch:
            batch.advance(t_next)
            log_od = batch.log_od
        else:
            log_od += true_rate(t) * (t_next - t) / 3600
        t = t_next
        e_short = noise["rho"] * e_short + math.sqrt(1 - noise["rho"] ** 2) * rng.gauss(0, noise["cv"])
        decay = math.exp(-INTERVAL_S / noise["slow_tau_s"])
        e_slow = decay * e_slow + math.sqrt(1 - decay**2) * rng.gauss(0, noise["slow_std"])
        od = math.exp(log_od + e_short + e_slow) + rng.gauss(0, noise["floor_od"])
        if t - last_dose_s < 10.0:  # mixing after a dose
            od *= 1 + rng.gauss(0, 0.03)
        spiked = spike_next or rng.random() < noise["spike_p"]
        if spiked:
            up = rng.random() < 0.8
            od *= 1 + (rng.uniform(0.05, 0.4) if up else -rng.uniform(0.05, 0.2))
            spike_next = rng.random() < noise["burst_p"]
        if rng.random() >= 0.005:  # a few readings go missing
            trace.events.append(("od", t, od, true_rate(t), spiked, math.exp(log_od)))
        if not batch and math.exp(log_od) >= TARGET_OD:
            delivered = EXCHANGE_ML * (1 + spec["pump_bias"]) * (1 + rng.gauss(0, PUMP_CV))
            log_od += math.log(VOLUME_ML / (VOLUME_ML + delivered))
            last_dose_s = t + 1.0
            trace.events.append(("dose", t + 1.0, VOLUME_ML, VOLUME_ML + EXCHANGE_ML))
    return trace
