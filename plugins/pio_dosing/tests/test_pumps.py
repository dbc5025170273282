"""Pump actions against the simulator: events, tracked volume, calibration gate, safety, stopping."""

from __future__ import annotations

import json
import math
import signal
import threading

import pytest
from pio_dosing import add_alt_media, add_media, remove_waste
from pio_dosing.pumps import DosingRefused
from pio_dosing.testing import calibrate_from_truth, true_state
from pio_dosing.vial import VialStore

from pioreactor_kernel.mqtt import BrokerAddress, publish_once
from pioreactor_kernel.testing import pio, spawn_pio, wait_for

# the watchdog acts in about a second (docs/hardware.md); this leaves room for a loaded machine
FAILSAFE_S = 5.0

def duty(channel: str) -> float:
    return true_state()["pwm"].get(channel, 0.0)


def events(recorder, unit) -> list[dict]:
    return [json.loads(p) for p in recorder.payloads(f"{unit.base}/dosing_events")]


def tracked(recorder, unit, name: str) -> float:
    return float(recorder.last(f"{unit.base}/bioreactor/{name}"))


def test_a_timed_dose_publishes_a_dosing_event_and_the_tracked_volume(unit, recorder):
    result = add_media(duration_s=0.2)  # uncalibrated: allowed by seconds, estimated at the nominal flow
    assert result.completed and result.volume_ml == pytest.approx(0.1)  # 0.5 mL/s nominal
    wait_for(lambda: events(recorder, unit), what="dosing event")
    (event,) = events(recorder, unit)
    assert set(event) == {"volume_change", "event", "source_of_event", "timestamp"}
    assert event["event"] == "add_media" and event["source_of_event"] == "manual"
    assert event["volume_change"] == pytest.approx(0.1) and event["timestamp"].endswith("Z")
    wait_for(lambda: recorder.last(f"{unit.base}/bioreactor/current_volume_ml"), what="volume")
    assert tracked(recorder, unit, "current_volume_ml") == pytest.approx(14.1)
    assert tracked(recorder, unit, "alt_media_fraction") == 0.0
    flow = 5.0 * (1 + true_state()["draws"]["pump_error"]["media"])
    assert true_state()["media_in_ml"] == pytest.approx(0.2 * flow, rel=0.25)  # the pump really ran ~0.2 s
    assert duty("2") == 0.0


def test_dosing_by_ml_without_a_calibration_is_refused_unless_allowed(unit):
    r = pio("run", "add_media", "--ml", "0.5")
    assert r.returncode != 0 and "pump `media` has no calibration" in r.stderr
    assert "pio calibrate pump --pump media" in r.stderr
    assert true_state()["media_in_ml"] == 0.0
    r = pio("run", "add_media", "--ml", "0.5", "--allow-uncalibrated")
    assert r.returncode == 0, r.stderr
    assert "add_media: 0.5 mL" in r.stdout
    assert true_state()["media_in_ml"] > 0


def test_a_calibrated_dose_by_ml_moves_that_volume(unit, recorder):
    calibrate_from_truth("media", "alt_media")
    add_media(ml=1.0)
    add_alt_media(ml=0.5)
    state = true_state()
    assert state["media_in_ml"] == pytest.approx(1.0, rel=0.1)
    assert state["alt_media_in_ml"] == pytest.approx(0.5, rel=0.15)
    wait_for(lambda: len(events(recorder, unit)) == 2, what="two events")
    assert [e["event"] for e in events(recorder, unit)] == ["add_media", "add_alt_media"]
    wait_for(lambda: recorder.last(f"{unit.base}/bioreactor/alt_media_fraction") != "0.0", what="alt fraction")
    assert tracked(recorder, unit, "current_volume_ml") == pytest.approx(15.5)
    assert tracked(recorder, unit, "alt_media_fraction") == pytest.approx(0.5 / 15.5, rel=1e-4)
    assert state["alt_media_fraction"] == pytest.approx(0.5 / 15.5, rel=0.15)  # what the vial really holds


@pytest.mark.parametrize(("amount", "why"), [("nan", "must be a finite number"), ("abc", "is not a valid float")])
def test_bad_amounts_are_refused_with_a_clear_error_and_the_pump_never_runs(unit, amount, why):
    r = pio("run", "add_media", "--duration-s", amount)
    assert r.returncode != 0 and why in r.stderr and "Traceback" not in r.stderr, r.stderr
    assert true_state()["media_in_ml"] == 0.0


def test_bad_amounts_from_python_raise_dosing_refused(unit):
    calibrate_from_truth("media")
    for kwargs in ({"ml": math.nan}, {"ml": -2.0}, {"ml": 0}, {"ml": 11.0}, {"duration_s": math.inf},
                   {"duration_s": 0.0}, {"duration_s": 1e6}, {"ml": True}, {"ml": "1"}, {},
                   {"ml": 1.0, "duration_s": 1.0}):
        with pytest.raises(DosingRefused):
            add_media(**kwargs)
    assert true_state()["media_in_ml"] == 0.0


@pytest.mark.parametrize("unit", [{"pump_flow_ml_s": "20"}], indirect=True)
def test_a_dose_that_would_exceed_the_vials_maximum_is_refused(unit):
    calibrate_from_truth()
    with pytest.raises(DosingRefused, match="exceed its maximum of 20 mL"):
        add_media(ml=6.5)  # 14 + 6.5 > 20
    add_media(ml=5.0)
    with pytest.raises(DosingRefused, match="exceed its maximum"):
        add_alt_media(ml=1.5)
    assert true_state()["alt_media_in_ml"] == 0.0 and true_state()["overflow_ml"] == 0.0
    remove_waste(ml=10.0)  # the efflux tube stops it at the working volume
    assert VialStore().get(unit.experiment).current_volume_ml == pytest.approx(14.0)
    assert true_state()["volume_ml"] == pytest.approx(14.0, abs=0.01)


def test_the_tracked_vial_is_restored_after_a_restart(unit, recorder):
    calibrate_from_truth()
    add_alt_media(ml=1.0)
    r = pio("bioreactor", "status")  # a fresh process reads the data dir
    assert "current_volume_ml        15.000 mL" in r.stdout and "0.0667" in r.stdout, r.stdout
    r = pio("bioreactor", "set", "--current-volume-ml", "25")
    assert r.returncode != 0 and "outside 0..20" in r.stderr
    r = pio("bioreactor", "set", "--current-volume-ml", "14.5")
    assert r.returncode == 0, r.stderr
    recorder.wait_for_value(f"{unit.base}/bioreactor/current_volume_ml", "14.5")
    from pioreactor_kernel.testing import Recorder

    late = Recorder(unit.port, f"{unit.base}/bioreactor/#")  # retained: a late subscriber sees the values
    try:
        late.wait_for_value(f"{unit.base}/bioreactor/current_volume_ml", "14.5")
        assert late.client.sync()  # every retained message of the subscription has arrived
        assert float(late.last(f"{unit.base}/bioreactor/alt_media_fraction")) == pytest.approx(1 / 15, rel=1e-4)
    finally:
        late.close()
    VialStore().set(unit.experiment, current_volume_ml=16.0)  # on disk only, as after a crash before publishing
    from pio_dosing.host import DosingAutomationHost

    with DosingAutomationHost():  # a (re)started job publishes what the data dir holds
        recorder.wait_for_value(f"{unit.base}/bioreactor/current_volume_ml", "16.0")


def test_a_crash_mid_dose_leaves_the_pump_off(unit):
    from pio_dosing.pumps import Doser

    class Exploding(threading.Event):
        def wait(self, timeout=None):
            assert duty("4") == 100.0  # the pump runs...
            raise RuntimeError("boom")  # ...when the code fails

    from pioreactor_kernel.mqtt import MQTTClient

    client = MQTTClient(address=BrokerAddress("127.0.0.1", unit.port)).connect()
    try:
        doser = Doser(client=client, unit=unit.name, experiment=unit.experiment, owner="crash-test", stop=Exploding())
        with pytest.raises(RuntimeError, match="boom"):
            doser.dose("waste", duration_s=5)
    finally:
        client.disconnect()
    assert duty("4") == 0.0


def test_a_continuous_dose_runs_until_stopped_and_accounts_what_it_moved(unit, recorder):
    calibrate_from_truth("waste")
    stop = threading.Event()
    results = []
    thread = threading.Thread(target=lambda: results.append(remove_waste(continuously=True, stop=stop)))
    thread.start()
    wait_for(lambda: duty("4") == 100.0, timeout_s=10, what="waste pump on")
    wait_for(lambda: len(events(recorder, unit)) >= 2, timeout_s=10, what="periodic events while running")
    stop.set()
    thread.join(10)
    assert duty("4") == 0.0
    (result,) = results
    assert not result.completed or result.seconds > 1.5
    wait_for(lambda: sum(e["volume_change"] for e in events(recorder, unit)) == pytest.approx(result.volume_ml),
             what="every chunk published")
    assert result.volume_ml == pytest.approx(result.seconds * 5 * (1 + true_state()["draws"]["pump_error"]["waste"]),
                                             rel=0.1)


@pytest.mark.parametrize("unit", [{"pump_flow_ml_s": "0.5"}], indirect=True)  # a real pump's pace
def test_a_continuous_addition_stops_short_of_the_vials_maximum(unit):
    """It keeps the room a pump fills before the watchdog stops it if this process stalls (lease 1 s)."""
    calibrate_from_truth("media")
    VialStore().set(unit.experiment, current_volume_ml=18.5)
    headroom_ml = 0.5 * (1 + true_state()["draws"]["pump_error"]["media"]) * 1.1
    result = add_media(continuously=True)
    assert not result.completed
    assert result.volume_ml == pytest.approx(1.5 - headroom_ml, abs=0.05)
    assert VialStore().get(unit.experiment).current_volume_ml == pytest.approx(20 - headroom_ml, abs=0.05)
    assert duty("2") == 0.0
    with pytest.raises(DosingRefused, match="no room: remove waste first"):
        add_media(continuously=True)


def test_a_continuous_pump_is_stopped_over_mqtt_and_by_pio_kill(unit, recorder):
    proc = spawn_pio("run", "remove_waste", "--continuously")
    try:
        wait_for(lambda: duty("4") == 100.0, timeout_s=15, what="waste pump on")
        publish_once(f"{unit.base}/remove_waste/$state/set", "disconnected", address=BrokerAddress("127.0.0.1", unit.port))
        assert proc.wait(15) == 0
        assert duty("4") == 0.0
        assert "remove_waste:" in proc.stdout.read()
    finally:
        proc.kill()
    proc = spawn_pio("run", "remove_waste", "--continuously")
    try:
        wait_for(lambda: duty("4") == 100.0, timeout_s=15, what="waste pump on again")
        r = pio("kill", "remove_waste")
        assert "stopped" in r.stdout, r.stdout + r.stderr
        assert proc.wait(15) == 0
        assert duty("4") == 0.0
    finally:
        proc.kill()


def test_sigkill_of_a_running_pump_leaves_no_pump_running(unit):
    proc = spawn_pio("run", "remove_waste", "--duration-s", "60")
    try:
        wait_for(lambda: duty("4") == 100.0, timeout_s=15, what="waste pump on")
        proc.send_signal(signal.SIGKILL)
        proc.wait(10)
        wait_for(lambda: duty("4") == 0.0, timeout_s=FAILSAFE_S, interval_s=0.01, what="pump off after kill -9")
    finally:
        proc.kill()
    r = pio("run", "remove_waste", "--duration-s", "0.1")  # nothing to purge: the next dose starts at once
    assert r.returncode == 0, r.stderr
