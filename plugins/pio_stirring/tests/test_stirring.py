"""The stirring job against the simulated motor: reach and hold, disturbances, pauses, sleep, stop."""

from __future__ import annotations

import json
import signal
import statistics
import time

from stirring_simtools import save_true_calibration, scale_motor_gain, true_rpm_curve, truth

from pioreactor_kernel.mqtt import BrokerAddress, publish_once
from pioreactor_kernel.testing import spawn_pio, wait_for

TOLERANCE = 0.05  # of the target


def true_rpm() -> float:
    return truth()["rpm"]


def motor_duty() -> float:
    return truth()["pwm"].get("1", 0.0)


def within(target: float, tolerance: float = TOLERANCE) -> bool:
    return abs(true_rpm() - target) <= tolerance * target


def settle(target: float, timeout_s: float, steady_s: float = 2.0, tolerance: float = TOLERANCE) -> None:
    """Wait until the true RPM has stayed within tolerance for ``steady_s`` (not just passed through)."""
    since: list[float] = []

    def steady() -> bool:
        if abs(true_rpm() - target) > tolerance * target:
            since.clear()
            return False
        since.append(time.monotonic())
        return since[-1] - since[0] >= steady_s

    wait_for(steady, timeout_s=timeout_s, interval_s=0.2, what=f"true RPM steady within {tolerance:.0%} of {target}")


def hold(target: float, seconds: float, tolerance: float = TOLERANCE) -> list[float]:
    """Sample the true RPM for ``seconds``; every sample must be within tolerance."""
    samples = []
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        samples.append(true_rpm())
        time.sleep(0.25)
    assert all(abs(s - target) <= tolerance * target for s in samples), samples
    return samples


def send(unit, suffix: str, payload: str) -> None:
    publish_once(f"{unit.base}/stirring/{suffix}", payload, address=BrokerAddress("127.0.0.1", unit.port))


def stirring(**kwargs):
    from pio_stirring.job import Stirring

    return Stirring(**kwargs)


def test_reaches_the_target_without_a_calibration_and_holds_it(unit, recorder):
    with stirring(target_rpm=500) as job:
        assert job.rpm_control == "closed_loop"
        settle(500, timeout_s=40, steady_s=4)  # the guess overshoots by a few %: wait until it has settled
        samples = hold(500, 3)
        topic = f"{unit.base}/stirring/measured_rpm"
        wait_for(lambda: len(recorder.payloads(topic)) >= 3, timeout_s=10, what="measured_rpm published")
        last = json.loads(recorder.last(topic))
        assert set(last) == {"measured_rpm", "timestamp"} and last["timestamp"].endswith("Z")
        assert abs(last["measured_rpm"] - statistics.mean(samples)) < 0.06 * 500
        assert 0 < float(recorder.last(f"{unit.base}/stirring/duty_cycle")) < 100


def test_recovers_after_the_motor_weakens(unit):
    save_true_calibration()
    with stirring(target_rpm=400) as job:
        assert "calibration 'true-curve'" in job.curve.source
        settle(400, timeout_s=20, steady_s=1)
        duty_before = motor_duty()
        scale_motor_gain(0.7)  # 30 % weaker: thicker liquid, a tired motor
        wait_for(lambda: true_rpm() < 0.85 * 400, timeout_s=5, what="the disturbance to show")
        settle(400, timeout_s=30)
        hold(400, 2)
        _, stall = true_rpm_curve()
        # the motor gives 0.7x the RPM per % above its stall: the controller must drive ~1/0.7 as far above it
        assert 1.3 < (motor_duty() - stall) / (duty_before - stall) < 1.6


def test_pause_request_stops_the_motor_and_it_resumes_by_itself(unit, recorder):
    save_true_calibration()
    with stirring(target_rpm=300):
        settle(300, timeout_s=20, steady_s=1)
        duty = motor_duty()
        send(unit, "pause_request", json.dumps({"requester": "od_reading", "duration_s": 2.0}))
        recorder.wait_for_value(f"{unit.base}/stirring/paused", "1", timeout_s=5)
        assert motor_duty() == 0.0
        wait_for(lambda: true_rpm() < 60, timeout_s=3, what="the motor coasts down")
        recorder.wait_for_value(f"{unit.base}/stirring/paused", "0", timeout_s=5)
        assert abs(motor_duty() - duty) < 0.5  # back to where it was, no ramp
        wait_for(lambda: within(300), timeout_s=10, what="300 RPM again")
        # a long pause ended early by its requester
        send(unit, "pause_request", json.dumps({"requester": "od_reading", "duration_s": 9}))
        recorder.wait_for_value(f"{unit.base}/stirring/paused", "1", timeout_s=5)
        send(unit, "pause_request", json.dumps({"requester": "od_reading", "duration_s": 0}))
        recorder.wait_for_value(f"{unit.base}/stirring/paused", "0", timeout_s=5)
        assert motor_duty() > 0


def test_garbage_pause_requests_and_targets_are_refused_and_stirring_goes_on(unit, recorder):
    with stirring(target_rpm=300) as job:
        logs = f"{unit.base}/logs/app"
        bad_pauses = ["not json", "[1]", '{"duration_s": 1}', '{"requester": "x", "duration_s": "NaN"}',
                      '{"requester": "x", "duration_s": -1}', '{"requester": "x", "duration_s": 1e9}',
                      '{"requester": "x", "duration_s": true}']
        for payload in bad_pauses:
            send(unit, "pause_request", payload)
        for payload in ("nan", "-5", "5000", "fast", "inf"):
            send(unit, "target_rpm/set", payload)
        wait_for(lambda: len([p for p in recorder.payloads(logs) if '"ERROR"' in p]) >= len(bad_pauses) + 5,
                 timeout_s=10, what="one error per refused request")
        assert job.target_rpm == 300 and not job.paused and job.state == "ready"
        assert recorder.last(f"{unit.base}/stirring/paused") == "0"


def test_sleep_stops_the_motor_wake_and_new_target_resume_it_and_a_clean_stop_leaves_duty_zero(unit, recorder):
    save_true_calibration()
    proc = spawn_pio("run", "stirring", "--target-rpm", "300")
    try:
        state = f"{unit.base}/stirring/$state"
        recorder.wait_for_value(state, "ready", timeout_s=20)
        settle(300, timeout_s=20, steady_s=1)
        send(unit, "$state/set", "sleeping")
        recorder.wait_for_value(state, "sleeping", timeout_s=5)
        assert motor_duty() == 0.0
        wait_for(lambda: true_rpm() < 20, timeout_s=5, what="the motor stops")
        send(unit, "$state/set", "ready")
        recorder.wait_for_value(state, "ready", timeout_s=5)
        send(unit, "target_rpm/set", "250")
        recorder.wait_for_value(f"{unit.base}/stirring/target_rpm", "250.0", timeout_s=5)
        wait_for(lambda: within(250), timeout_s=20, what="250 RPM after waking")
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(15) == 0, proc.stderr.read()
        assert motor_duty() == 0.0
        assert recorder.last(state) == "disconnected"
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(5)
        proc.stdout.close()
        proc.stderr.close()


def test_without_a_tachometer_it_runs_open_loop_from_the_calibration(unit, recorder, monkeypatch):
    monkeypatch.setenv("PIO__stirring__tachometer", "false")
    save_true_calibration()
    with stirring(target_rpm=300) as job:
        assert job.rpm_control == "open_loop"
        wait_for(lambda: within(300, 0.03), timeout_s=15, what="300 RPM from the true calibration")
        logs = recorder.payloads(f"{unit.base}/logs/app")
        assert any("open loop" in p for p in logs)
        assert not any(recorder.payloads(f"{unit.base}/stirring/measured_rpm"))  # at most the clearing ""
