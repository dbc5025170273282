"""Thermostat figures in simulated time: settling to 37 °C from 22 °C, overshoot, RMS error over an hour held.

Run: `nox -s bench` or `.venv/bin/python bench/bench_temperature.py [--seeds 5]`.

The real parts run on a virtual clock, so two simulated hours take seconds and the figures
repeat exactly: the simulator's vial (pio_sim's SQLite store and physics, heat at its bench
speed, ``heat_speed`` 1), the sensor judged by ``pio_temperature.readings.assess`` (median of
3 samples), and the ``thermostat`` automation itself (its PID with the default gains of
``[temperature_automation.thermostat]``), stepped every ``reading_interval_s`` (30 s) exactly as
the job steps it. What is not exercised here is the job's MQTT and threads (the tests do that).

Settling time: from switching the thermostat on until the vial's *true* temperature enters
37 ± 0.5 °C for good (to the end of the run). Overshoot: the true maximum above 37 °C. The
held hour: from 30 to 90 minutes after switching on; its RMS error of the true temperature
(and of the published readings, which add the sensor's noise and its 1/16 °C steps), and its
largest true error.
"""

from __future__ import annotations

import argparse
import logging
import math
import statistics
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pio_sim.backend import SimBackend
from pio_temperature.automations import Thermostat
from pio_temperature.config import DEFAULTS, SECTION, heater_pause_s, sensor_policy
from pio_temperature.readings import assess

from pioreactor_kernel.config import Config
from pioreactor_kernel.hardware.hwmap import HardwareMap

TARGET_C = 37.0
START_C = 22.0
BAND_C = 0.5
HOLD_FROM_S, HOLD_TO_S = 1800.0, 5400.0
RUN_S = HOLD_TO_S
PROBE_S = 2.0  # how often the truth is sampled
HEATER = "5"


class Clock:
    def __init__(self) -> None:
        self.t = 1_000_000.0

    def __call__(self) -> float:
        return self.t


class BenchHost:
    """What a temperature automation sees of its job, on the virtual clock."""

    def __init__(self, config: Config, heater: Any):
        self.config, self.heater = config, heater
        self.logger = logging.getLogger("bench")
        self.latest_temperature_c: float | None = None
        self.reading_seq, self.reading_monotonic_s = 0, 0.0
        self.reading_interval_s = float(DEFAULTS[SECTION]["reading_interval_s"])
        self.heater_duty_cycle, self.max_heater_duty_percent = 0.0, 100.0
        self.max_temperature_c, self.fault = float(DEFAULTS[SECTION]["max_temperature_c"]), ""
        self.automation: Any = None

    def set_heater_duty(self, percent: float) -> float:
        self.heater_duty_cycle = min(max(percent, 0.0), self.max_heater_duty_percent)
        return self.heater_duty_cycle


@dataclass
class Figures:
    seed: str
    start_c: float
    settling_s: float
    overshoot_c: float
    rms_true_c: float
    rms_reading_c: float
    max_error_held_c: float
    mean_duty: float


def run(seed: str, pause_s: float | None) -> Figures:
    with tempfile.TemporaryDirectory() as tmp:
        values = {"sim": {"seed": seed, "heat_speed": "1"}, SECTION: dict(DEFAULTS[SECTION])}
        if pause_s is not None:
            values[SECTION]["heater_pause_s"] = str(pause_s)
        config = Config([("defaults", DEFAULTS), ("bench", values)])
        clock = Clock()
        backend = SimBackend(config=config, data_dir=Path(tmp), unit="bench", hardware_map=HardwareMap.from_config(None),
                             clock=clock)
        store, heater, sensor = backend.store, backend.pwm(HEATER), backend.temperature_sensor("vial")
        with store.step() as (state, _):  # a room whose vial rests at exactly 22 °C
            backend.params.ambient_c = START_C - store.draws.ambient_offset_c
            state.temperature_c = START_C
        policy, pause = sensor_policy(config), heater_pause_s(config, "sim")
        host = BenchHost(config, heater)
        thermostat = Thermostat(host, target_temperature=TARGET_C)
        host.automation = thermostat
        thermostat.on_start()

        truth: list[tuple[float, float]] = []
        readings: list[tuple[float, float]] = []
        duties: list[tuple[float, float]] = []
        t0 = clock.t

        def advance_to(t: float) -> None:
            while clock.t < t:
                clock.t = min(t, clock.t + PROBE_S)
                with store.step() as (s, _):
                    truth.append((clock.t - t0, s.temperature_c))

        next_t = t0
        while clock.t - t0 < RUN_S:
            if pause and host.heater_duty_cycle > 0:
                heater.set_duty(0.0)
                advance_to(clock.t + pause)
            reading = assess([sensor.read_celsius() for _ in range(policy.samples_per_reading)], policy)
            assert reading.ok, reading.problem
            host.latest_temperature_c, host.reading_monotonic_s = reading.celsius, clock.t
            host.reading_seq += 1
            readings.append((clock.t - t0, float(reading.celsius)))  # type: ignore[arg-type]
            thermostat.execute()
            heater.set_duty(host.heater_duty_cycle)
            duties.append((clock.t - t0, host.heater_duty_cycle))
            next_t += host.reading_interval_s
            advance_to(next_t)
        backend.close()
    return _figures(seed, truth, readings, duties)


def _figures(seed: str, truth: list[tuple[float, float]], readings: list[tuple[float, float]],
             duties: list[tuple[float, float]]) -> Figures:
    settled_at = 0.0
    for t, c in truth:
        if abs(c - TARGET_C) > BAND_C:
            settled_at = t
    if settled_at > HOLD_FROM_S:
        print(f"WARNING seed {seed}: settled only after {settled_at:.0f} s, inside the held hour", file=sys.stderr)
    held = [c - TARGET_C for t, c in truth if HOLD_FROM_S < t <= HOLD_TO_S]
    held_readings = [c - TARGET_C for t, c in readings if HOLD_FROM_S < t <= HOLD_TO_S]
    held_duties = [d for t, d in duties if HOLD_FROM_S < t <= HOLD_TO_S]
    return Figures(
        seed=seed, start_c=truth[0][1], settling_s=settled_at,
        overshoot_c=max(0.0, max(c for _, c in truth) - TARGET_C),
        rms_true_c=math.sqrt(statistics.fmean(e * e for e in held)),
        rms_reading_c=math.sqrt(statistics.fmean(e * e for e in held_readings)),
        max_error_held_c=max(abs(e) for e in held), mean_duty=statistics.fmean(held_duties),
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=5)
    args = parser.parse_args(argv)
    seeds = [str(i) for i in range(1, args.seeds + 1)]
    print(f"thermostat, simulated time: 22 -> 37 °C, band ±{BAND_C} °C, readings every "
          f"{DEFAULTS[SECTION]['reading_interval_s']} s, gains {DEFAULTS['temperature_automation.thermostat']}")
    header = (f"{'case':<28}{'seed':>5}{'settling (s)':>14}{'overshoot (°C)':>16}{'RMS true (°C)':>15}"
              f"{'RMS read (°C)':>15}{'max |e| held':>14}{'duty %':>8}")
    print(header)
    print("-" * len(header))
    for label, pause in (("sim (no heater pause)", None), ("heater pause 5 s/reading", 5.0)):
        rows = [run(seed, pause) for seed in seeds]
        for f in rows:
            print(f"{label:<28}{f.seed:>5}{f.settling_s:>14.0f}{f.overshoot_c:>16.3f}{f.rms_true_c:>15.4f}"
                  f"{f.rms_reading_c:>15.4f}{f.max_error_held_c:>14.3f}{f.mean_duty:>8.1f}")
        med = {k: statistics.median(getattr(f, k) for f in rows)
               for k in ("settling_s", "overshoot_c", "rms_true_c", "rms_reading_c", "max_error_held_c", "mean_duty")}
        print(f"{label + ' (median)':<28}{'':>5}{med['settling_s']:>14.0f}{med['overshoot_c']:>16.3f}"
              f"{med['rms_true_c']:>15.4f}{med['rms_reading_c']:>15.4f}{med['max_error_held_c']:>14.3f}"
              f"{med['mean_duty']:>8.1f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
