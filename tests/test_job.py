"""BackgroundJob lifecycle, settings over MQTT, last will, registry."""

from __future__ import annotations

import json
import os
import signal
import time

import pytest

from pioreactor_kernel import registry
from pioreactor_kernel.job import BackgroundJob
from pioreactor_kernel.mqtt import BrokerAddress, publish_once
from pioreactor_kernel.registry import JobAlreadyRunning
from pioreactor_kernel.settings import Setting
from pioreactor_kernel.testing import spawn_pio, wait_for


class Pump(BackgroundJob):
    job_name = "pump_test"
    published_settings = (
        Setting("target_rpm", "float", unit="rpm", settable=True, minimum=0, maximum=3000, default=500.0),
        Setting("enabled", "boolean", settable=True, default=True),
        Setting("volume_ml", "float", unit="mL", persist=True),
        Setting("readonly", "integer"),
    )

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.target_rpm = 500.0
        self.enabled = True
        self.volume_ml = 14.0
        self.readonly = 3
        self.events: list[str] = []

    def on_sleeping(self):
        self.events.append("sleeping")

    def on_sleeping_to_ready(self):
        self.events.append("woke")

    def on_disconnected(self):
        self.events.append("disconnected")


def _set(unit, job, setting, value):
    publish_once(f"{unit.base}/{job}/{setting}/set", value, address=BrokerAddress("127.0.0.1", unit.port))


def test_job_publishes_state_properties_and_settings(unit, recorder):
    with Pump() as job:
        recorder.wait_for_value(f"{unit.base}/pump_test/$state", "ready")
        assert recorder.last(f"{unit.base}/pump_test/$properties") == "target_rpm,enabled,volume_ml,readonly"
        schema = json.loads(recorder.last(f"{unit.base}/pump_test/$settings"))
        assert schema[0] == {"name": "target_rpm", "datatype": "float", "settable": True, "unit": "rpm",
                             "minimum": 0, "maximum": 3000, "default": 500.0}
        assert recorder.last(f"{unit.base}/pump_test/target_rpm") == "500.0"
        assert job.state == "ready"
    recorder.wait_for_value(f"{unit.base}/pump_test/$state", "disconnected")
    # settings are cleared when the job ends, except the ones declared persistent
    assert recorder.last(f"{unit.base}/pump_test/target_rpm") == ""
    assert recorder.last(f"{unit.base}/pump_test/volume_ml") == "14.0"
    assert job.events == ["disconnected"]


def test_set_with_good_value_changes_the_setting(unit, recorder):
    with Pump() as job:
        _set(unit, "pump_test", "target_rpm", "720.5")
        recorder.wait_for_value(f"{unit.base}/pump_test/target_rpm", "720.5")
        assert job.target_rpm == 720.5
        _set(unit, "pump_test", "enabled", "false")
        recorder.wait_for_value(f"{unit.base}/pump_test/enabled", "0")
        assert job.enabled is False


@pytest.mark.parametrize("bad", ["nan", "NaN", "inf", "-inf", "1e309", "-1", "3001", "abc", "", "true"])
def test_set_with_wrong_type_or_range_is_refused_and_job_keeps_running(unit, recorder, bad):
    with Pump() as job:
        _set(unit, "pump_test", "target_rpm", bad)
        log_topic = f"{unit.base}/logs/app"
        wait_for(lambda: any("refused target_rpm/set" in json.loads(p)["message"] for p in recorder.payloads(log_topic)),
                 what="the refusal logged over MQTT")
        error = json.loads(recorder.payloads(log_topic)[-1])
        assert error["level"] == "ERROR" and error["task"] == "pump_test" and error["source"] == "app"
        assert error["timestamp"].endswith("Z")
        assert job.target_rpm == 500.0 and job.state == "ready"
        # still alive and listening
        _set(unit, "pump_test", "target_rpm", "10")
        recorder.wait_for_value(f"{unit.base}/pump_test/target_rpm", "10.0")


def test_set_of_a_read_only_or_unknown_setting_is_refused(unit, recorder):
    with Pump() as job:
        _set(unit, "pump_test", "readonly", "7")
        _set(unit, "pump_test", "nonexistent", "7")
        wait_for(lambda: sum("refused" in p for p in recorder.payloads(f"{unit.base}/logs/app")) >= 2)
        assert job.readonly == 3


def test_state_set_sleeps_wakes_and_stops_the_job(unit, recorder):
    job = Pump()
    state = f"{unit.base}/pump_test/$state"
    _set(unit, "pump_test", "$state", "sleeping")
    recorder.wait_for_value(state, "sleeping")
    _set(unit, "pump_test", "$state", "ready")
    recorder.wait_for_value(state, "ready")
    _set(unit, "pump_test", "$state", "exploded")
    _set(unit, "pump_test", "$state", "disconnected")
    recorder.wait_for_value(state, "disconnected")
    assert job.wait_until_disconnected(10)
    assert job.events == ["sleeping", "woke", "disconnected"]
    assert registry.read("pump_test") is None


def test_broadcast_set_reaches_the_job(unit, recorder):
    with Pump() as job:
        publish_once("pioreactor/$broadcast/exp1/pump_test/target_rpm/set", "42",
                     address=BrokerAddress("127.0.0.1", unit.port))
        recorder.wait_for_value(f"{unit.base}/pump_test/target_rpm", "42.0")
        assert job.target_rpm == 42.0


def test_one_job_name_runs_once_per_unit(unit):
    with Pump(), pytest.raises(JobAlreadyRunning, match="pump_test is already running"):
        Pump()


def test_several_jobs_in_one_script(unit, recorder):
    class Other(Pump):
        job_name = "other_test"

    with Pump() as a, Other() as b:
        recorder.wait_for_value(f"{unit.base}/pump_test/$state", "ready")
        recorder.wait_for_value(f"{unit.base}/other_test/$state", "ready")
        names = {r.job for r in registry.running_jobs()}
        assert names == {"pump_test", "other_test"}
        assert a.client.client_id != b.client.client_id


def test_a_job_whose_init_fails_releases_its_name(unit):
    class Broken(Pump):
        job_name = "broken_test"

        def __init__(self, **kwargs):
            super().__init__(**kwargs)
            raise RuntimeError("no hardware")

    with pytest.raises(RuntimeError, match="no hardware"):
        Broken()
    assert registry.read("broken_test") is None


def _start_counter(unit):
    proc = spawn_pio("run", "counter", env=unit.env)
    wait_for(lambda: registry.read("counter") or proc.poll() is not None, what="counter to start")
    assert proc.poll() is None, proc.stderr.read()
    return proc


def test_sigkill_makes_the_job_lost_and_it_starts_again_at_once(unit, recorder, with_test_plugins):
    state = f"{unit.base}/counter/$state"
    proc = _start_counter(unit)
    recorder.wait_for_value(state, "ready")
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    recorder.wait_for_value(state, "lost", timeout_s=5)
    assert registry.read("counter") is None  # a dead pid is not running: nothing to purge
    again = _start_counter(unit)
    recorder.wait_for_value(state, "ready")
    again.send_signal(signal.SIGTERM)
    assert again.wait(10) == 0
    recorder.wait_for_value(state, "disconnected")


def test_a_hung_job_is_seen_lost_within_10_s(unit, recorder, with_test_plugins):
    state = f"{unit.base}/counter/$state"
    proc = _start_counter(unit)
    recorder.wait_for_value(state, "ready")
    os.kill(proc.pid, signal.SIGSTOP)
    t0 = time.monotonic()
    try:
        recorder.wait_for_value(state, "lost", timeout_s=10)
        assert time.monotonic() - t0 <= 10
    finally:
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait()


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM])
def test_sigint_and_sigterm_end_the_job_cleanly(unit, recorder, with_test_plugins, sig):
    state = f"{unit.base}/counter/$state"
    proc = _start_counter(unit)
    recorder.wait_for_value(state, "ready")
    proc.send_signal(sig)
    assert proc.wait(10) == 0, proc.stderr.read()
    recorder.wait_for_value(state, "disconnected")
    assert registry.read("counter") is None


def test_a_signal_delivered_to_another_thread_still_stops_the_job_at_once(unit):
    """The kernel may hand SIGTERM to any thread; the main thread must wake up and stop the job."""
    import subprocess
    import sys

    script = (
        "import signal, threading, time\n"
        "from pioreactor_kernel.job import BackgroundJob\n"
        "class J(BackgroundJob):\n    job_name = 'threaded_signal'\n"
        "job = J()\n"
        "other = next(t for t in threading.enumerate() if t is not threading.main_thread())\n"
        "threading.Timer(0.5, lambda: signal.pthread_kill(other.ident, signal.SIGTERM)).start()\n"
        "t0 = time.monotonic()\n"
        "job.block_until_disconnected()\n"
        "print(f'stopped {time.monotonic() - t0:.2f}')\n"
    )
    r = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stderr
    assert float(r.stdout.split()[-1]) < 4.5  # well before select's 5 s fallback tick
