"""The pure parts: the PID's anti-windup, judging samples, finding a stuck sensor."""

from __future__ import annotations

import math

import pytest

from pio_temperature.pid import PID, Gains
from pio_temperature.readings import SensorPolicy, StuckDetector, assess


def test_pid_does_not_wind_up_while_saturated():
    pid = PID(Gains(kp=10, ki=0.05))
    for _ in range(1000):  # 1000 s far below target: the output is pinned at 100 %
        assert pid.update(37.0, 20.0, 1.0) == 100.0
    assert pid.integral <= 100.0
    # overshoot by 1 °C: a wound-up integral would keep heating for minutes; this one lets go at once
    pid_out = pid.update(37.0, 38.0, 1.0)
    naive_integral = 0.05 * 17 * 1000
    assert pid_out < 100.0 and naive_integral > 800


def test_pid_settles_a_first_order_plant_without_steady_state_error():
    pid, temp = PID(Gains(kp=12, ki=0.04)), 22.0
    for _ in range(3600):
        duty = pid.update(37.0, temp, 1.0)
        temp += (22.0 + 0.3 * duty - temp) / 300.0
    assert temp == pytest.approx(37.0, abs=0.01) and duty == pytest.approx(50.0, abs=0.5)


def test_pid_refuses_non_finite_input_and_gains():
    pid = PID(Gains(kp=1, ki=0))
    with pytest.raises(ValueError, match="not finite"):
        pid.update(37.0, math.nan, 1.0)
    with pytest.raises(ValueError, match="kp"):
        Gains(kp=-1, ki=0)


def test_gains_scale_with_a_faster_plant():
    g = Gains(kp=12, ki=0.04, kd=30).scaled(60)
    assert (g.kp, g.ki, g.kd) == (12, pytest.approx(2.4), pytest.approx(0.5))


POLICY = SensorPolicy()


@pytest.mark.parametrize(("samples", "expected"), [
    ([37.0, 37.0625, 36.9375], 37.0),
    ([37.0, math.nan, 37.125], 37.0625),  # one bad sample is outvoted
    ([37.0, 99.0, 37.0], 37.0),
])
def test_a_reading_is_the_median_of_agreeing_samples(samples, expected):
    reading = assess(samples, POLICY)
    assert reading.ok and reading.celsius == pytest.approx(expected)


@pytest.mark.parametrize(("samples", "why"), [
    ([math.nan, math.nan, 37.0], "not a finite number"),
    ([math.inf] * 3, "not a finite number"),
    ([1e6] * 3, "outside the plausible"),
    ([-273.15] * 3, "outside the plausible"),
    ([OSError("bus"), OSError("bus"), 37.0], "read failed: OSError"),
    ([20.0, 35.0, 50.0], "samples disagree"),
    (["37"] * 3, "not a finite number"),
])
def test_garbage_readings_are_refused_with_the_reason(samples, why):
    reading = assess(samples, POLICY)
    assert not reading.ok and why in reading.problem


def test_stuck_needs_identical_readings_under_a_heater_that_moved():
    policy = SensorPolicy(stuck_readings=5)
    quiet = StuckDetector(policy)
    assert not any(quiet.add(25.0, 40.0) for _ in range(20))  # at equilibrium: not enough evidence
    moving = StuckDetector(policy)
    found = [moving.add(25.0, duty) for duty in (40, 45, 50, 55, 60)]
    assert found[-1].startswith("the temperature sensor is stuck") and not any(found[:-1])
    pinned = StuckDetector(policy)
    assert [pinned.add(25.0, 100.0) for _ in range(5)][-1]
    changing = StuckDetector(policy)
    assert not any(changing.add(25.0 + i * 0.0625, 100.0) for i in range(10))
    assert not any(StuckDetector(SensorPolicy(stuck_readings=0)).add(25.0, 100.0) for _ in range(50))
