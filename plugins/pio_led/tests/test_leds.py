"""LED channels through the action, the Python API and MQTT: they persist, events and retained state."""

from __future__ import annotations

import json
import time

import pio_sim
import pytest

from pioreactor_kernel import hardware, registry
from pioreactor_kernel.mqtt import BrokerAddress, publish_once
from pioreactor_kernel.testing import Recorder, pio, wait_for

EVENT_KEYS = {"channel", "intensity", "source_of_event", "timestamp"}


def sim_leds() -> dict[str, float]:
    return pio_sim.true_state()["led"]


def events(recorder, unit) -> list[dict]:
    return [json.loads(p) for p in recorder.payloads(f"{unit.base}/led_change_events")]


def test_action_lights_channels_that_stay_lit_after_it_exits_with_events_and_retained_state(unit, recorder):
    result = pio("run", "led_intensity", "--B", "50", "--C", "20")
    assert result.returncode == 0, result.stderr
    assert "B: 50 %" in result.stdout and "C: 20 %" in result.stdout
    assert sim_leds()["B"] == 50.0 and sim_leds()["C"] == 20.0  # the action has exited: the owner holds them
    owner = registry.read("leds")
    assert owner is not None and hardware.holder_of("led", "B").pid == owner.pid
    wait_for(lambda: len(events(recorder, unit)) >= 2, what="two led_change_events")
    got = events(recorder, unit)
    assert all(set(e) == EVENT_KEYS and e["source_of_event"] == "led_intensity" and e["timestamp"].endswith("Z")
               for e in got)
    assert {(e["channel"], e["intensity"]) for e in got} == {("B", 50.0), ("C", 20.0)}
    late = Recorder(unit.port, f"{unit.base}/leds/intensity")  # any process, any time later, knows them
    try:
        wait_for(lambda: late.last(f"{unit.base}/leds/intensity"), what="retained intensities")
        assert json.loads(late.last(f"{unit.base}/leds/intensity")) == {"A": 0.0, "B": 50.0, "C": 20.0, "D": 0.0}
    finally:
        late.close()
    assert pio("run", "led_intensity", "--B", "0").returncode == 0
    assert sim_leds()["B"] == 0.0 and sim_leds()["C"] == 20.0
    assert hardware.holder_of("led", "B") is None  # off means released, for any other job
    assert len(events(recorder, unit)) == 3  # unchanged C: no event
    printed = pio("run", "led_intensity")
    assert "B: 0 %" in printed.stdout and "C: 20 %" in printed.stdout


def test_python_api_and_mqtt_set_and_stopping_the_owner_switches_everything_off(unit, recorder, stop_leds):
    from pio_led import led_intensity

    now = led_intensity({"d": 10, "B": 5.5}, source_of_event="my_script")
    assert now == {"A": 0.0, "B": 5.5, "C": 0.0, "D": 10.0}
    assert sim_leds()["D"] == 10.0
    publish_once(f"{unit.base}/leds/intensity/set", '{"D": 30}', address=BrokerAddress("127.0.0.1", unit.port))
    wait_for(lambda: sim_leds()["D"] == 30.0, what="D at 30 % via intensity/set")
    wait_for(lambda: {e["source_of_event"] for e in events(recorder, unit)} == {"my_script", "mqtt"},
             what="events from both sources")
    stop_leds()
    assert sim_leds()["B"] == 0.0 and sim_leds()["D"] == 0.0
    recorder.wait_for_value(f"{unit.base}/leds/$state", "disconnected")
    assert json.loads(recorder.last(f"{unit.base}/leds/intensity")) == {"A": 0.0, "B": 0.0, "C": 0.0, "D": 0.0}


@pytest.mark.parametrize("args", [["--B", "nan"], ["--B", "150"], ["--C", "-1"], ["--D", "inf"], ["--B", "lots"]])
def test_bad_intensities_are_refused_before_anything_changes(unit, args):
    result = pio("run", "led_intensity", *args)
    assert result.returncode != 0 and "Error" in result.stderr and "Traceback" not in result.stderr
    assert registry.read("leds") is None  # refused before starting anything


def test_api_refuses_unknown_channels_and_non_numbers(unit):
    from pio_led import led_intensity
    from pio_led.channels import LEDError

    for bad in ({"E": 10}, {"B": "50"}, {"B": True}, {}, {"B": float("nan")}):
        with pytest.raises(LEDError):
            led_intensity(bad)
    assert registry.read("leds") is None


def test_ir_led_held_by_od_reading_cannot_be_changed_and_others_can(unit, recorder):
    ir = hardware.open_led("ir", owner="od_reading")  # what od_reading does while it runs
    try:
        ir.set_intensity(70)
        result = pio("run", "led_intensity", "--A", "10", "--B", "40")
        assert result.returncode != 0
        assert "IR LED" in result.stderr and "od_reading" in result.stderr and "stop it first" in result.stderr
        assert sim_leds()["A"] == 70.0 and sim_leds().get("B", 0.0) == 0.0  # all or nothing
        assert pio("run", "led_intensity", "--B", "40").returncode == 0
        assert sim_leds()["B"] == 40.0
        # od_reading announces its own IR changes; everyone (the owner's retained state too) learns them
        publish_once(f"{unit.base}/led_change_events", json.dumps(
            {"channel": "A", "intensity": 70.0, "source_of_event": "od_reading", "timestamp": "2026-01-01T00:00:00Z"}),
            address=BrokerAddress("127.0.0.1", unit.port))
        wait_for(lambda: json.loads(recorder.last(f"{unit.base}/leds/intensity") or "{}").get("A") == 70.0,
                 what="the IR intensity folded into leds/intensity")
    finally:
        ir.close()
    assert pio("run", "led_intensity", "--A", "10").returncode == 0  # free again once od_reading is gone
    assert sim_leds()["A"] == 10.0


def test_an_idle_owner_exits_and_the_next_change_starts_another(unit, recorder, monkeypatch):
    from pio_led import led_intensity

    monkeypatch.setenv("PIO__leds__idle_exit_s", "1.5")
    led_intensity({"B": 10})
    first = registry.read("leds")
    led_intensity({"B": 0})
    wait_for(lambda: registry.read("leds") is None, timeout_s=10, what="the idle owner to exit")
    # the owner exits once the broker has its last state; the broker forwards it to us after that
    recorder.wait_for_value(f"{unit.base}/leds/$state", "disconnected", timeout_s=5)
    assert led_intensity({"C": 5}) == {"A": 0.0, "B": 0.0, "C": 5.0, "D": 0.0}
    second = registry.read("leds")
    assert second is not None and second.pid != first.pid and sim_leds()["C"] == 5.0
    time.sleep(3.0)  # a negative: twice the idle time passes, and an owner with a lit LED stays
    assert registry.read("leds").pid == second.pid and sim_leds()["C"] == 5.0
