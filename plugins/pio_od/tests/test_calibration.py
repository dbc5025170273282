"""The monotone OD fit, its range flags, and `pio calibrate od` (from a file and interactively)."""

from __future__ import annotations

import math

import pytest
from click.testing import CliRunner
from pio_od.calibration import FitError, ODCurve, fit_monotone, make_calibration, residuals

from pioreactor_kernel import calibrations
from pioreactor_kernel.calibrations import Calibration


def _interp(xs, ys, x):
    return Calibration(device="od90", name="t", calibration_type="od", x="signal", y="od600",
                       curve_type="monotone", curve_data=[xs, ys]).predict(x)


def test_fit_passes_through_monotone_standards_and_stays_monotone_between():
    signals = [0.01, 0.05, 0.12, 0.30, 0.55]
    ods = [0.0, 0.1, 0.25, 0.7, 1.4]
    xs, ys = fit_monotone(signals, ods)
    assert xs == sorted(xs)
    assert all(b >= a for a, b in zip(ys, ys[1:], strict=False))
    for s, o in zip(signals, ods, strict=True):
        assert _interp(xs, ys, s) == pytest.approx(o, abs=1e-12)


def test_fit_follows_a_smooth_curve_between_standards():
    # scatter saturates: signal = 1 - exp(-od / 4); standards every 0.4 OD
    ods = [0.0, 0.4, 0.8, 1.2, 1.6, 2.0, 2.4]
    signals = [1 - math.exp(-o / 4) for o in ods]
    xs, ys = fit_monotone(signals, ods)
    for od in (0.2, 0.6, 1.0, 1.4, 2.2):
        assert _interp(xs, ys, 1 - math.exp(-od / 4)) == pytest.approx(od, abs=0.01)


def test_fit_pools_standards_that_break_monotonicity():
    xs, ys = fit_monotone([0.1, 0.2, 0.3, 0.4], [0.1, 0.5, 0.4, 0.8])
    assert all(b >= a for a, b in zip(ys, ys[1:], strict=False))
    assert _interp(xs, ys, 0.2) == pytest.approx(0.45) and _interp(xs, ys, 0.3) == pytest.approx(0.45)


def test_fit_of_transmission_is_decreasing():
    signals = [8.0, 6.0, 4.5, 3.0]
    ods = [0.0, 0.25, 0.5, 0.85]
    xs, ys = fit_monotone(signals, ods)
    assert all(b <= a for a, b in zip(ys, ys[1:], strict=False))
    assert _interp(xs, ys, 6.0) == pytest.approx(0.25)


@pytest.mark.parametrize("signals, ods, why", [
    ([0.1], [0.2], "two standards"),
    ([0.1, 0.1], [0.2, 0.3], "different signals"),
    ([0.1, float("nan")], [0.2, 0.3], "finite"),
    ([0.1, 0.2], [-0.1, 0.3], "negative"),
    ([0.1, 0.2, 0.3], [0.5, 0.5, 0.5], "does not change"),
])
def test_fit_refuses_unusable_standards(signals, ods, why):
    with pytest.raises(FitError, match=why):
        fit_monotone(signals, ods)


def test_readings_outside_the_standards_are_flagged_not_silently_extrapolated():
    cal = make_calibration("c", "90", "2", [0.1, 0.2, 0.4], [0.1, 0.2, 0.4], signal_unit="V/V")
    curve = ODCurve(cal, "extrapolate")
    inside = curve(0.3)
    assert inside.out_of_range is None and inside.od == pytest.approx(0.3, abs=0.02)
    above = curve(0.5)
    assert above.out_of_range == "above" and above.od == pytest.approx(0.5, abs=0.05)
    below = curve(0.05)
    assert below.out_of_range == "below" and below.od < 0.1
    clamped = ODCurve(cal, "clamp")(0.5)
    assert clamped.out_of_range == "above" and clamped.od == pytest.approx(0.4)


def test_flags_of_a_decreasing_curve_are_in_od_terms():
    cal = make_calibration("c", "180", "3", [8.0, 6.0, 4.0], [0.0, 0.3, 0.7], signal_unit="V/V")
    curve = ODCurve(cal)
    assert curve(3.0).out_of_range == "above"  # less light through than the densest standard
    assert curve(9.0).out_of_range == "below"


def _pio(args, input=None):
    from pioreactor_kernel.cli import build_cli

    return CliRunner().invoke(build_cli(), args, input=input, catch_exceptions=False)


def test_calibrate_from_a_file_stores_an_active_monotone_calibration(unit, tmp_path):
    pairs = tmp_path / "pairs.csv"
    pairs.write_text("signal,od600\n0.011,0.0\n0.12,0.2\n0.25,0.45\n# a comment\n0.5,1.0\n")
    result = _pio(["calibrate", "od", "--file", str(pairs), "--name", "std-curve"])
    assert result.exit_code == 0, result.output
    assert "residual" in result.output and "stored and active" in result.output
    cal = calibrations.active("od90")
    assert cal is not None and cal.name == "std-curve" and cal.curve_type == "monotone"
    assert cal.recorded_y == [0.0, 0.2, 0.45, 1.0] and cal.meta["signal_unit"] == "V/V"
    assert max(abs(r[3]) for r in residuals(cal)) < 1e-9
    shown = _pio(["calibrations", "show", "od90"])
    assert shown.exit_code == 0 and "std-curve" in shown.output


def test_calibrate_from_a_file_names_the_bad_line(unit, tmp_path):
    pairs = tmp_path / "pairs.csv"
    pairs.write_text("0.0,0.01\n0.2,lots\n")
    result = _pio(["calibrate", "od", "--file", str(pairs)])
    assert result.exit_code != 0 and "line 2" in result.output
    assert calibrations.active("od90") is None


def test_interactive_calibration_prompts_for_standards_until_done(unit, monkeypatch):
    measured = iter([(0.01, 0.0001, "V/V"), (0.2, 0.001, "V/V"), (0.41, 0.002, "V/V")])
    monkeypatch.setattr("pio_od.cli_calibrate.measure_standard", lambda ch, intensity, n: next(measured))
    result = _pio(["calibrate", "od", "--name", "interactive"], input="0\nabc\n0.5\n1.1\ndone\n")
    assert result.exit_code == 0, result.output
    assert "not a number" in result.output
    cal = calibrations.load("od90", "interactive")
    assert cal.recorded_x == [0.01, 0.2, 0.41] and cal.recorded_y == [0.0, 0.5, 1.1]
