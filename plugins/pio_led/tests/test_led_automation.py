"""led_automation: a sped-up light/dark cycle drives a phototroph culture; automations switch live."""

from __future__ import annotations

import json

import pio_sim
import pytest

from pioreactor_kernel import hardware
from pioreactor_kernel.mqtt import BrokerAddress, publish_once
from pioreactor_kernel.testing import wait_for

HOUR_S = 3600.0


def sim_leds() -> dict[str, float]:
    return pio_sim.true_state()["led"]


def send(unit, suffix: str, payload: str) -> None:
    publish_once(f"{unit.base}/led_automation/{suffix}", payload, address=BrokerAddress("127.0.0.1", unit.port))


def host(**params):
    from pio_led.automations import LEDAutomationHost

    return LEDAutomationHost(**params)


@pytest.fixture
def phototrophs(unit, monkeypatch):
    """Light-driven growth, biology 3600x (a real second is a biological hour)."""
    monkeypatch.setenv("PIO__sim__phototroph", "true")
    monkeypatch.setenv("PIO__sim__speed", "3600")
    hardware.reset()
    from pio_led import led_intensity

    led_intensity({"B": 0})  # start the LED owner now, so the cycle's first phase is not spent starting it
    return unit


def test_a_sped_up_light_dark_cycle_grows_the_culture_only_in_the_light(phototrophs, recorder):
    unit = phototrophs
    with host(automation_name="light_dark_cycle", duration=0.005, light_intensity=60, channels="B,C",
              light_duration_hours=4 / HOUR_S, dark_duration_hours=4 / HOUR_S):
        wait_for(lambda: sim_leds().get("B") == 60 and sim_leds().get("C") == 60, timeout_s=5, what="lights on")
        light_start = pio_sim.true_state()
        assert light_start["growth_rate_per_h"] > 0.05
        wait_for(lambda: sim_leds()["B"] == 0 and sim_leds()["C"] == 0, timeout_s=8, what="lights off")
        dark_start = pio_sim.true_state()
        assert dark_start["od"] > 1.3 * light_start["od"]  # it grew in the light
        assert dark_start["growth_rate_per_h"] == 0.0
        wait_for(lambda: sim_leds()["B"] == 60, timeout_s=8, what="lights on again")
        dark_end = pio_sim.true_state()
        assert dark_end["od"] == pytest.approx(dark_start["od"], rel=0.02)  # the dark phase stood still
        wait_for(lambda: pio_sim.true_state()["od"] > 1.2 * dark_end["od"], timeout_s=8, what="growth in the light")
        topic = f"{unit.base}/led_automation/latest_event"
        wait_for(lambda: recorder.payloads(topic), what="latest_event")
        names = [json.loads(p)["event_name"] for p in recorder.payloads(topic) if p]
        assert names[:3] == ["LightsOn", "LightsOff", "LightsOn"]
    assert sim_leds()["B"] == 0 and sim_leds()["C"] == 0  # the program stopped: lights off
    sources = {json.loads(p)["source_of_event"] for p in recorder.payloads(f"{unit.base}/led_change_events")}
    assert "led_automation" in sources


def test_automations_switch_live_and_bad_parameters_are_refused(unit, recorder):
    logs = f"{unit.base}/logs/app"
    with host(automation_name="light_dark_cycle", duration=0.005, light_intensity=40, channels="B",
              light_duration_hours=1, dark_duration_hours=1) as job:
        wait_for(lambda: sim_leds().get("B") == 40, timeout_s=20, what="B lit by the cycle")
        send(unit, "automation_name/set", "silent")
        recorder.wait_for_value(f"{unit.base}/led_automation/automation_name", "silent")
        wait_for(lambda: sim_leds()["B"] == 0, timeout_s=5, what="lights off when the cycle stops")
        send(unit, "automation/set", json.dumps({"automation_name": "light_dark_cycle", "args": {
            "light_intensity": 25, "channels": "D", "light_duration_hours": 1, "dark_duration_hours": 1,
            "duration": 0.005}}))
        wait_for(lambda: sim_leds().get("D") == 25, timeout_s=5, what="D lit by the new cycle")
        send(unit, "light_intensity/set", "35")
        wait_for(lambda: sim_leds()["D"] == 35, timeout_s=5, what="a parameter changed live")
        errors_before = sum('"ERROR"' in p for p in recorder.payloads(logs))
        send(unit, "light_intensity/set", "nan")
        send(unit, "automation/set", json.dumps({"automation_name": "light_dark_cycle", "args": {"channels": "Z"}}))
        send(unit, "automation/set", json.dumps({"automation_name": "disco"}))
        wait_for(lambda: sum('"ERROR"' in p for p in recorder.payloads(logs)) >= errors_before + 3, timeout_s=5,
                 what="three refusals logged")
        assert job.automation.automation_name == "light_dark_cycle" and job.automation.light_intensity == 35
        assert sim_leds()["D"] == 35
    assert sim_leds()["D"] == 0


def test_light_dark_cycle_phase_arithmetic(unit):
    from pio_led.automations import LightDarkCycle

    with host(automation_name="silent") as job:
        cycle = LightDarkCycle(job, light_duration_hours=16, dark_duration_hours=8, channels="b, c")
        t0 = cycle._started
        assert cycle.is_light(t0) and cycle.is_light(t0 + 15.9 * HOUR_S)
        assert not cycle.is_light(t0 + 16.1 * HOUR_S) and cycle.is_light(t0 + 24.1 * HOUR_S)
        always = LightDarkCycle(job, light_duration_hours=1, dark_duration_hours=0)
        assert always.is_light(t0 + 5 * HOUR_S)
        with pytest.raises(ValueError, match="no LED channel"):
            LightDarkCycle(job, channels="B,X")
        with pytest.raises(ValueError, match="more than 0"):
            LightDarkCycle(job, light_duration_hours=0, dark_duration_hours=0)
