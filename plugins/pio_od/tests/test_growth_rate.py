"""growth_rate_calculating on synthetic readings of known rate (published fast, stamped 5 s apart)."""

from __future__ import annotations

import json
import math
import random

import pytest
from od_simtools import JsonRecorder, wait_for_count
from pio_od.growth_rate import GrowthRateCalculator
from pio_od.messages import iso_timestamp

from pioreactor_kernel.hardware.testing import wait_for
from pioreactor_kernel.testing import Recorder

T0 = 1_800_000_000.0


class Feeder:
    """Publishes od_reading/ods and dosing events as od_reading and a pump would."""

    def __init__(self, unit, seed: int = 1, channel: str = "2"):
        self.unit, self.channel = unit, channel
        self.client = Recorder(unit.port, "none/#").client
        self.rng = random.Random(seed)

    def reading(self, t: float, od: float, **extra) -> None:
        stamp = iso_timestamp(t)
        r = {"timestamp": stamp, "angle": "90", "od": od, "channel": self.channel, "ir_led_intensity": 50.0,
             "calibrated": 0, **extra}
        self.client.publish(f"{self.unit.base}/od_reading/ods", json.dumps({"timestamp": stamp, "ods": {self.channel: r}}))

    def raw(self, topic_suffix: str, payload: str) -> None:
        self.client.publish(f"{self.unit.base}/{topic_suffix}", payload)

    def dose(self, t: float, event: str, ml: float) -> None:
        self.raw("dosing_events", json.dumps({"volume_change": ml, "event": event, "source_of_event": "test",
                                              "timestamp": iso_timestamp(t)}))

    def close(self) -> None:
        self.client.disconnect(0.5)


@pytest.fixture
def recorder(unit):
    """Only what the job publishes (not the readings fed to it): less to keep on a loaded machine."""
    rec = JsonRecorder(unit.port, f"{unit.base}/growth_rate_calculating/#", f"{unit.base}/logs/#")
    yield rec
    rec.close()


@pytest.fixture
def feeder(unit):
    f = Feeder(unit)
    yield f
    f.close()


def _series(recorder, unit, name):
    return recorder.json(f"{unit.base}/growth_rate_calculating/{name}")


def _exponential(feeder, mu_per_h, n, start_index=0, od0=0.1, noise=0.005):
    for i in range(start_index, start_index + n):
        t = T0 + 5 * i
        feeder.reading(t, od0 * math.exp(mu_per_h * 5 * i / 3600) * (1 + feeder.rng.gauss(0, noise)))


def test_estimate_converges_on_a_known_rate_with_its_uncertainty(unit, recorder, feeder):
    with GrowthRateCalculator() as job:
        job.measure_cpu = True
        _exponential(feeder, 0.6, 720)  # one hour
        wait_for(lambda: job.readings_handled >= 720, 120, interval_s=0.1, what="every reading handled")
        assert job.cpu_s / job.readings_handled < 1e-3  # under 1 ms of CPU per reading in the job
        published = 720 - 5  # every reading after the warm-up's five
        for name in ("growth_rate", "growth_rate_std", "od_filtered"):
            wait_for_count(recorder, f"{unit.base}/growth_rate_calculating/{name}", published, 30)
    rates = _series(recorder, unit, "growth_rate")
    first_t = rates[0]["timestamp"]
    assert (math.floor(_epoch(first_t) - T0)) <= 60  # first estimate within 60 s of readings
    stds = _series(recorder, unit, "growth_rate_std")
    assert len(stds) == len(rates) and set(stds[0]) == {"growth_rate_std", "timestamp"}
    assert set(rates[0]) == {"growth_rate", "timestamp"}
    assert rates[-1]["growth_rate"] == pytest.approx(0.6, rel=0.05)
    assert stds[-1]["growth_rate_std"] < stds[0]["growth_rate_std"]
    filtered = _series(recorder, unit, "od_filtered")
    assert filtered[-1]["od_filtered"] == pytest.approx(math.exp(0.6), rel=0.03)  # 1.0 = the culture at the start
    factors = [float(p) for p in recorder.payloads(f"{unit.base}/growth_rate_calculating/od_normalization_factor") if p]
    assert factors[-1] == pytest.approx(0.1, rel=0.02)


def _epoch(stamp: str) -> float:
    from pio_od.messages import epoch_seconds

    return epoch_seconds(stamp)


def test_dilutions_are_not_read_as_death(unit, recorder, feeder):
    mu, volume, od = 0.5, 14.0, 0.4
    with GrowthRateCalculator() as job:
        for i in range(1, 1440):  # two hours of a turbidostat diluting whenever OD passes 0.5
            od *= math.exp(mu * 5 / 3600)
            if od > 0.5:
                feeder.dose(T0 + 5 * i - 2.5, "add_media", 3.5)
                feeder.dose(T0 + 5 * i - 2.0, "remove_waste", 3.5)
                od *= volume / (volume + 3.5)
            feeder.reading(T0 + 5 * i, od * (1 + feeder.rng.gauss(0, 0.005)))
        wait_for(lambda: job.readings_handled >= 1439, 120, interval_s=0.1, what="every reading handled")
        rates = wait_for_count(recorder, f"{unit.base}/growth_rate_calculating/growth_rate", 1434, 60)
    late = [r["growth_rate"] for r in rates[-700:]]  # the second hour
    assert min(late) > 0.4 and max(late) < 0.6
    assert sum(late) / len(late) == pytest.approx(mu, rel=0.05)


def test_a_restart_resumes_without_a_new_warm_up(unit, recorder, feeder):
    topic = f"{unit.base}/growth_rate_calculating/growth_rate"
    with GrowthRateCalculator():
        _exponential(feeder, 0.4, 500)
        wait_for_count(recorder, topic, 495, 60)  # every reading after the warm-up: nothing still in flight
    before = recorder.json(topic)[-1]["growth_rate"]
    n = len(recorder.payloads(topic))
    with GrowthRateCalculator():
        _exponential(feeder, 0.4, 1, start_index=520)  # a reading after a 100 s gap
        after = wait_for_count(recorder, topic, n + 1, 20)[-1]
    assert after["timestamp"] == iso_timestamp(T0 + 5 * 520)  # estimated at once: no warm-up
    assert after["growth_rate"] == pytest.approx(before, abs=0.05)
    with GrowthRateCalculator(start_fresh=True) as job:
        _exponential(feeder, 0.4, 2, start_index=530)
        wait_for(lambda: job.readings_handled >= 2, 10, what="two readings handled")
    assert len(recorder.payloads(topic)) == n + 1  # afresh: warming up again, nothing published yet


def test_garbage_and_missing_channels_are_logged_and_survived(unit, recorder, feeder):
    with GrowthRateCalculator() as job:
        _exponential(feeder, 0.3, 10)
        wait_for_count(recorder, f"{unit.base}/growth_rate_calculating/growth_rate", 3, 20)
        feeder.raw("od_reading/ods", "not json")
        feeder.raw("od_reading/ods", '{"timestamp": "2026-01-01T00:00:00Z", "ods": {"2": {"od": NaN}}}')
        feeder.raw("od_reading/ods", json.dumps({"timestamp": iso_timestamp(T0 + 60), "ods": {}}))
        feeder.reading(T0 + 61, -0.2)
        feeder.dose(T0 + 62, "add_media", -3.0)
        feeder.dose(T0 + 62, "add_unicorns", 1.0)
        feeder.raw("dosing_events", '{"volume_change": "lots"}')
        feeder.raw("bioreactor/current_volume_ml", "-4")
        feeder.raw("bioreactor/current_volume_ml", "NaN")
        _exponential(feeder, 0.3, 3, start_index=20)
        wait_for(lambda: job.readings_handled >= 17, 20, what="all readings handled")
        assert job.state == "ready" and job.state_.volume_ml == 14.0
    expected = ("unreadable od_reading/ods", "no channel 2", "-0.2", "volume_change -3.0", "add_unicorns",
                "unreadable dosing event", "current_volume_ml -4", "current_volume_ml nan")

    def missing() -> list[str]:
        errors = " | ".join(r["message"] for r in recorder.logs() if r["level"] in ("ERROR", "WARNING")).lower()
        return [e for e in expected if e.lower() not in errors]

    wait_for(lambda: not missing(), 10, what=f"every bad input logged (missing: {missing()})")


def test_volume_comes_from_the_bioreactor_topic(unit, recorder, feeder):
    with GrowthRateCalculator() as job:
        feeder.raw("bioreactor/current_volume_ml", "17.5")
        wait_for(lambda: job.state_.volume_ml == 17.5, 10)
        feeder.dose(T0, "remove_waste", 3.5)
        wait_for(lambda: job.state_.volume_ml == 14.0, 10)


def test_after_a_kill_the_job_resumes_from_the_saved_state(unit, recorder, feeder):
    import os
    import signal

    from pioreactor_kernel.testing import spawn_pio

    topic = f"{unit.base}/growth_rate_calculating/growth_rate"
    proc = spawn_pio("run", "growth_rate_calculating", env={"PIO__growth_rate_calculating__save_every_s": "0.05"})
    try:
        recorder.wait_for_value(f"{unit.base}/growth_rate_calculating/$state", "ready", 20)
        _exponential(feeder, 0.4, 300)
        wait_for_count(recorder, topic, 295, 60)  # every reading after the warm-up: nothing still in flight
        state_file = unit.data_dir / "storage" / "growth_rate" / "exp1.json"
        wait_for(lambda: state_file.exists() and json.loads(state_file.read_text())["last_reading_epoch"] >= T0 + 5 * 299,
                 10, what="the state saved after the last readings")
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(10)
    finally:
        if proc.poll() is None:
            proc.kill()
        proc.communicate(timeout=10)
    n = len(recorder.payloads(topic))
    with GrowthRateCalculator():
        _exponential(feeder, 0.4, 1, start_index=310)
        after = wait_for_count(recorder, topic, n + 1, 20)[-1]
    assert after["timestamp"] == iso_timestamp(T0 + 5 * 310)
    assert after["growth_rate"] == pytest.approx(0.4, abs=0.05)
