"""The growth-rate estimator on small seeded traces: convergence, steps, dilutions, spikes, restarts."""

from __future__ import annotations

import json
import math
import random

import pytest
from pio_od.estimator import Estimate, EstimatorConfig, GrowthRateEstimator

INTERVAL_S = 5.0


def readings(rate_at, hours: float, seed: int = 0, od0: float = 0.5, cv: float = 0.01):
    """(t_s, od) every 5 s of a culture growing at `rate_at(t_s)` 1/h, with multiplicative noise."""
    rng = random.Random(seed)
    log_od = math.log(od0)
    out = []
    for k in range(int(hours * 3600 / INTERVAL_S)):
        t = k * INTERVAL_S
        if k:
            log_od += rate_at(t) * INTERVAL_S / 3600
        out.append((t, math.exp(log_od + rng.gauss(0.0, cv))))
    return out


def run(est: GrowthRateEstimator, trace) -> list[Estimate]:
    return [est.update(t, od) for t, od in trace]


def test_first_estimate_comes_with_its_uncertainty_within_60_seconds():
    est = GrowthRateEstimator()
    first = next(e for e in run(est, readings(lambda t: 0.5, 0.1)) if e.ready)
    assert first.t_s <= 60
    assert first.growth_rate_std is not None and 0 < first.growth_rate_std < 2.0
    assert first.od_filtered == pytest.approx(0.5, rel=0.05)


def test_converges_on_a_known_constant_rate():
    last = run(GrowthRateEstimator(), readings(lambda t: 0.5, 3.0, seed=1))[-1]
    assert last.growth_rate_per_h == pytest.approx(0.5, abs=0.02)
    assert last.growth_rate_std < 0.02
    assert abs(last.growth_rate_per_h - 0.5) < 3 * last.growth_rate_std


@pytest.mark.parametrize(("rate", "seed"), [(0.05, 11), (0.3, 12), (1.2, 13), (-0.1, 14)])
def test_converges_on_known_rates_including_a_slow_death(rate, seed):
    out = run(GrowthRateEstimator(), readings(lambda t: rate, 3.0, seed=seed))
    late = [e for e in out if e.t_s >= 2 * 3600]
    assert all(abs(e.growth_rate_per_h - rate) < 0.03 for e in late)
    assert abs(out[-1].growth_rate_per_h - rate) < max(0.015, 3 * out[-1].growth_rate_std)


@pytest.mark.parametrize("seed", [21, 22, 23])
def test_follows_a_step_down_within_a_generous_bound(seed):
    # 0.6 -> 0.3 is the hard direction: 10 % of the new rate is only 0.03 1/h. The benchmark
    # measures the real figure over many seeds; this checks that it is followed at all.
    step_s = 2 * 3600

    def rate(t):
        return 0.6 if t < step_s else 0.3

    est = GrowthRateEstimator()
    out = run(est, readings(rate, 3.0, seed=seed, od0=0.3))
    assert est.changes_detected >= 1
    assert all(abs(e.growth_rate_per_h - 0.6) < 0.06 for e in out if 3600 <= e.t_s < step_s)
    assert all(abs(e.growth_rate_per_h - 0.3) <= 0.045 for e in out if e.t_s >= step_s + 30 * 60)


def test_follows_a_step_in_growth_rate_within_20_minutes():
    step_s = 2 * 3600

    def rate(t):
        return 0.3 if t < step_s else 0.6

    est = GrowthRateEstimator()
    after = [e for e in run(est, readings(rate, 3.0, seed=2)) if e.t_s >= step_s + 20 * 60]
    assert est.changes_detected >= 1
    assert all(abs(e.growth_rate_per_h - 0.6) <= 0.06 for e in after)


def test_dilution_is_not_read_as_death():
    rng = random.Random(3)
    est = GrowthRateEstimator()
    log_od, rates = math.log(0.7), []
    for k in range(int(2.5 * 3600 / INTERVAL_S)):
        t = k * INTERVAL_S
        log_od += 0.4 * INTERVAL_S / 3600
        e = est.update(t, math.exp(log_od + rng.gauss(0, 0.01)))
        if t >= 900:  # past the warm-up's wide uncertainty
            rates.append(e.growth_rate_per_h)
        if math.exp(log_od) > 0.8:  # turbidostat: exchange 1 ml of 14 ml (pump 2 % off)
            log_od += math.log(14.0 / 15.02)
            est.dilution(t + 1, 14.0, 15.0)
    assert min(rates) > 0.3
    assert rates[-1] == pytest.approx(0.4, abs=0.03)


def test_a_dilution_of_a_culture_that_does_not_grow_gives_no_negative_rate():
    est = GrowthRateEstimator()
    trace = readings(lambda t: 0.0, 2.0, seed=4)
    rates = []
    for t, od in trace:
        if t >= 3600:
            od *= 14.0 / 16.0
        if t == 3600:
            est.dilution(t - 1, 14.0, 16.0)
        rates.append(est.update(t, od).growth_rate_per_h)
    assert min(r for r in rates[60:] if r is not None) > -0.05


def test_a_single_spike_moves_the_growth_rate_by_less_than_0_01_per_hour():
    trace = readings(lambda t: 0.5, 1.25, seed=5)
    clean = run(GrowthRateEstimator(), trace)
    for i, factor in ((500, 1.5), (650, 1.08), (800, 0.7)):
        spiked = list(trace)
        spiked[i] = (trace[i][0], trace[i][1] * factor)
        dirty = run(GrowthRateEstimator(), spiked)
        worst = max(
            abs(a.growth_rate_per_h - b.growth_rate_per_h) for a, b in zip(clean[i:], dirty[i:], strict=True)
        )
        assert worst < 0.01, f"spike x{factor}: growth rate moved by {worst:.4f} 1/h"
        if factor in (1.5, 0.7):
            assert not dirty[i].accepted


@pytest.mark.parametrize("bad", [float("nan"), float("inf"), -0.2, 0.0, None, "0.5"])
def test_invalid_readings_are_rejected_and_leave_the_state_alone(bad):
    est = GrowthRateEstimator()
    run(est, readings(lambda t: 0.5, 0.2))
    before = est.to_dict()
    e = est.update(10_000.0, bad)  # type: ignore[arg-type]
    assert not e.accepted
    assert e.growth_rate_per_h == before["last"]["growth_rate_per_h"]
    assert est.to_dict() == before


def test_invalid_or_repeated_times_are_rejected():
    est = GrowthRateEstimator()
    run(est, readings(lambda t: 0.5, 0.2))
    before = est.to_dict()
    assert not est.update(float("nan"), 0.5).accepted
    assert not est.update(0.0, 0.5).accepted  # earlier than the last reading
    assert est.to_dict()["warm"] and est.to_dict()["main"] == before["main"]


def test_bad_dosing_events_are_refused():
    est = GrowthRateEstimator()
    with pytest.raises(ValueError, match="volume_before_ml <= volume_after_ml"):
        est.dilution(0.0, 15.0, 14.0)
    with pytest.raises(ValueError, match="factor in"):
        est.dose(0.0, 1.5)


def test_to_dict_from_dict_round_trip_resumes_identically():
    trace = readings(lambda t: 0.3 if t < 3600 else 0.6, 2.0, seed=6)
    whole = GrowthRateEstimator()
    first = GrowthRateEstimator()
    half = len(trace) // 2
    for i, (t, od) in enumerate(trace[:half]):
        for est in (whole, first):
            est.update(t, od)
            if i % 200 == 199:
                est.dilution(t + 1, 14.0, 14.5)
    resumed = GrowthRateEstimator.from_dict(json.loads(json.dumps(first.to_dict())))
    for i, (t, od) in enumerate(trace[half:], start=half):
        assert resumed.update(t, od) == whole.update(t, od)
        if i % 200 == 199:
            resumed.dilution(t + 1, 14.0, 14.5)
            whole.dilution(t + 1, 14.0, 14.5)
    assert resumed.to_dict() == whole.to_dict()


def test_state_of_another_version_is_refused_with_a_hint():
    data = GrowthRateEstimator().to_dict()
    data["version"] = 999
    with pytest.raises(ValueError, match="start the estimator afresh"):
        GrowthRateEstimator.from_dict(data)


def test_stored_noise_and_rate_start_the_filter_where_it_was():
    est = GrowthRateEstimator(
        EstimatorConfig(noise_cv=0.01, initial_growth_rate_per_h=0.5, growth_rate_prior_std_per_h=0.1)
    )
    first = next(e for e in run(est, readings(lambda t: 0.5, 0.1, seed=7)) if e.ready)
    assert first.growth_rate_per_h == pytest.approx(0.5, abs=0.1)
    assert first.growth_rate_std <= 0.1


def test_a_lasting_unreported_shift_in_od_is_taken_as_a_new_level():
    trace = readings(lambda t: 0.5, 1.5, seed=8)
    shifted = [(t, od * (1.3 if t >= 3600 else 1.0)) for t, od in trace]
    out = run(GrowthRateEstimator(), shifted)
    after = [e for e in out if e.t_s >= 3600 + 60]
    assert all(e.accepted for e in after[-60:])
    assert after[-1].od_filtered == pytest.approx(1.3 * 0.5 * math.exp(0.5 * 1.5), rel=0.03)


def test_a_long_gap_in_readings_does_not_derail_the_estimate():
    trace = [r for r in readings(lambda t: 0.5, 3.0, seed=9) if not 3600 <= r[0] < 5400]
    last = run(GrowthRateEstimator(), trace)[-1]
    assert last.growth_rate_per_h == pytest.approx(0.5, abs=0.03)


def test_same_input_gives_the_same_output():
    trace = readings(lambda t: 0.4, 0.5, seed=10)
    assert run(GrowthRateEstimator(), trace) == run(GrowthRateEstimator(), trace)
