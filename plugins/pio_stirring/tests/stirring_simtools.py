"""Reach into the simulator's hidden state: read the truth, perturb the motor (tests only)."""

from __future__ import annotations

import json
from pathlib import Path

import pio_sim
from pio_sim.backend import SimBackend

from pioreactor_kernel import calibrations
from pioreactor_kernel.hardware.context import load_config
from pioreactor_kernel.hardware.hwmap import HardwareMap


def truth(data_dir: Path | None = None) -> dict:
    return pio_sim.true_state(data_dir)


def true_rpm_curve(data_dir: Path | None = None) -> tuple[float, float]:
    """(RPM per % duty, stall duty %) of the simulated motor: rpm = slope * (duty - stall) above the stall."""
    state = truth(data_dir)
    rpm_per_duty = float(load_config(state_dir(data_dir)).getfloat("sim", "rpm_per_duty", 40.0) or 40.0)
    return rpm_per_duty * state["draws"]["stirring_gain"], state["draws"]["stall_duty"]


def state_dir(data_dir: Path | None) -> Path:
    from pioreactor_kernel.paths import data_dir as default

    return (data_dir or default()).resolve()


def scale_motor_gain(factor: float, data_dir: Path | None = None) -> None:
    """Make the motor weaker or stronger (a thicker liquid, a worn motor), in the running simulation.

    pio_sim has no public API for this yet: advance the vial to now under the old constants and
    rewrite its stored hidden constants in the same transaction; every process picks them up.
    """
    directory = state_dir(data_dir)
    config = load_config(directory)
    backend = SimBackend(config=config, data_dir=directory, unit="perturb", hardware_map=HardwareMap.from_config(config))
    try:
        store = backend.store
        with store.step():
            draws = store.draws.to_dict()
            draws["stirring_gain"] *= factor
            store.conn.execute("UPDATE vial SET draws = ? WHERE id = 1", (json.dumps(draws),))
    finally:
        backend.close()


def save_true_calibration(data_dir: Path | None = None) -> calibrations.Calibration:
    """Store the simulator's true motor curve as the active stirring calibration."""
    slope, stall = true_rpm_curve(data_dir)
    xs = [20.0, 40.0, 60.0, 80.0]
    cal = calibrations.Calibration(device="stirring", name="true-curve", calibration_type="stirring", x="duty_cycle",
                                   y="rpm", x_unit="%", y_unit="RPM", recorded_x=xs,
                                   recorded_y=[slope * (x - stall) for x in xs], curve_type="poly",
                                   curve_data=[slope, -slope * stall])
    calibrations.save(cal)
    return cal
