"""Heater safety: the hard maximum, a failing or lying or stuck sensor, sleeping, and the job's end."""

from __future__ import annotations

import json
import math
import signal
import time

import pio_sim
import pytest
from pio_sim.backend import SimThermometer
from pioreactor_kernel.testing import spawn_pio, wait_for
from temperature_simtools import HEAT_SPEED, INTERVAL_S, logged, publish, true_heater_duty, true_temperature

from pio_temperature.job import TemperatureAutomationJob

SIM_MIN = 60 / HEAT_SPEED
FAILSAFE_S = 5.0  # the bound for a killed job


def heating(job: TemperatureAutomationJob) -> None:
    wait_for(lambda: true_heater_duty() > 50, timeout_s=10, what="the thermostat heating")


def test_passing_the_hard_maximum_cuts_the_heater_off_until_acknowledged(unit, recorder, configure):
    configure(max_temperature_c="30")
    topic = f"{unit.job}/temperature"
    with TemperatureAutomationJob(automation_name="thermostat", target_temperature=37.0) as job:
        wait_for(lambda: job.fault, timeout_s=20 * SIM_MIN, what="the cut-off")
        assert true_heater_duty() == 0.0
        wait_for(lambda: "HeaterCutOff" in (recorder.last(f"{unit.job}/latest_event") or ""), timeout_s=5)
        event = json.loads(recorder.last(f"{unit.job}/latest_event"))
        readings = [json.loads(p)["temperature"] for p in recorder.payloads(topic) if p]
        first_above = next(t for t in readings if t > 30.0)
        assert event["data"]["temperature"] == first_above  # cut off on the first reading above the maximum
        assert "above the hard maximum 30 °C" in recorder.last(f"{unit.job}/fault")
        assert logged(recorder, unit, "ERROR", "heater cut off")
        # the thermostat still wants heat, the heater stays off, the vial cools below the maximum
        wait_for(lambda: true_temperature() < 29.0, timeout_s=10 * SIM_MIN, what="cooling with the heater off")
        assert true_heater_duty() == 0.0 and job.heater_duty_cycle == 0.0
        publish(unit, "fault/set", "not empty")
        wait_for(lambda: logged(recorder, unit, "ERROR", "refused fault/set"), timeout_s=5)
        assert job.fault
        publish(unit, "fault/set", "")  # acknowledged: heat again, and be cut off again at 30 °C
        wait_for(lambda: true_heater_duty() > 0, timeout_s=5, what="heating after the acknowledgement")
        wait_for(lambda: job.fault and job.latest_event["event_name"] == "HeaterCutOff", timeout_s=10 * SIM_MIN,
                 what="the second cut-off")
        assert job.latest_event["data"]["temperature"] > 30.0 and true_heater_duty() == 0.0


def _nan(self):
    return math.nan


def _absurd(self):
    return 1e6


def _fails(self):
    raise OSError(121, "Remote I/O error")


def _disagree(self, calls=[0]):  # noqa: B006 - a counter shared by the calls of one test
    calls[0] += 1
    return (20.0, 35.0, 50.0)[calls[0] % 3]  # no two samples of a reading agree


GARBAGE = {"nan": _nan, "absurd": _absurd, "i2c-error": _fails, "disagreeing-samples": _disagree}


@pytest.mark.parametrize("garbage", list(GARBAGE))
def test_a_sensor_returning_garbage_switches_the_heater_off_and_locks_it_after_3_readings(
        unit, recorder, monkeypatch, garbage):
    with TemperatureAutomationJob(automation_name="thermostat", target_temperature=37.0) as job:
        heating(job)
        published_before = len(recorder.payloads(f"{unit.job}/temperature"))
        monkeypatch.setattr(SimThermometer, "read_celsius", GARBAGE[garbage])
        wait_for(lambda: true_heater_duty() == 0.0, timeout_s=10 * INTERVAL_S + 2, what="heater off at once")
        wait_for(lambda: job.fault, timeout_s=10 * INTERVAL_S + 2, what="the sensor declared failed")
        assert "temperature sensor failed: 3 bad readings" in job.fault
        wait_for(lambda: "sensor failed" in (recorder.last(f"{unit.job}/fault") or ""), timeout_s=5)
        assert len(logged(recorder, unit, "ERROR", "bad temperature reading")) == 2  # published before the fault
        published_after = len(recorder.payloads(f"{unit.job}/temperature"))
        assert published_after <= published_before + 1  # garbage is never published as a temperature
        assert job.state == "ready" and true_heater_duty() == 0.0


def test_a_single_garbage_sample_is_outvoted_by_the_others(unit, monkeypatch):
    original, calls = SimThermometer.read_celsius, [0]

    def every_third_nan(self):
        calls[0] += 1
        return math.nan if calls[0] % 3 == 0 else original(self)

    monkeypatch.setattr(SimThermometer, "read_celsius", every_third_nan)
    with TemperatureAutomationJob(automation_name="thermostat", target_temperature=37.0) as job:
        wait_for(lambda: job.reading_seq >= 10, timeout_s=20 * INTERVAL_S + 5)
        assert not job.fault and true_heater_duty() > 0 and calls[0] >= 30


def test_a_stuck_sensor_under_a_working_heater_locks_the_heater_off(unit, monkeypatch):
    with TemperatureAutomationJob(automation_name="thermostat", target_temperature=37.0) as job:
        heating(job)
        monkeypatch.setattr(SimThermometer, "read_celsius", lambda self: 25.0)
        wait_for(lambda: job.fault, timeout_s=20 * INTERVAL_S + 5, what="stuck sensor found")
        assert "stuck" in job.fault and true_heater_duty() == 0.0


def test_a_quiet_sensor_with_the_heater_off_is_not_called_stuck(unit, monkeypatch):
    monkeypatch.setattr(SimThermometer, "read_celsius", lambda self: 25.0)
    with TemperatureAutomationJob(automation_name="only_record_temperature") as job:
        wait_for(lambda: job.reading_seq >= 12, timeout_s=30 * INTERVAL_S + 5)
        assert not job.fault


def test_the_heater_is_off_while_the_sensor_samples_when_a_pause_is_configured(unit, monkeypatch, configure):
    configure(heater_pause_s="0.1")
    original, duty_at_sampling = SimThermometer.read_celsius, []

    def spy(self):
        with self.store.step() as (state, _):
            duty_at_sampling.append(state.pwm.get("5", 0.0))
        return original(self)

    monkeypatch.setattr(SimThermometer, "read_celsius", spy)
    with TemperatureAutomationJob(automation_name="thermostat", target_temperature=37.0) as job:
        heating(job)
        seen = len(duty_at_sampling)
        wait_for(lambda: len(duty_at_sampling) >= seen + 9, timeout_s=20 * INTERVAL_S + 5)
        assert job.heater_duty_cycle > 0
    assert duty_at_sampling and set(duty_at_sampling) == {0.0}


def test_sleeping_switches_the_heater_off_and_ready_resumes(unit):
    with TemperatureAutomationJob(automation_name="thermostat", target_temperature=37.0) as job:
        heating(job)
        publish(unit, "$state/set", "sleeping")
        wait_for(lambda: job.state == "sleeping" and true_heater_duty() == 0.0, timeout_s=5)
        publish(unit, "$state/set", "ready")
        heating(job)


def _run_in_subprocess(*options: str):
    proc = spawn_pio("run", "temperature_automation", "--automation-name", "thermostat", "--target-temperature", "37",
                     *options)
    wait_for(lambda: proc.poll() is None and pio_sim.true_state()["pwm"].get("5", 0.0) > 0, timeout_s=30,
             interval_s=0.1, what="the job heating")
    return proc


def _reap(proc) -> str:
    if proc.poll() is None:
        proc.kill()
    proc.wait(10)
    output = proc.stderr.read()
    proc.stdout.close()
    proc.stderr.close()
    return output


def test_a_job_killed_with_sigkill_leaves_the_heater_off_within_5_s(unit):
    proc = _run_in_subprocess()
    try:
        proc.send_signal(signal.SIGKILL)
        killed_at = time.monotonic()
        wait_for(lambda: pio_sim.true_state()["pwm"].get("5", 0.0) == 0.0, timeout_s=FAILSAFE_S, interval_s=0.1,
                 what="heater off after SIGKILL (the kernel's output lease and watchdog)")
        assert time.monotonic() - killed_at < FAILSAFE_S
    finally:
        _reap(proc)
    with TemperatureAutomationJob(automation_name="only_record_temperature"):  # nothing left to purge by hand
        pass


def test_a_job_stopped_over_mqtt_switches_the_heater_off_itself(unit, recorder):
    proc = _run_in_subprocess()
    try:
        publish(unit, "$state/set", "disconnected")
        assert proc.wait(15) == 0
    finally:
        output = _reap(proc)
    assert pio_sim.true_state()["pwm"].get("5", 0.0) == 0.0
    assert "stopped: heater off" in output
    wait_for(lambda: recorder.last(f"{unit.job}/$state") == "disconnected", timeout_s=5)
