"""od_reading against the simulator: the dialect, the LED, tracking the true OD, bad hardware."""

from __future__ import annotations

import json
import math

import pytest
from click.testing import CliRunner
from od_simtools import fresh_culture, measure_standards, pump, wait_for_count
from pio_od.od_reading import ODReader

from pioreactor_kernel.hardware.testing import wait_for


def test_readings_are_published_in_the_pioreactor_dialect(unit, recorder):
    with ODReader(interval=0.2) as job:
        ods = wait_for_count(recorder, f"{unit.base}/od_reading/ods", 3)
        per_channel = recorder.json(f"{unit.base}/od_reading/od2")
        assert job.state == "ready"
    assert set(ods[0]) == {"timestamp", "ods"} and set(ods[0]["ods"]) == {"2"}  # REF is the reference, not an OD
    reading = ods[0]["ods"]["2"]
    assert list(reading) == ["timestamp", "angle", "od", "channel", "ir_led_intensity", "calibrated"]
    assert reading["angle"] == "90" and reading["channel"] == "2" and reading["calibrated"] == 0
    assert reading["ir_led_intensity"] == 50.0 and reading["od"] > 0
    assert reading["timestamp"].endswith("Z") and reading["timestamp"] == ods[0]["timestamp"]
    assert per_channel[0] == reading
    assert recorder.last(f"{unit.base}/od_reading/interval") == ""  # cleared when the job ended
    assert not recorder.messages or all(not r for t, _, r in recorder.messages if t.endswith("/ods"))


def test_ir_led_is_off_between_readings(unit, recorder):
    with ODReader(interval=3600) as job:  # one reading at start, then only ours
        wait_for_count(recorder, f"{unit.base}/od_reading/ods", 1)
        for _ in range(3):
            job.record_reading()
            assert unit.true_state()["led"].get("A", 0.0) == 0.0
    assert unit.true_state()["led"].get("A", 0.0) == 0.0


def test_interval_is_settable_and_bad_values_are_refused(unit, recorder):
    from pioreactor_kernel.testing import Recorder

    with ODReader(interval=30) as job:
        setter = Recorder(unit.port, "none/#")
        try:
            setter.client.publish(f"{unit.base}/od_reading/interval/set", "0.2")
            wait_for_count(recorder, f"{unit.base}/od_reading/ods", 4, timeout_s=15)
            setter.client.publish(f"{unit.base}/od_reading/interval/set", "NaN")
            setter.client.publish(f"{unit.base}/od_reading/ir_led_intensity/set", "150")
            wait_for(lambda: len(recorder.logs("ERROR")) >= 2, 10, what="two refusals logged")
        finally:
            setter.close()
        assert job.interval == 0.2 and job.ir_led_intensity == 50.0 and job.state == "ready"


def test_readings_track_the_true_od_through_growth_and_dilution(unit, recorder, tmp_path):
    standards = measure_standards(unit, [0.02, 0.05, 0.1, 0.2, 0.4, 0.8, 1.6, 2.4])
    pairs = tmp_path / "pairs.csv"
    pairs.write_text("od600,signal\n" + "".join(f"{od},{signal}\n" for od, signal in standards))
    from pioreactor_kernel.cli import build_cli

    result = CliRunner().invoke(build_cli(), ["calibrate", "od", "--file", str(pairs), "--name", "sim-standards"])
    assert result.exit_code == 0, result.output

    fresh_culture(unit, initial_od="0.12", speed="900", pump_flow_ml_s="10")
    track: list[tuple[float, float, float, str]] = []
    # standards were read at 50 %: the reference normalisation makes the intensity irrelevant
    with ODReader(interval=3600, ir_led_intensity=80) as job:
        def read(tag: str) -> None:
            # the truth just before and just after the reading brackets it, however loaded the machine
            before_od = unit.true_state()["od"]
            out = job.record_reading()
            after_od = unit.true_state()["od"]
            assert out is not None and out["2"]["calibrated"] == 1
            assert out["2"]["calibration_name"] == "sim-standards"
            track.append((out["2"]["od"], min(before_od, after_od), max(before_od, after_od), tag))

        def grow(factor: float) -> None:
            start = unit.true_state()["od"]
            wait_for(lambda: unit.true_state()["od"] > factor * start, 30, what=f"the culture to grow x{factor}")

        while unit.true_state()["od"] < 0.5:
            read("growth")
            grow(1.1)
        before = unit.true_state()
        pump("media", 0.5)
        after = unit.true_state()
        read("diluted")
        pump("waste", 0.8)
        for _ in range(4):
            read("after")
            grow(1.1)
    added_ml = after["media_in_ml"] - before["media_in_ml"]
    assert added_ml > 3 and after["volume_ml"] > before["volume_ml"] + 3  # a real dilution, by a fifth or more
    ods = [lo for _, lo, _, _ in track]
    assert max(ods) > 3.5 * min(ods)  # and so was the growth

    def error(measured: float, lo: float, hi: float) -> float:
        return 0.0 if lo <= measured <= hi else min(abs(measured / lo - 1), abs(measured / hi - 1))

    worst = max(error(m, lo, hi) for m, lo, hi, _ in track)
    print(f"{len(track)} readings, worst relative error outside the true bracket {worst:.4f}")
    for measured, lo, hi, tag in track:
        assert lo * 0.96 - 0.003 <= measured <= hi * 1.04 + 0.003, (tag, measured, lo, hi)


def test_a_broken_channel_gives_logged_errors_and_the_others_carry_on(unit, recorder):
    unit.configure(**{"hardware.photodiodes": {"1": "REF", "2": "90", "3": "135"}})
    with ODReader(interval=3600) as job:
        adc = job.hw.sampler.adcs["3"]

        def broken() -> float:
            raise OSError("I2C transfer failed")

        adc.read_voltage = broken
        for _ in range(3):
            out = job.record_reading()
            assert out is not None and set(out) == {"2"}
        job.hw.sampler.adcs["2"].read_voltage = lambda: float("nan")
        assert job.record_reading() is None
        del adc.read_voltage, job.hw.sampler.adcs["2"].read_voltage
        out = job.record_reading()
        assert out is not None and set(out) == {"2", "3"}
        assert job.state == "ready"
    recorder.wait_for_log("channel 3 reads again", "INFO")
    errors = [r["message"] for r in recorder.wait_for_log("unusable", "ERROR")]
    assert any("channel 3" in m and "I2C transfer failed" in m for m in errors), errors
    assert any("channel 2" in m and "unusable" in m for m in errors), errors
    assert sum("channel 3" in m for m in errors) == 1  # a repeating error is not logged every reading


def test_a_channel_that_cannot_be_opened_is_left_out_with_an_error(unit, recorder, monkeypatch):
    from pioreactor_kernel import hardware

    real = hardware.DeviceSet.analog_input

    def analog_input(self, channel):
        if channel == "3":
            raise hardware.HardwareError("ADC channel 3 does not answer")
        return real(self, channel)

    monkeypatch.setattr(hardware.DeviceSet, "analog_input", analog_input)
    unit.configure(**{"hardware.photodiodes": {"1": "REF", "2": "90", "3": "180"}})
    with ODReader(interval=3600) as job:
        assert set(job.hw.angles) == {"2"}
        assert job.record_reading() is not None
    recorder.wait_for_log("does not answer", "ERROR")


def test_readings_beyond_the_calibrated_range_are_flagged(unit, recorder, tmp_path):
    pairs = tmp_path / "pairs.csv"
    pairs.write_text("0.0,0.001\n0.01,0.01\n0.02,0.02\n")  # the culture's signal (~0.1) is far above these
    from pioreactor_kernel.cli import build_cli

    assert CliRunner().invoke(build_cli(), ["calibrate", "od", "--file", str(pairs)]).exit_code == 0
    with ODReader(interval=3600) as job:
        out = job.record_reading()
        assert out is not None
    flags = wait_for_count(recorder, f"{unit.base}/od_reading/out_of_calibrated_range", 2)  # the first, and ours
    flag = next(f for f in flags if f["timestamp"] == out["2"]["timestamp"])["channels"]["2"]
    assert flag["side"] == "above" and flag["od"] == pytest.approx(out["2"]["od"])
    assert out["2"]["od"] > 0.02  # extrapolated, not clamped to the top standard
    recorder.wait_for_log("outside", "WARNING")


def test_blank_subtraction_and_od_blank_refusing_while_od_reading_runs(unit, recorder):
    from pio_od import blank as blanks

    from pioreactor_kernel.cli import build_cli

    result = CliRunner().invoke(build_cli(), ["run", "od_blank", "--readings", "3", "--spacing-s", "0"])
    assert result.exit_code == 0, result.output
    stored = blanks.load("exp1")
    assert stored is not None and stored.channels["2"].mean > 0 and stored.channels["2"].n == 3
    assert json.loads(wait_for(lambda: recorder.last(f"{unit.base}/od_blank/mean"), 10))["2"] == stored.channels["2"].mean
    with ODReader(interval=3600, subtract_blank=True) as job:
        out = job.record_reading()
        raw = job.hw.read(50.0).signals["2"]
        busy = CliRunner().invoke(build_cli(), ["run", "od_blank", "--readings", "2"])
    assert busy.exit_code != 0 and "Stop od_reading first" in busy.output
    assert out is not None and math.isclose(out["2"]["od"], raw - stored.channels["2"].mean, rel_tol=0.05, abs_tol=0.005)


def test_stirring_is_paused_during_a_reading_when_configured(unit, recorder):
    """Against the wire contract of docs/stirring.md, with a stand-in for the stirring job."""
    import threading

    from pioreactor_kernel.testing import Recorder

    base = f"{unit.base}/stirring"
    requests: list[dict] = []
    led_during_pause: list[float] = []
    stirring = Recorder(unit.port, f"{base}/pause_request")
    paused = threading.Event()

    def on_request(message) -> None:
        request = json.loads(message.payload)
        requests.append(request)
        if request["duration_s"] > 0:
            stirring.client.publish(f"{base}/paused", "1", retain=True)
            paused.set()
        else:
            led_during_pause.append(unit.true_state()["led"].get("A", 0.0))
            stirring.client.publish(f"{base}/paused", "0", retain=True)

    stirring.client.subscribe(f"{base}/pause_request", on_request)
    stirring.client.publish(f"{base}/$state", "ready", retain=True)
    unit.configure(od_reading={"pause_stirring": "true", "stirring_settle_s": "0.05"})
    try:
        with ODReader(interval=3600) as job:
            wait_for(lambda: len(requests) >= 2, 10, what="the first reading's pause and resume")
            assert job.record_reading() is not None
            wait_for(lambda: len(requests) >= 4, 10, what="a second pause and resume")
    finally:
        stirring.client.publish(f"{base}/$state", "", retain=True)
        stirring.client.publish(f"{base}/paused", "", retain=True)
        stirring.close()
    assert [r["requester"] for r in requests] == ["od_reading"] * 4
    assert [r["duration_s"] > 0 for r in requests] == [True, False, True, False]
    assert all(0 < r["duration_s"] <= 10 for r in requests[::2])  # within stirring's max_pause_s
    assert led_during_pause == [0.0, 0.0]  # resumed only after the LED was off again


def test_pio_run_od_reading_publishes_and_stops_cleanly(unit, recorder):
    from pioreactor_kernel.testing import spawn_pio

    proc = spawn_pio("run", "od_reading", "--interval", "0.2", "--ir-led-intensity", "60")
    try:
        ods = wait_for_count(recorder, f"{unit.base}/od_reading/ods", 3, timeout_s=30)
        assert ods[-1]["ods"]["2"]["ir_led_intensity"] == 60.0
        assert recorder.last(f"{unit.base}/od_reading/interval") == "0.2"
        proc.terminate()
        assert proc.wait(15) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
        proc.communicate(timeout=10)
    recorder.wait_for_value(f"{unit.base}/od_reading/$state", "disconnected")
    assert unit.true_state()["led"].get("A", 0.0) == 0.0
