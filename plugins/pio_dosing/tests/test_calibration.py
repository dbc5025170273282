"""`pio calibrate pump`: timed doses, measured mL (asked, or given for scripts), a stored fitted line."""

from __future__ import annotations

import pytest
from pio_dosing import add_media
from pio_dosing.calibrate import CalibrationRefused, calibrate, fit_line
from pio_dosing.testing import true_state

from pioreactor_kernel import calibrations
from pioreactor_kernel.testing import pio


def true_flow(pump: str) -> float:
    return 5.0 * (1 + true_state()["draws"]["pump_error"][pump])


def test_calibration_with_the_simulator_as_scale_recovers_the_pumps_true_flow(unit):
    """The vial is the beaker here: what the pump added, the simulator knows."""
    before = [true_state()["media_in_ml"]]

    def measure(i: int, seconds: float) -> float:
        now = true_state()["media_in_ml"]
        moved, before[0] = now - before[0], now
        return moved

    cal = calibrate("media", [0.1, 0.2, 0.3, 0.4], measure)
    a, b = cal.curve_data
    assert a == pytest.approx(true_flow("media"), rel=0.08)
    assert abs(b) < 0.15 and cal.meta["r2"] > 0.98
    assert calibrations.active("media_pump").name == cal.name
    moved = true_state()["media_in_ml"]
    add_media(ml=1.0)  # dosing by mL now works, and is right
    assert true_state()["media_in_ml"] - moved == pytest.approx(1.0, rel=0.1)


def test_calibration_from_the_command_line_takes_measured_volumes_for_scripts(unit):
    flow = true_flow("alt_media")
    durations = [0.1, 0.2, 0.3]
    measured = ",".join(f"{flow * s:.4f}" for s in durations)
    r = pio("calibrate", "pump", "--pump", "alt_media", "--durations", "0.1,0.2,0.3", "--measured", measured,
            "--name", "bench1")
    assert r.returncode == 0, r.stderr
    assert "alt_media_pump/bench1" in r.stdout and "now active" in r.stdout
    assert true_state()["alt_media_in_ml"] == pytest.approx(0.6 * flow, rel=0.2)  # it really ran the pump
    cal = calibrations.load("alt_media_pump", "bench1")
    assert cal.curve_data[0] == pytest.approx(flow, rel=1e-3)
    assert cal.x_unit == "s" and cal.y_unit == "mL" and cal.calibration_type == "pump"
    r = pio("calibrations", "show", "alt_media_pump")
    assert "bench1" in r.stdout


def test_interactive_calibration_asks_for_each_volume_and_rejects_nonsense(unit):
    answers = "\n".join(["", "abc", "-1", "0.5", "", "nan", "1.0", ""]) + "\n"
    r = pio("calibrate", "pump", "--pump", "waste", "--durations", "0.1,0.2", input=answers)
    assert r.returncode == 0, r.stdout + r.stderr
    assert r.stdout.count("try again") == 3
    cal = calibrations.active("waste_pump")
    assert cal.recorded_y == [0.5, 1.0] and cal.curve_data[0] == pytest.approx(5.0)


def test_a_calibration_that_does_not_rise_is_refused(unit):
    r = pio("calibrate", "pump", "--pump", "media", "--durations", "0.1,0.2", "--measured", "0.6,0.3")
    assert r.returncode != 0 and "do not rise" in r.stderr
    r = pio("calibrate", "pump", "--pump", "media", "--durations", "0.1,0.2", "--measured", "0.6")
    assert r.returncode != 0 and "1 measured volumes for 2 durations" in r.stderr
    with pytest.raises(CalibrationRefused, match="outside 0..120 s"):
        calibrate("media", [0.1, 500.0], lambda i, s: 1.0)
    with pytest.raises(CalibrationRefused, match="not plausible"):
        calibrate("media", [0.1, 0.2], lambda i, s: float("nan"))
    assert calibrations.active("media_pump") is None
    with pytest.raises(CalibrationRefused, match="not all be equal"):
        fit_line([1.0, 1.0], [0.5, 0.6])
