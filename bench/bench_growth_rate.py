"""Benchmark of the growth-rate estimator on simulated 5-second OD traces with known true rate.

Run: `.venv/bin/python bench/bench_growth_rate.py [--seed N] [--seeds N,N,...] [--no-reference]
[--step-seeds N] [--no-bound] [--noise-scale K]` (about a minute). Exit status 0 when every figure
meets its target on the main seed.

The step figures are also given over seeds 1..N (`--step-seeds`, default 30): median, 90th
percentile, maximum and how many seeds take 20 min or more, beside a Bayesian change-point
reference on the same traces (`step_reference.py`, numpy) that knows the noise level and the
spikes but not the change time: how fast the data let anything follow the step.
`--noise-scale` multiplies every trace's noise levels, to see how the figures depend on them.

The traces are built here, not by `pio_sim`: that plugin simulates the devices (photodiode
volts through the ADC, pumps as PWM) behind a persisted store, so an OD trace with its true
rate would also run through od_reading and an OD calibration; this benchmark wants the
estimator alone, with its input stated exactly. `SCENARIOS` and `NOISE_PROFILES` say what each
trace is: batch growth (Baranyi lag, Monod growth that stops abruptly when the substrate runs
out), a turbidostat (exchange of 1 ml into 14 ml whenever OD passes 0.8), a turbidostat whose
rate steps 0.3 -> 0.6 -> 0.3 1/h, the same with heavier noise and spikes, and one whose pump
delivers 4 % more than reported. Readings carry short-correlated multiplicative noise, a slowly
correlated residual, an additive floor, rare spikes (mostly upward, like bubbles; in bursts in
the noisy profile), extra noise while a dose mixes in, 0.1 s jitter and 0.5 % missing readings.

A reference-style filter runs on the same traces for context: a constant-gain Kalman filter
on log OD with a 35-reading warm-up, outliers inflated beyond 5 sigma and the OD variance
inflated at each dose, which is how the Pioreactor's estimator works; it is an approximation
of it, not its code. The issue's figures for the Pioreactor itself are in `REFERENCE`.
"""

from __future__ import annotations

import argparse
import math
import random
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "plugins" / "pio_od"))

from pio_od.estimator import GrowthRateEstimator  # noqa: E402

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

# The Pioreactor's estimator on this machine (issue 6: first estimate after 75-200 s; 0.03 ms
# per reading in the filter, 2 ms in its job) and our targets.
REFERENCE = {
    "first_s": 75.0,
    "step_up_min": 47.0,
    "step_down_min": 47.0,
    "batch": 0.12,
    "turbidostat": 0.006,
    "noisy": 0.017,
    "cpu_ms": 0.03,
}
TARGET = {
    "first_s": 60.0,
    "step_up_min": 20.0,
    "step_down_min": 20.0,
    "batch": 0.7 * 0.12,
    "turbidostat": 0.7 * 0.006,
    "noisy": 0.7 * 0.017,
    "cpu_ms": 1.0,
}


@dataclass
class Trace:
    name: str
    events: list[tuple] = field(default_factory=list)  # ("od", t, od, true_rate) | ("dose", t, vb, va)
    steps: list[tuple[float, float, float]] = field(default_factory=list)  # (t_step, t_end, new rate)


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


def scaled_noise(profile: dict[str, float], scale: float) -> dict[str, float]:
    return {k: v * scale if k in ("cv", "slow_std", "floor_od") else v for k, v in profile.items()}


VOLUME_ML, EXCHANGE_ML, TARGET_OD = 14.0, 1.0, 0.8


def build_trace(kind: str, seed: int, noise_scale: float = 1.0) -> Trace:
    """One simulated experiment of `SCENARIOS[kind]`, reproducible from `seed`.

    `noise_scale` multiplies the profile's noise levels (cv, slow_std, floor_od; not the spikes).
    An "od" event is ("od", t, od, true rate, whether the reading carries a spike).
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
            trace.events.append(("od", t, od, true_rate(t), spiked))
        if not batch and math.exp(log_od) >= TARGET_OD:
            delivered = EXCHANGE_ML * (1 + spec["pump_bias"]) * (1 + rng.gauss(0, PUMP_CV))
            log_od += math.log(VOLUME_ML / (VOLUME_ML + delivered))
            last_dose_s = t + 1.0
            trace.events.append(("dose", t + 1.0, VOLUME_ML, VOLUME_ML + EXCHANGE_ML))
    return trace


class ReferenceStyleFilter:
    """Constant-gain Kalman filter on log OD, warm-up of 35 readings, level variance inflated at doses."""

    def __init__(self, rate_diffusion: float = 2e-4, warmup: int = 35) -> None:
        self.q, self.n_warmup = rate_diffusion, warmup
        self.buf: list[float] = []
        self.x: list[float] = []  # [log OD, rate], empty during warm-up
        self.p: list[float] = []  # [p00, p01, p11]
        self.t = self.r = 0.0

    def update(self, t_s: float, od: float) -> tuple[float, float] | None:
        if not (od > 0):
            return None
        y = math.log(od)
        if not self.x:
            self.buf.append(y)
            self.t = t_s
            if len(self.buf) < self.n_warmup:
                return None
            m = sum(self.buf) / len(self.buf)
            self.r = max(sum((v - m) ** 2 for v in self.buf) / (len(self.buf) - 1), 1e-6)
            self.x, self.p = [y, 0.0], [self.r, 0.0, 0.04]
            return (self.x[1], math.sqrt(self.p[2]))
        dt = (t_s - self.t) / 3600
        self.t = t_s
        (lv, rt), (p00, p01, p11) = self.x, self.p
        lv += rt * dt
        p00 += dt * (2 * p01 + dt * p11) + self.q * dt**3 / 3
        p01 += dt * p11 + self.q * dt**2 / 2
        p11 += self.q * dt
        nu = y - lv
        s = p00 + self.r
        if abs(nu) / math.sqrt(s) > 5:  # outlier: inflate its variance, as the Pioreactor does
            s = p00 + self.r * (abs(nu) / math.sqrt(s) / 5) ** 2
        k0, k1 = p00 / s, p01 / s
        self.x = [lv + k0 * nu, rt + k1 * nu]
        self.p = [p00 - k0 * p00, p01 - k0 * p01, p11 - k1 * p01]
        return (self.x[1], math.sqrt(self.p[2]))

    def dilution(self, t_s: float, volume_before_ml: float, volume_after_ml: float) -> None:
        if self.x:
            self.p[0] += 0.1**2
            self.p[1] = 0.0


def run(trace: Trace, make) -> dict:
    est = make()
    out: list[tuple[float, float, float, float]] = []  # t, rate, std, true
    first_s = first_std = confident_s = None
    t0 = trace.events[0][1]
    n = 0
    cpu = time.process_time()
    for ev in trace.events:
        if ev[0] == "dose":
            est.dilution(ev[1], ev[2], ev[3])
            continue
        n += 1
        e = est.update(ev[1], ev[2])
        if isinstance(est, GrowthRateEstimator):
            e = (e.growth_rate_per_h, e.growth_rate_std) if e.ready else None
        if e is not None:
            if first_s is None:
                first_s, first_std = ev[1] - t0, e[1]
            if confident_s is None and e[1] < 0.1:
                confident_s = ev[1] - t0
            out.append((ev[1], e[0], e[1], ev[3]))
    cpu_ms = (time.process_time() - cpu) * 1000 / n
    errs = [r - tr for t, r, s, tr in out if t >= 3600]
    abs_sorted = sorted(abs(e) for e in errs)
    res = {
        "first_s": first_s,
        "first_std": first_std,
        "confident_s": confident_s,
        "cpu_ms": cpu_ms,
        "rmse": math.sqrt(sum(e * e for e in errs) / len(errs)),
        "median": abs_sorted[len(abs_sorted) // 2],
        "p95": abs_sorted[int(0.95 * len(abs_sorted))],
        "bias": sum(errs) / len(errs),
        "coverage": sum(abs(r - tr) <= 2 * s for t, r, s, tr in out if t >= 3600) / len(errs),
    }
    for i, (t_step, t_end, new) in enumerate(trace.steps):
        # settled: within 10 % of the new rate from then until the end of the segment
        settled = entered = None
        for t, r, _s, _tr in out:
            if t_step <= t < t_end:
                if abs(r - new) > 0.1 * new:
                    settled = None
                elif settled is None:
                    settled = t
                    entered = entered or t
        res[f"step{i}_min"] = (settled - t_step) / 60 if settled is not None else math.inf
        res[f"step{i}_enter_min"] = (entered - t_step) / 60 if entered is not None else math.inf
    return res


def evaluate(seed: int, make, noise_scale: float = 1.0) -> dict[str, dict]:
    return {kind: run(build_trace(kind, seed, noise_scale), make) for kind in SCENARIOS}


def step_distribution(n_seeds: int, noise_scale: float, with_bound: bool) -> bool:
    """The step figures over seeds 1..n: ours, and a Bayesian change-point reference on the same traces."""
    from step_reference import bayes_step_track, settled_min, white_equivalent_var

    if with_bound:
        try:
            import numpy  # noqa: F401
        except ImportError:
            with_bound = False
            print("(numpy is not installed: no Bayesian reference)")
    r_var = white_equivalent_var(scaled_noise(NOISE_PROFILES[SCENARIOS["step"]["noise"]], noise_scale))
    ours: list[list[float]] = [[], []]
    bound: list[list[float]] = [[], []]
    entered: list[list[float]] = [[], []]
    for seed in range(1, n_seeds + 1):
        trace = build_trace("step", seed, noise_scale)
        res = run(trace, GrowthRateEstimator)
        for i, (t_step, t_end, new) in enumerate(trace.steps):
            ours[i].append(res[f"step{i}_min"])
            entered[i].append(res[f"step{i}_enter_min"])
            if with_bound:
                track = bayes_step_track(trace.events, t_step, min(t_end, t_step + 2700), r_var)
                bound[i].append(settled_min(track, t_step, new))
    print(f"Step tracking over seeds 1-{n_seeds} (settled: within 10 % of the new rate from then on; min):")
    print(f"{'step':<16}{'who':<12}{'median':>8}{'p90':>8}{'max':>8}{'>= 20 min':>11}{'entered: max':>14}")
    holds = True
    for i, label in enumerate(("0.3 -> 0.6", "0.6 -> 0.3")):
        rows = [("ours", ours[i])] + ([("reference", bound[i])] if with_bound else [])
        for who, v in rows:
            s = sorted(v)
            late = sum(x >= TARGET["step_up_min"] for x in v)
            print(
                f"{label:<16}{who:<12}{s[len(s) // 2]:>8.1f}{s[int(0.9 * (len(s) - 1))]:>8.1f}{s[-1]:>8.1f}"
                f"{f'{late}/{len(v)}':>11}{f'{max(entered[i]):.1f}' if who == 'ours' else '-':>14}"
            )
            holds &= who != "ours" or late == 0
    if with_bound:
        print(
            "reference: Bayesian change-point estimate that knows the noise level and which readings are\n"
            "spikes (left out), with a flat prior on the change time (every 10 s): kink fits weighted by\n"
            "their marginal likelihood, over the 45 min after the step."
        )
    print()
    return holds


def figures(results: dict[str, dict]) -> dict[str, float]:
    return {
        "first_s": max(r["first_s"] for r in results.values()),
        "step_up_min": results["step"]["step0_min"],
        "step_down_min": results["step"]["step1_min"],
        "batch": results["batch"]["rmse"],
        "turbidostat": results["turbidostat"]["rmse"],
        "noisy": results["noisy"]["rmse"],
        "cpu_ms": max(r["cpu_ms"] for r in results.values()),
    }


LABELS = {
    "first_s": "first estimate (s)",
    "step_up_min": "step 0.3->0.6 settled (min)",
    "step_down_min": "step 0.6->0.3 settled (min)",
    "batch": "batch RMSE (1/h)",
    "turbidostat": "turbidostat RMSE (1/h)",
    "noisy": "noisy+spikes RMSE (1/h)",
    "cpu_ms": "CPU per reading (ms)",
}


def print_per_trace(title: str, results: dict[str, dict]) -> None:
    print(title)
    print(
        f"{'trace':<12}{'1st s':>6}{'σ@1st':>7}{'σ<0.1 s':>8}{'RMSE':>8}{'median':>8}{'p95':>8}"
        f"{'bias':>9}{'2σ cov':>7}{'cpu ms':>7}  steps: settled (entered) min"
    )
    for kind, r in results.items():
        steps = "  ".join(
            f"{r[f'step{i}_min']:.1f} ({r[f'step{i}_enter_min']:.1f})"
            for i in range(2)
            if f"step{i}_min" in r
        )
        confident = f"{r['confident_s']:.0f}" if r["confident_s"] is not None else "-"
        print(
            f"{kind:<12}{r['first_s']:>6.0f}{r['first_std']:>7.2f}{confident:>8}{r['rmse']:>8.4f}"
            f"{r['median']:>8.4f}{r['p95']:>8.4f}{r['bias']:>+9.4f}{r['coverage']:>7.2f}{r['cpu_ms']:>7.3f}"
            f"  {steps}"
        )
    print()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seed", type=int, default=1, help="the main seed (default 1)")
    parser.add_argument("--seeds", default="2,3,4,5,6", help="other seeds, for the spread")
    parser.add_argument("--no-reference", action="store_true", help="skip the reference-style filter")
    parser.add_argument(
        "--step-seeds",
        type=int,
        default=30,
        help="seeds 1..N for the step figures' distribution (default 30; 0: skip)",
    )
    parser.add_argument("--no-bound", action="store_true", help="skip the Bayesian step reference (numpy)")
    parser.add_argument(
        "--noise-scale",
        type=float,
        default=1.0,
        help="multiply every trace's noise levels (not its spikes) by this (default 1)",
    )
    args = parser.parse_args()
    started = time.perf_counter()
    seeds = [int(x) for x in args.seeds.split(",") if x]
    k = args.noise_scale
    if k != 1.0:
        print(f"Noise levels x{k:g} (cv, slow residual, floor)\n")

    ours = evaluate(args.seed, GrowthRateEstimator, k)
    print_per_trace(f"Ours, per trace, seed {args.seed} (errors in 1/h, after the first hour):", ours)
    ref_here = None
    if not args.no_reference:
        ref_results = evaluate(args.seed, ReferenceStyleFilter, k)
        print_per_trace("Reference-style filter, same traces:", ref_results)
        ref_here = figures(ref_results)
    main_fig = figures(ours)
    spread = {k: [v] for k, v in main_fig.items()}
    for seed in seeds:
        for key, v in figures(evaluate(seed, GrowthRateEstimator, k)).items():
            spread[key].append(v)
    steps_hold = step_distribution(args.step_seeds, k, not args.no_bound) if args.step_seeds > 0 else None

    print(
        f"{'figure':<29}{'ours':>9}{'all seeds':>19}{'Pioreactor':>11}{'ref-style':>10}{'target':>8}"
        f"{'seed ' + str(args.seed):>9}{'all seeds':>10}"
    )
    main_pass = True
    for key, label in LABELS.items():
        ok, ok_all = main_fig[key] < TARGET[key], all(v < TARGET[key] for v in spread[key])
        main_pass &= ok
        here = f"{ref_here[key]:.3g}" if ref_here else "-"
        print(
            f"{label:<29}{main_fig[key]:>9.3g}{f'{min(spread[key]):.3g}..{max(spread[key]):.3g}':>19}"
            f"{REFERENCE[key]:>11.3g}{here:>10}{TARGET[key]:>8.3g}{'PASS' if ok else 'FAIL':>9}"
            f"{'PASS' if ok_all else 'FAIL':>10}"
        )
    if steps_hold is not None:
        print(
            f"{'both steps < 20 min, seeds 1-' + str(args.step_seeds):<76}{'PASS' if steps_hold else 'FAIL':>19}"
        )
    print(
        f"\nPioreactor: its figures in issue 6; ref-style: the reference-style filter on these traces;"
        f" seeds {','.join(map(str, [args.seed, *seeds]))}; {time.perf_counter() - started:.0f} s"
    )
    return 0 if main_pass else 1


if __name__ == "__main__":
    raise SystemExit(main())
