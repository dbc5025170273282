"""The model alone (no SQLite, no devices): sanity of growth, dilution, heat, stirring, optics."""

from __future__ import annotations

import math
import random

import pytest
from pio_sim.physics import (
    Draws,
    Params,
    Roles,
    State,
    advance,
    cardinal_temperature_factor,
    drug_factor,
    growth_rate_per_h,
    photodiode_voltage,
    steady_rpm,
    temperature_reading,
)

ROLES = Roles(pwm={"stirring": "1", "media": "2", "alt_media": "3", "waste": "4", "heater": "5"}, ir_led="A",
              photodiodes={"1": "REF", "2": "90", "3": "180"})


def exact_draws() -> Draws:
    """A unit exactly on nominal, so expectations can be computed by hand."""
    return Draws(sensitivity={"90": 1.0, "180": 1.0, "REF": 1.0}, dark_offset_v={c: 0.002 for c in "1234"},
                 pump_error={"media": 0.0, "alt_media": 0.0, "waste": 0.0}, stirring_gain=1.0, stall_duty=10.0,
                 heater_gain=1.0, ambient_offset_c=0.0)


def run(state: State, p: Params, d: Draws, hours: float, step_s: float = 60.0) -> State:
    end = state.t + hours * 3600
    while state.t < end:
        advance(state, p, d, ROLES, min(end, state.t + step_s))
    return state


def chemostat(dilution_per_h: float, **overrides: float) -> tuple[State, Params]:
    p = Params(ambient_c=37.0, lag_h=0.0, **overrides)  # at the optimum: growth rate = mu_max
    d = exact_draws()
    s = State.initial(0.0, p, d)
    media_ml_s = dilution_per_h * p.initial_volume_ml / 3600
    s.pwm = {"2": 100 * media_ml_s / p.pump_flow_ml_s, "4": 100.0}  # waste keeps the level at the tube
    return run(s, p, d, hours=60), p


def test_constant_dilution_below_mu_max_settles_where_growth_equals_dilution():
    s, p = chemostat(0.5)
    expected = p.carrying_capacity_od * (1 - 0.5 / p.mu_max_per_h)  # logistic: mu (1 - N/K) = D
    assert s.od == pytest.approx(expected, rel=0.03)
    assert s.volume_ml == pytest.approx(p.waste_tube_ml, abs=0.05)
    assert growth_rate_per_h(s, p) * (1 - s.od / p.carrying_capacity_od) == pytest.approx(0.5, rel=0.03)


def test_constant_dilution_above_mu_max_washes_the_culture_out():
    s, p = chemostat(1.5)
    assert s.od < p.initial_od * 1e-3


def test_batch_culture_grows_after_its_lag_to_the_carrying_capacity():
    p = Params(ambient_c=37.0, lag_h=2.0)
    d = exact_draws()
    s = State.initial(0.0, p, d)
    early = growth_rate_per_h(run(s, p, d, 0.25), p)
    assert early < 0.25 * p.mu_max_per_h  # still in lag
    run(s, p, d, 4)
    assert growth_rate_per_h(s, p) > 0.6 * p.mu_max_per_h
    run(s, p, d, 40)
    assert s.od == pytest.approx(p.carrying_capacity_od, rel=0.01)


def test_more_heat_makes_the_vial_warmer_towards_ambient_plus_rise():
    p, d = Params(), exact_draws()
    temps = []
    for duty in (0.0, 20.0, 50.0):
        s = State.initial(0.0, p, d)
        s.pwm = {"5": duty}
        temps.append(run(s, p, d, hours=2).temperature_c)
    assert temps[0] < temps[1] < temps[2]
    assert temps[2] == pytest.approx(p.ambient_c + 0.5 * p.heater_max_rise_c, abs=0.05)


def test_heat_follows_its_time_constant():
    p, d = Params(), exact_draws()
    s = State.initial(0.0, p, d)
    s.pwm = {"5": 100.0}
    advance(s, p, d, ROLES, p.heat_time_constant_s)
    assert s.temperature_c - p.ambient_c == pytest.approx(p.heater_max_rise_c * (1 - math.exp(-1)), rel=1e-3)


def test_cardinal_temperature_model_peaks_at_the_optimum_and_vanishes_outside():
    p = Params()
    assert cardinal_temperature_factor(p.t_opt_c, p) == pytest.approx(1.0)
    assert cardinal_temperature_factor(p.t_min_c, p) == 0.0
    assert cardinal_temperature_factor(p.t_max_c + 1, p) == 0.0
    assert 0 < cardinal_temperature_factor(25.0, p) < cardinal_temperature_factor(33.0, p) < 1


def test_alt_media_drug_halves_growth_at_its_ic50_and_dilutes_in():
    p, d = Params(), exact_draws()
    assert drug_factor(p.drug_ic50_fraction, p) == pytest.approx(0.5)
    s = State.initial(0.0, p, d)
    s.pwm = {"3": 100.0}
    advance(s, p, d, ROLES, 2.0)  # 1 ml of alt-media into 14 ml
    assert s.volume_ml == pytest.approx(15.0)
    assert s.alt_media_fraction == pytest.approx(1 / 15)


def test_pumps_deliver_flow_times_time_off_nominal_by_the_unit_error():
    p = Params()
    d = Draws.draw(random.Random("unit"), p)
    s = State.initial(0.0, p, d)
    s.pwm = {"2": 100.0}
    advance(s, p, d, ROLES, 4.0)
    assert s.media_in_ml == pytest.approx(4 * p.pump_flow_ml_s * (1 + d.pump_error["media"]))
    assert s.media_in_ml != pytest.approx(4 * p.pump_flow_ml_s, rel=1e-6)  # calibration matters
    s.pwm = {"4": 100.0}
    advance(s, p, d, ROLES, 60.0)
    assert s.volume_ml == pytest.approx(p.waste_tube_ml)  # waste cannot go below the efflux tube


def test_overfilling_spills_at_the_vial_capacity():
    p, d = Params(), exact_draws()
    s = State.initial(0.0, p, d)
    s.pwm = {"2": 100.0}
    advance(s, p, d, ROLES, 20.0)  # 10 ml into 14 ml, capacity 20
    assert s.volume_ml == p.max_volume_ml
    assert s.overflow_ml == pytest.approx(4.0)


def test_stirring_spins_up_with_inertia_and_the_tachometer_counts_two_pulses_per_turn():
    p, d = Params(), exact_draws()
    s = State.initial(0.0, p, d)
    s.pwm = {"1": 30.0}
    target = steady_rpm(30.0, d, p)
    advance(s, p, d, ROLES, p.stirring_time_constant_s)
    assert s.rpm == pytest.approx(target * (1 - math.exp(-1)))
    before = s.tach_pulses
    advance(s, p, d, ROLES, s.t + 60.0)
    assert s.rpm == pytest.approx(target, rel=1e-6)
    assert s.tach_pulses - before == pytest.approx(2 * target, rel=0.01)
    assert steady_rpm(d.stall_duty / 2, d, p) == 0.0


def test_optics_dark_offset_scatter_saturation_reference_and_transmission():
    p, d = Params(noise_relative=0, noise_absolute_v=0, spike_probability=0), exact_draws()
    rng = random.Random(0)
    s = State.initial(0.0, p, d)
    assert photodiode_voltage(s, p, d, ROLES, "2", rng) == pytest.approx(0.002, abs=2e-4)  # IR off: dark
    s.led = {"A": 100.0}
    readings = []
    for od in (0.1, 1.0, 4.0, 40.0):
        s.od = od
        readings.append([photodiode_voltage(s, p, d, ROLES, c, rng) for c in ("1", "2", "3")])
    ref, side, through = zip(*readings, strict=True)
    assert max(ref) - min(ref) < 1e-3  # the reference does not see the culture
    assert side[0] < side[1] < side[2] < side[3] <= p.scatter_v_max + 0.01
    assert (side[1] - side[0]) / 0.9 > (side[2] - side[1]) / 3.0  # saturating
    assert through[0] > through[1] > through[2]
    s.led = {"A": 50.0}
    assert photodiode_voltage(s, p, d, ROLES, "2", rng) == pytest.approx((side[3] - 0.002) / 2 + 0.002, rel=0.01)


def test_photodiode_noise_is_correlated_and_has_rare_spikes():
    p, d = Params(spike_probability=0.01), exact_draws()
    s = State.initial(0.0, p, d)
    s.led, s.od = {"A": 100.0}, 1.0
    rng = random.Random(1)
    values = []
    for i in range(3000):
        s.t = i * 1.0
        values.append(photodiode_voltage(s, p, d, ROLES, "2", rng))
    median = sorted(values)[len(values) // 2]
    spike = [v > median * (1 + p.spike_relative / 3) for v in values]
    assert 5 <= sum(spike) <= 100
    pairs = [(a, b) for a, b, sa, sb in zip(values, values[1:], spike, spike[1:], strict=False) if not (sa or sb)]
    mean = sum(a for a, _ in pairs) / len(pairs)
    lag1 = sum((a - mean) * (b - mean) for a, b in pairs) / sum((a - mean) ** 2 for a, _ in pairs)
    assert lag1 > 0.5  # readings 1 s apart, residual correlation time 20 s


def test_temperature_readings_are_noisy_and_quantised():
    p, d = Params(), exact_draws()
    s = State.initial(0.0, p, d)
    rng = random.Random(3)
    readings = {temperature_reading(s, p, rng) for _ in range(200)}
    assert len(readings) > 1
    assert all(abs(r / p.temperature_resolution_c - round(r / p.temperature_resolution_c)) < 1e-9 for r in readings)


def test_phototrophs_grow_only_in_light():
    p = Params(phototroph=True, ambient_c=37.0, lag_h=0.0, light_channels="B")
    d = exact_draws()
    dark = run(State.initial(0.0, p, d), p, d, hours=2)
    lit = State.initial(0.0, p, d)
    lit.led = {"B": 100.0}
    run(lit, p, d, hours=2)
    assert dark.od == pytest.approx(p.initial_od)
    assert lit.od > 2 * p.initial_od


def test_speed_makes_biology_faster_but_not_pumps():
    p1, p60 = Params(ambient_c=37.0, lag_h=0.0), Params(ambient_c=37.0, lag_h=0.0, speed=60.0)
    d = exact_draws()
    slow, fast = State.initial(0.0, p1, d), State.initial(0.0, p60, d)
    for s, p in ((slow, p1), (fast, p60)):
        s.pwm = {"2": 100.0}
        advance(s, p, d, ROLES, 1.0)
        s.pwm = {}
        advance(s, p, d, ROLES, 60.0)
    assert slow.media_in_ml == fast.media_in_ml
    assert fast.od > 1.5 * slow.od
