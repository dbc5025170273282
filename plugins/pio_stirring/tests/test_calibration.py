"""`pio calibrate stirring` against the simulated motor, and the pure fitting code."""

from __future__ import annotations

import math

import pytest
from stirring_simtools import true_rpm_curve

from pioreactor_kernel import calibrations
from pioreactor_kernel.testing import pio


def test_calibration_recovers_the_simulators_true_motor_curve(unit, monkeypatch):
    monkeypatch.setenv("PIO__sim__stirring_time_constant_s", "0.2")  # a light stir bar: settled within 1 s
    result = pio("calibrate", "stirring", "--yes", "--min-duty", "5", "--max-duty", "80", "--steps", "5",
                 "--settle-s", "1", "--measure-s", "1.5", "--name", "sweep1", timeout=90)
    assert result.returncode == 0, result.stdout + result.stderr
    out = result.stdout
    assert "RPM =" in out and "residual" in out and "duty cycle (%)" in out and " o" in out
    assert "stalled: left out of the fit" in out  # 5 % is below the simulated motor's stall
    cal = calibrations.active("stirring")
    assert cal is not None and cal.name == "sweep1" and cal.x == "duty_cycle" and cal.y == "rpm"
    slope, intercept = cal.curve_data
    true_slope, true_stall = true_rpm_curve()
    assert slope == pytest.approx(true_slope, rel=0.03)
    assert -intercept / slope == pytest.approx(true_stall, abs=1.0)
    assert cal.meta["r_squared"] > 0.995 and cal.meta["stalled_points"]
    show = pio("calibrations", "show", "stirring")
    assert show.returncode == 0 and "sweep1" in show.stdout


def test_calibration_is_refused_while_stirring_runs_and_for_bad_input(unit):
    from click.testing import CliRunner
    from pio_stirring.calibrate import calibrate_stirring
    from pio_stirring.job import Stirring

    runner = CliRunner()
    with Stirring(target_rpm=0):
        result = runner.invoke(calibrate_stirring, ["--yes", "--steps", "3"])
        assert result.exit_code == 1 and "pio kill stirring" in result.output
    for args in (["--min-duty", "nan"], ["--max-duty", "150"], ["--settle-s", "-1"], ["--min-duty", "60", "--max-duty", "50"],
                 ["--steps", "2"], ["--measure-s", "inf"]):
        result = runner.invoke(calibrate_stirring, ["--yes", *args])
        assert result.exit_code == 2 and "Error" in result.output, (args, result.output)
    assert calibrations.active("stirring") is None


def test_polyfit_recovers_exact_polynomials():
    from pio_stirring.curve import polyfit

    xs = [10.0, 25.0, 40.0, 55.0, 70.0, 85.0]
    line = polyfit(xs, [37.5 * x - 400 for x in xs], 1)
    assert line.coefficients == pytest.approx([37.5, -400], abs=1e-6) and line.rmse < 1e-6
    quad = polyfit(xs, [0.2 * x * x - 3 * x + 5 for x in xs], 2)
    assert quad.coefficients == pytest.approx([0.2, -3, 5], abs=1e-6)
    with pytest.raises(ValueError, match="at least 3 points"):
        polyfit([1.0, 2.0], [1.0, 2.0], 2)
    with pytest.raises(ValueError, match="non-finite"):
        polyfit([1.0, 2.0, math.nan], [1.0, 2.0, 3.0], 1)


def test_curve_inverse_pi_anti_windup_and_lagged_reference():
    from pio_stirring.controller import LaggedReference, PIController, RpmMeter
    from pio_stirring.curve import RpmCurve

    curve = RpmCurve.linear_guess(40, 10)
    assert curve.duty_for(400) == pytest.approx(20, abs=1e-6)
    assert curve.duty_for(-50) == 0 and curve.duty_for(1e6) == 100
    weak = RpmCurve.linear_guess(40, 10, max_duty=30)  # at most 800 RPM
    pi = PIController(0.3, 0.3)
    for _ in range(100):  # a stuck motor: the output saturates, the integral must not run away
        out = pi.update(500, 0, 1.0, weak.rpm_limits)
    assert out == 800 and pi.integral_rpm < 200
    out = pi.update(500, 520, 1.0, weak.rpm_limits)  # it frees itself: the correction is small at once
    assert out < 650  # (with a wound-up integral it would ask for the maximum)
    for _ in range(100):  # never saturating, the integral is still bounded
        pi.update(500, 0, 1.0, (0, 1e9))
    assert pi.integral_rpm == pi.integral_limit_rpm
    meter = RpmMeter(2.0, 2)
    assert meter.add(0.0, 0) is None
    assert meter.add(1.0, 20) == pytest.approx(600)
    assert meter.add(3.0, 60) == pytest.approx(600)  # the window keeps the last 2 s and one sample before
    reference = LaggedReference(2.5)
    assert [reference.add(t, 100.0 * t) for t in (0, 1, 2, 3, 4, 5)] == [0, 0, 0, 0, 100, 200]
    reference.reset()
    assert reference.add(10, 50) == 0
