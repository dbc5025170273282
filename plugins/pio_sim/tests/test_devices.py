"""The sim backend through the kernel's hardware layer: each device, coherence, seed, speed, CLI."""

from __future__ import annotations

import statistics
import subprocess
import sys
import time

import pio_sim
import pytest
from click.testing import CliRunner
from pio_sim.backend import SimBackend

from pioreactor_kernel import hardware
from pioreactor_kernel.hardware.context import load_config
from pioreactor_kernel.hardware.hwmap import HardwareMap
from pioreactor_kernel.hardware.testing import write_config


class FakeClock:
    def __init__(self, t: float = 1_000_000.0):
        self.t = t

    def __call__(self) -> float:
        return self.t


def backend_with_clock(data_dir, clock) -> SimBackend:
    config = load_config(data_dir)
    return SimBackend(config=config, data_dir=data_dir, unit="testunit", hardware_map=HardwareMap.from_config(config),
                      clock=clock)


def test_pwm_outputs_drive_the_vial_actuators_by_role(unit):
    with hardware.open_pwm("heater", owner="t") as heater, hardware.open_pwm("media", owner="t") as media:
        heater.set_duty(25)
        media.set_duty(0)
        state = pio_sim.true_state()
        assert state["pwm"]["5"] == 25.0
        assert state["pwm"]["2"] == 0.0
    assert pio_sim.true_state()["pwm"]["5"] == 0.0  # closing switches off


def test_led_intensity_and_photodiodes_see_the_ir_led(unit):
    with hardware.open_analog_input("2", owner="t") as side, hardware.open_analog_input("1", owner="t") as ref:
        dark = side.read_voltage(), ref.read_voltage()
        assert all(0 <= v < 0.01 for v in dark)
        with hardware.open_led("ir", owner="t") as ir:
            ir.set_intensity(80)
            assert pio_sim.true_state()["led"]["A"] == 80.0
            lit = side.read_voltage(), ref.read_voltage()
        assert lit[0] > dark[0] + 0.01 and lit[1] > dark[1] + 0.05
        assert side.angle == "90" and ref.angle == "REF"


def test_temperature_sensor_reads_the_vial_quantised(unit):
    with hardware.open_temperature_sensor(owner="t") as sensor:
        readings = [sensor.read_celsius() for _ in range(20)]
    true = pio_sim.true_state()["temperature_c"]
    assert all(abs(r - true) < 0.5 for r in readings)
    assert all((r / 0.0625).is_integer() for r in readings)


def test_tachometer_counts_pulses_of_the_spinning_stirrer(unit):
    config = load_config(unit)
    config_map = HardwareMap.from_config(config)
    clock = FakeClock()
    backend = SimBackend(config=config, data_dir=unit, unit="testunit", hardware_map=config_map, clock=clock)
    tach = backend.edge_counter("stirring")
    backend.pwm("1").set_duty(40)
    clock.t += 10
    first = tach.count()
    clock.t += 60
    rpm = backend.true_state()["rpm"]
    assert tach.count() - first == pytest.approx(2 * rpm, rel=0.02)
    assert rpm > 500
    backend.close()


def test_heater_warms_the_vial_in_time(unit):
    clock = FakeClock()
    backend = backend_with_clock(unit, clock)
    start = backend.true_state()["temperature_c"]
    backend.pwm("5").set_duty(50)
    clock.t += 1800
    warm = backend.true_state()["temperature_c"]
    backend.pwm("5").set_duty(0)
    clock.t += 3600
    assert warm > start + 10
    assert backend.true_state()["temperature_c"] < warm - 10
    backend.close()


def test_pump_run_changes_volume_and_what_the_photodiode_sees(unit):
    clock = FakeClock()
    backend = backend_with_clock(unit, clock)
    backend.led("A").set_intensity(100)
    pd = backend.analog_input("2")
    clock.t += 36000  # ten hours of growth
    before = statistics.median(pd.read_voltage() for _ in range(9))
    od_before = backend.true_state()["od"]
    backend.pwm("2").set_duty(100)
    clock.t += 12  # ~6 ml in
    backend.pwm("2").set_duty(0)
    state = backend.true_state()
    assert state["volume_ml"] > 18
    assert state["od"] == pytest.approx(od_before * 14 / state["volume_ml"], rel=0.01)
    after = statistics.median(pd.read_voltage() for _ in range(9))
    assert after < before * 0.9
    backend.close()


def readings(data_dir, seed: str) -> list[float]:
    write_config(data_dir, {"sim": {"seed": seed}})
    clock = FakeClock()
    backend = backend_with_clock(data_dir, clock)
    backend.led("A").set_intensity(50)
    backend.pwm("5").set_duty(30)
    out = []
    for _ in range(20):
        clock.t += 30
        out += [backend.analog_input("2").read_voltage(), backend.temperature_sensor("vial").read_celsius()]
    backend.close()
    return out


def test_a_seed_makes_the_simulator_repeatable(tmp_path):
    one, two, other = (tmp_path / n for n in ("one", "two", "other"))
    for d in (one, two, other):
        d.mkdir()
    assert readings(one, "7") == readings(two, "7")
    assert readings(other, "8") != readings(one, "7")


OTHER_PROCESS = """
import sys
from pioreactor_kernel import hardware
import pio_sim
with hardware.open_pwm("alt_media", owner="other") as pump:
    pump.set_duty(100)
    state = pio_sim.true_state()
    print(state["od"], state["pwm"]["3"], flush=True)
"""


def test_two_processes_see_one_culture(unit):
    with hardware.open_led("ir", owner="t") as ir:
        ir.set_intensity(50)
        out = subprocess.run([sys.executable, "-c", OTHER_PROCESS], capture_output=True, text=True, timeout=60)
        assert out.returncode == 0, out.stderr
        od_there, duty_there = map(float, out.stdout.split())
        state = pio_sim.true_state()
        assert duty_there == 100.0  # it saw its own pump on ...
        assert state["pwm"]["3"] == 0.0  # ... and switched it off on closing
        assert state["alt_media_in_ml"] > 0  # what it pumped is in our vial
        assert state["led"]["A"] == 50.0  # and it worked with our LED on
        assert od_there == pytest.approx(state["od"], rel=0.01)


def test_speed_factor_makes_growth_visible_in_seconds(tmp_path, monkeypatch):
    from pioreactor_kernel.hardware.testing import isolated_unit

    with isolated_unit(tmp_path, monkeypatch, sim={"seed": "1", "speed": "36000", "lag_h": "0"}):
        start = pio_sim.true_state()["od"]
        from pioreactor_kernel.hardware.testing import wait_for

        wait_for(lambda: pio_sim.true_state()["od"] > 2 * start, timeout_s=10, what="OD doubles")


def test_a_device_call_costs_well_under_a_millisecond(unit):
    with hardware.open_analog_input("2", owner="t") as pd, hardware.open_pwm("stirring", owner="t") as stirrer:
        stirrer.set_duty(30)
        costs = []
        for _ in range(200):
            t0 = time.perf_counter()
            pd.read_voltage()
            costs.append(time.perf_counter() - t0)
    assert statistics.median(costs) < 2e-3  # typically ~0.2 ms; generous for a loaded CI machine


def test_pio_sim_status_prints_the_true_state(unit):
    from pioreactor_kernel.cli import build_cli

    result = CliRunner().invoke(build_cli(), ["sim", "status"])
    assert result.exit_code == 0, result.output
    assert "OD (true biomass)" in result.output and "seed 42" in result.output
    result = CliRunner().invoke(build_cli(), ["sim", "status", "--json"])
    assert result.exit_code == 0, result.output
    assert '"volume_ml"' in result.output


def test_pio_sim_reset_starts_a_fresh_culture(unit):
    with hardware.open_pwm("media", owner="t") as pump:
        pump.set_duty(100)
        pump.set_duty(0)
    assert pio_sim.true_state()["media_in_ml"] > 0
    from pioreactor_kernel.cli import build_cli

    result = CliRunner().invoke(build_cli(), ["sim", "reset", "--yes"])
    assert result.exit_code == 0, result.output
    assert pio_sim.true_state()["media_in_ml"] == 0
