"""The job on the wire: readings at a settable interval, live switching, refused input, the CLI."""

from __future__ import annotations

import json
import re

import pytest
from pioreactor_kernel.config import ConfigError
from pioreactor_kernel.testing import pio, wait_for
from temperature_simtools import INTERVAL_S, logged, publish, true_heater_duty

from pio_temperature.config import DEFAULTS
from pio_temperature.job import TemperatureAutomationJob


def test_readings_are_published_in_the_dialect_at_a_settable_interval(unit, recorder):
    topic = f"{unit.job}/temperature"
    with TemperatureAutomationJob(reading_interval_s=0.2) as job:
        assert job.automation_name == "only_record_temperature"
        wait_for(lambda: len(recorder.payloads(topic)) >= 5, timeout_s=10, what="5 readings at 0.2 s")
        reading = json.loads(recorder.last(topic))
        assert set(reading) == {"temperature", "timestamp"} and 15 < reading["temperature"] < 30
        assert recorder.last(f"{unit.job}/reading_interval_s") == "0.2"
        publish(unit, "reading_interval_s/set", "3")
        wait_for(lambda: job.reading_interval_s == 3.0, timeout_s=5)
        count = len(recorder.payloads(topic))
        publish(unit, "reading_interval_s/set", "0.2")  # a round trip through the broker takes far less than 3 s
        wait_for(lambda: job.reading_interval_s == 0.2, timeout_s=5)
        assert len(recorder.payloads(topic)) <= count + 1
        wait_for(lambda: len(recorder.payloads(topic)) >= count + 5, timeout_s=10, what="back to 0.2 s")
        props = recorder.last(f"{unit.job}/$properties").split(",")
        assert {"temperature", "heater_duty_cycle", "reading_interval_s", "fault", "automation_name"} <= set(props)
    wait_for(lambda: recorder.last(topic) == "", timeout_s=5, what="the retained reading cleared when the job ends")


def test_switching_automations_live_without_restarting(unit, recorder):
    with TemperatureAutomationJob(automation_name="only_record_temperature") as job:
        client_id = job.client.client_id
        wait_for(lambda: job.reading_seq >= 2, timeout_s=5)
        assert true_heater_duty() == 0.0
        publish(unit, "automation/set", {"automation_name": "thermostat", "args": {"target_temperature": 40}})
        wait_for(lambda: job.automation_name == "thermostat" and true_heater_duty() > 50, timeout_s=10,
                 what="thermostat heating")
        wait_for(lambda: "target_temperature" in recorder.last(f"{unit.job}/$properties"), timeout_s=5)
        publish(unit, "target_temperature/set", "30.5")
        wait_for(lambda: job.automation.target_temperature == 30.5, timeout_s=5)
        expected = {"automation_name": "thermostat", "args": {"duration": 1.0, "target_temperature": 30.5}}
        wait_for(lambda: json.loads(recorder.last(f"{unit.job}/temperature_automation_settings")) == expected,
                 timeout_s=5, what="the automation's settings published")
        publish(unit, "automation_name/set", "only_record_temperature")
        wait_for(lambda: job.automation_name == "only_record_temperature" and true_heater_duty() == 0.0, timeout_s=5)
        assert job.heater_duty_cycle == 0.0 and job.client.client_id == client_id and job.state == "ready"
        seq = job.reading_seq
        wait_for(lambda: job.reading_seq >= seq + 2, timeout_s=10 * INTERVAL_S + 5, what="readings go on")


def test_bad_values_are_refused_and_the_job_keeps_running(unit, recorder):
    with TemperatureAutomationJob(automation_name="thermostat", target_temperature=37.0) as job:
        for suffix, payload in [("target_temperature/set", "nan"), ("target_temperature/set", "80"),
                                ("target_temperature/set", "warm"), ("reading_interval_s/set", "0"),
                                ("reading_interval_s/set", "inf"), ("heater_duty_cycle/set", "100")]:
            publish(unit, suffix, payload)
        wait_for(lambda: len(logged(recorder, unit, "ERROR", "refused")) >= 6, timeout_s=5,
                 what=f"6 refusals (got {logged(recorder, unit, 'ERROR', 'refused')})")
        assert job.automation.target_temperature == 37.0 and job.reading_interval_s == INTERVAL_S
        assert job.state == "ready" and not job.fault
        seq = job.reading_seq
        wait_for(lambda: job.reading_seq > seq, timeout_s=5)
        assert job.set_heater_duty(250) == 100.0  # an automation asking too much gets the maximum


def test_pio_run_offers_the_automations_options(unit):
    result = pio("run", "temperature_automation", "--help", check=True)
    for option in ("--automation-name", "--target-temperature", "--reading-interval-s", "thermostat",
                   "only_record_temperature"):
        assert option in result.stdout
    refused = pio("run", "temperature_automation", "--automation-name", "thermostat", "--target-temperature", "90")
    assert refused.returncode != 0 and "above the maximum 50" in refused.stdout + refused.stderr
    assert true_heater_duty() == 0.0


@pytest.mark.parametrize(("key", "value", "why"), [
    ("max_temperature_c", "nan", "not a finite number"),
    ("heater_pause_s", "soon", "must be 'auto' or a number"),
    ("max_heater_duty_percent", "0", "must be in (0, 100]"),
])
def test_a_bad_config_value_refuses_to_start_and_names_the_key(unit, configure, key, value, why):
    configure(**{key: value})
    with pytest.raises(ConfigError, match=rf"\[temperature_automation\] {key}.*{re.escape(why)}"):
        TemperatureAutomationJob(automation_name="thermostat", target_temperature=37.0)
    assert true_heater_duty() == 0.0
    configure(**{key: DEFAULTS["temperature_automation"][key]})
    with TemperatureAutomationJob():  # nothing was left half-open
        pass
