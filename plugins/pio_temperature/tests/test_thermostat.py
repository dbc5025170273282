"""The thermostat against the simulated vial: reach 37 °C, hold it, reject a change of room temperature."""

from __future__ import annotations

import json
import time

from pioreactor_kernel.testing import wait_for
from temperature_simtools import HEAT_SPEED, step_ambient, true_heater_duty, true_temperature

from pio_temperature.job import TemperatureAutomationJob

TOLERANCE_C = 0.5
SIM_MIN = 60 / HEAT_SPEED  # real seconds per simulated minute


def worst_error_c(sim_minutes: float, target: float) -> float:
    """The largest |true temperature - target| seen while polling for ``sim_minutes``."""
    worst, end = 0.0, time.monotonic() + sim_minutes * SIM_MIN
    while time.monotonic() < end:
        worst = max(worst, abs(true_temperature() - target))
        time.sleep(0.02)
    return worst


def test_thermostat_reaches_37_within_half_a_degree_and_holds_it(unit, recorder):
    assert abs(true_temperature() - 22.0) < 2.0
    t0 = time.monotonic()
    with TemperatureAutomationJob(automation_name="thermostat", target_temperature=37.0) as job:
        # about 6 simulated minutes at full heat; allow 30
        wait_for(lambda: abs(true_temperature() - 37.0) <= TOLERANCE_C, timeout_s=30 * SIM_MIN,
                 what="vial within 0.5 °C of 37 °C")
        reached_min = (time.monotonic() - t0) / SIM_MIN
        worst = worst_error_c(12, 37.0)
        assert worst <= TOLERANCE_C, f"reached 37 °C after {reached_min:.1f} sim min, then drifted {worst:.2f} °C"
        published = json.loads(recorder.last(f"{unit.job}/temperature"))
        assert set(published) == {"temperature", "timestamp"} and published["timestamp"].endswith("Z")
        assert abs(published["temperature"] - 37.0) < TOLERANCE_C
        assert 20 < float(recorder.last(f"{unit.job}/heater_duty_cycle")) < 90  # ~15 °C of a 30 °C range
        assert 20 < true_heater_duty() < 90
        event = json.loads(recorder.last(f"{unit.job}/latest_event"))
        assert event["event_name"] == "UpdatedHeaterDC" and event["data"]["target_temperature"] == 37.0
        assert job.reading_seq > 20
    assert true_heater_duty() == 0.0  # a clean stop leaves the heater off


def test_a_step_in_room_temperature_is_rejected(unit, monkeypatch):
    with TemperatureAutomationJob(automation_name="thermostat", target_temperature=37.0):
        wait_for(lambda: abs(true_temperature() - 37.0) <= TOLERANCE_C, timeout_s=30 * SIM_MIN, what="37 °C")
        assert worst_error_c(2, 37.0) <= TOLERANCE_C
        duty_before = true_heater_duty()
        step_ambient(17.0, monkeypatch)  # the room cools by 5 °C at once: 1/3 of the heater's range
        wait_for(lambda: true_temperature() < 37.0 - 0.3, timeout_s=5 * SIM_MIN, what="the vial feels the cold room")
        t_step = time.monotonic()
        wait_for(lambda: abs(true_temperature() - 37.0) <= 0.25, timeout_s=30 * SIM_MIN, what="back to 37 °C")
        print(f"back within 0.25 °C {(time.monotonic() - t_step) / SIM_MIN:.1f} simulated minutes after the step")
        worst = worst_error_c(5, 37.0)
        assert worst <= TOLERANCE_C, f"after the step the vial drifted {worst:.2f} °C from 37 °C"
        assert true_heater_duty() > duty_before + 10  # the integral found the new heat loss
