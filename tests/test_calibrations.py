"""The calibration store and its CLI."""

from __future__ import annotations

import pytest

from pioreactor_kernel import calibrations as store
from pioreactor_kernel.calibrations import Calibration, CalibrationError
from pioreactor_kernel.testing import pio


def _cal(name: str, slope: float = 2.0) -> Calibration:
    return Calibration(device="stirring", name=name, calibration_type="stirring", x="duty_cycle", y="rpm",
                       x_unit="%", y_unit="rpm", recorded_x=[10, 20, 30], recorded_y=[20, 41, 59],
                       curve_type="poly", curve_data=[slope, 0.5])


def test_save_load_activate_delete(unit):
    store.save(_cal("first"))
    store.save(_cal("second", 3.0), activate=False)
    assert store.active_name("stirring") == "first"
    assert store.load("stirring", "second").predict(10) == pytest.approx(30.5)
    store.set_active("stirring", "second")
    assert store.active("stirring").name == "second"
    store.delete("stirring", "second")
    assert store.active("stirring") is None
    assert store.list_names("stirring") == ["first"]
    with pytest.raises(CalibrationError, match="known: first"):
        store.load("stirring", "missing")
    with pytest.raises(CalibrationError, match="invalid name"):
        store.save(_cal("../escape"))


def test_monotone_curve_interpolates_and_clamps():
    cal = Calibration(device="od90", name="c", calibration_type="od", x="voltage", y="od600",
                      curve_type="monotone", curve_data=[[0.0, 1.0, 2.0], [0.0, 0.5, 2.0]])
    assert cal.predict(0.5) == pytest.approx(0.25)
    assert cal.predict(5) == 2.0 and cal.predict(-1) == 0.0


def test_calibrations_cli(unit):
    store.save(_cal("first"))
    listing = pio("calibrations", "list").stdout
    assert "* stirring" in listing and "first" in listing
    shown = pio("calibrations", "show", "stirring").stdout
    assert "residual" in shown and "first" in shown
    bad = pio("calibrations", "set-active", "stirring", "nope")
    assert bad.returncode == 1 and "no calibration 'nope'" in bad.stderr
    assert pio("calibrations", "delete", "stirring", "first", "--yes").returncode == 0
    assert "no calibrations yet" in pio("calibrations", "list").stdout
