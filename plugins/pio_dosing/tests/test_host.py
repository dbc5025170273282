"""The dosing_automation job: live switching, parameters, data hygiene, fed-batch limits, stop and kill."""

from __future__ import annotations

import json
import signal

import pytest
from pio_dosing.host import DosingAutomationHost
from pio_dosing.testing import calibrate_from_truth, true_state
from pio_dosing.vial import VialStore

from pioreactor_kernel.mqtt import BrokerAddress, publish_once
from pioreactor_kernel.settings import InvalidSetting
from pioreactor_kernel.testing import pio, spawn_pio, wait_for
from pioreactor_kernel.timestamps import current_utc_timestamp

# the watchdog acts in about a second (docs/hardware.md); this leaves room for a loaded machine
FAILSAFE_S = 5.0

def send(unit, suffix: str, payload: str) -> None:
    publish_once(f"{unit.base}/{suffix}", payload, address=BrokerAddress("127.0.0.1", unit.port))


def refusals(recorder, unit) -> list[str]:
    return [json.loads(p)["message"] for p in recorder.payloads(f"{unit.base}/logs/app")
            if json.loads(p)["level"] == "ERROR"]


def duty(channel: str) -> float:
    return true_state()["pwm"].get(channel, 0.0)


def ods(od, timestamp=None) -> str:
    reading = {"timestamp": timestamp or current_utc_timestamp(), "angle": "90", "od": od, "channel": "2",
               "ir_led_intensity": 50, "calibrated": 1}
    return json.dumps({"timestamp": reading["timestamp"], "ods": {"2": reading}})


def test_automations_and_their_parameters_switch_live_over_mqtt(unit, recorder):
    base = "dosing_automation"
    with DosingAutomationHost() as host:
        assert host.automation_name == "silent"
        send(unit, f"{base}/automation/set", json.dumps({"automation_name": "turbidostat", "args": {"target_od": 0.6}}))
        wait_for(lambda: host.automation_name == "turbidostat", what="switch to turbidostat")
        assert host.automation.target_od == 0.6 and host.automation.exchange_volume_ml == 1.0
        send(unit, f"{base}/target_normalized_od/set", "1.8")  # a live switch of what it targets
        wait_for(lambda: host.automation.target_normalized_od == 1.8, what="target_normalized_od")
        assert host.automation.target_od is None
        wait_for(lambda: recorder.last(f"{unit.base}/{base}/target_od") == "", what="target_od cleared")
        wait_for(lambda: json.loads(recorder.last(f"{unit.base}/{base}/dosing_automation_settings"))["args"] == {
            "duration": 0.25, "target_od": None, "target_normalized_od": 1.8, "exchange_volume_ml": 1.0},
            what="the settings JSON")
        for bad in ("nan", "-1", "50"):
            send(unit, f"{base}/exchange_volume_ml/set", bad)
        send(unit, f"{base}/automation/set", json.dumps({"automation_name": "turbidostat", "args": {}}))
        send(unit, f"{base}/automation/set", json.dumps({"automation_name": "chemostat",
                                                         "args": {"dilution_rate": 0.5, "exchange_volume_ml": 1}}))
        for why in ("exchange_volume_ml: 'nan' is not a finite", "exchange_volume_ml: -1.0 mL is below",
                    "exchange_volume_ml: 50.0 mL is above", "give exactly one of target_od, target_normalized_od",
                    "give exactly one of exchange_volume_ml, dilution_rate"):
            wait_for(lambda why=why: any(why in m for m in refusals(recorder, unit)), what=f"refused: {why}")
        assert host.automation_name == "turbidostat" and host.automation.exchange_volume_ml == 1.0
        send(unit, f"{base}/automation_name/set", "chemostat")  # carries exchange_volume_ml over
        wait_for(lambda: host.automation_name == "chemostat", what="switch to chemostat")
        assert host.automation.exchange_volume_ml == 1.0 and host.state == "ready"
    assert true_state()["media_in_ml"] == 0.0  # silent and the refused requests never dosed


def test_a_missing_or_contradictory_target_is_a_clear_error(unit):
    with pytest.raises(InvalidSetting, match="give exactly one of target_od, target_normalized_od"):
        DosingAutomationHost(automation_name="turbidostat")
    with pytest.raises(InvalidSetting, match="target_growth_rate is required"):
        DosingAutomationHost(automation_name="pid_morbidostat", target_od=1.0)


def test_decisions_use_only_fresh_valid_od_measured_after_the_last_dose(unit, recorder):
    calibrate_from_truth()
    topic = "od_reading/ods"
    with DosingAutomationHost(automation_name="turbidostat", target_od=0.5, duration=60) as host:
        assert host.run_now().message.startswith("waiting for an OD")
        for garbage in ("{not json", json.dumps({"ods": {"2": {"od": "x"}}}), ods(float("nan")), ods(-0.0 + 1e400)):
            send(unit, topic, garbage)
        send(unit, topic, ods(0.9, timestamp="2020-01-01T00:00:00.000000Z"))  # far too old
        host.client.sync()
        assert host.run_now().message.startswith("waiting for an OD")
        send(unit, topic, ods(0.3))
        wait_for(lambda: host.run_now().message.startswith("OD 0.3 < target 0.5"), what="a fresh reading")
        send(unit, topic, ods(0.55))
        wait_for(lambda: host.latest_event["event_name"] == "DilutionEvent" or host.run_now() is None,
                 what="a dilution")
        assert "OD 0.55 >= target 0.5: exchanged 1 mL" in host.latest_event["message"]
        assert host.run_now().message.startswith("waiting for an OD")  # never twice on the same reading
    assert true_state()["media_in_ml"] == pytest.approx(1.0, rel=0.1)


def test_fed_batch_fills_the_vial_to_its_maximum_and_no_further(unit, recorder):
    calibrate_from_truth()
    with DosingAutomationHost(automation_name="fed_batch", volume_ml=2.5, duration=60) as host:
        messages = [host.run_now().message for _ in range(4)]
    assert messages[:2] == ["fed 2.5 mL of media; vial now 16.50 mL", "fed 2.5 mL of media; vial now 19.00 mL"]
    assert messages[2].startswith("vial full: 19 mL + 2.5 mL would exceed 20 mL") and messages[3] == messages[2]
    state = true_state()
    assert state["volume_ml"] == pytest.approx(19.0, abs=0.3) and state["overflow_ml"] == 0.0
    assert VialStore().get(unit.experiment).current_volume_ml == pytest.approx(19.0)


@pytest.mark.parametrize("unit", [{"pump_flow_ml_s": "20"}], indirect=True)
def test_an_exchange_starts_by_bringing_an_overfull_vial_back_to_the_working_volume(unit):
    calibrate_from_truth()
    with DosingAutomationHost(automation_name="fed_batch", volume_ml=2.5, duration=60) as host:
        host.run_now()
        host.switch("chemostat", {"exchange_volume_ml": 1.0})
        event = host.run_now()
    assert event.event_name == "DilutionEvent", event
    assert event.data["waste_ml"] == pytest.approx(2 * 2.5 + 2 * 1.0)  # the excess, then the exchange, x2 each
    assert VialStore().get(unit.experiment).current_volume_ml == pytest.approx(14.0)
    assert true_state()["volume_ml"] == pytest.approx(14.0, abs=0.05)


def test_an_automation_with_uncalibrated_pumps_says_why_it_does_not_dose(unit):
    with DosingAutomationHost(automation_name="chemostat", exchange_volume_ml=0.5, duration=60) as host:
        event = host.run_now()
    assert event.event_name == "DosingInterrupted"
    assert "pump `media` has no calibration" in event.message and "pio calibrate pump --pump media" in event.message
    assert true_state()["media_in_ml"] == 0.0


@pytest.mark.parametrize("unit", [{"pump_flow_ml_s": "0.5"}], indirect=True)  # slow pumps: 2 s per 1 mL chunk
def test_sleeping_stops_a_running_dose_and_ready_resumes(unit, recorder):
    calibrate_from_truth()
    with DosingAutomationHost(automation_name="chemostat", exchange_volume_ml=1.0, duration=0.005) as host:
        wait_for(lambda: duty("2") == 100.0, timeout_s=10, what="media pump on")
        send(unit, "dosing_automation/$state/set", "sleeping")
        wait_for(lambda: duty("2") == 0.0, timeout_s=FAILSAFE_S, what="pump off when sleeping")
        wait_for(lambda: (host.latest_event or {}).get("event_name") == "DosingInterrupted", what="interrupted")
        assert host.state == "sleeping" and duty("4") == 0.0
        moved = true_state()["media_in_ml"]
        assert 0 < moved < 1.0
        send(unit, "dosing_automation/$state/set", "ready")
        wait_for(lambda: true_state()["media_in_ml"] > moved + 0.1, timeout_s=10, what="dosing again when ready")


@pytest.mark.parametrize("unit", [{"pump_flow_ml_s": "0.5"}], indirect=True)  # slow pumps: 2 s per 1 mL chunk
def test_a_dosing_job_killed_mid_dose_leaves_no_pump_running(unit, recorder):
    calibrate_from_truth()
    args = ("run", "dosing_automation", "--automation-name", "chemostat", "--exchange-volume-ml", "1",
            "--duration", "0.005")
    proc = spawn_pio(*args)
    try:
        wait_for(lambda: duty("2") == 100.0, timeout_s=20, what="media pump on")
        proc.send_signal(signal.SIGKILL)
        proc.wait(10)
        wait_for(lambda: duty("2") == 0.0, timeout_s=FAILSAFE_S, interval_s=0.01, what="media pump off after kill -9")
        assert "dosing_automation" not in pio("jobs").stdout
    finally:
        proc.kill()
    proc = spawn_pio(*args)  # starts at once: no stale lock, no pump held
    try:
        wait_for(lambda: duty("2") == 100.0, timeout_s=20, what="media pump on again")
        r = pio("kill", "dosing_automation")  # a clean stop mid-dose: the pump stops, the part moved is counted
        assert "stopped" in r.stdout, r.stdout + r.stderr
        assert proc.wait(10) == 0
        assert duty("2") == 0.0 and duty("4") == 0.0
    finally:
        proc.kill()
    events = [json.loads(p) for p in recorder.payloads(f"{unit.base}/dosing_events")]
    assert events and events[-1]["event"] == "add_media" and 0 < events[-1]["volume_change"] < 1.0
