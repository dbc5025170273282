"""Benchmark of pio-od's jobs on this machine: CPU per reading of growth_rate_calculating (the whole
job process: MQTT in and out, decoding, estimator, publishing) and the cost of one od_reading reading
on the simulator (wall time, CPU, how long the IR LED is on).

Run: `.venv/bin/python bench/bench_od.py [--readings N]`. Needs Mosquitto (as the tests do).
"""

from __future__ import annotations

import argparse
import json
import math
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path


def _process_cpu_s(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def bench_growth_rate_job(env: dict[str, str], port: int, readings: int, rate_hz: float) -> dict[str, float]:
    from pio_od.messages import iso_timestamp

    from pioreactor_kernel.hardware.testing import wait_for
    from pioreactor_kernel.testing import Recorder

    base = f"pioreactor/{env['PIO_UNIT']}/{env['PIO_EXPERIMENT']}"
    rec = Recorder(port, f"{base}/growth_rate_calculating/#")
    proc = subprocess.Popen([sys.executable, "-m", "pioreactor_kernel", "run", "growth_rate_calculating"],
                            env={**os.environ, **env}, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        wait_for(lambda: rec.last(f"{base}/growth_rate_calculating/$state") == "ready", 30, what="job ready")
        idle_start, t_idle = _process_cpu_s(proc.pid), time.monotonic()
        time.sleep(2.0)
        idle_rate = (_process_cpu_s(proc.pid) - idle_start) / (time.monotonic() - t_idle)
        t0 = 1_800_000_000.0
        cpu0, wall0 = _process_cpu_s(proc.pid), time.monotonic()
        for i in range(readings):
            if rate_hz:  # paced: each reading handled on its own, as at 5 s intervals
                time.sleep(max(0.0, wall0 + i / rate_hz - time.monotonic()))
            stamp = iso_timestamp(t0 + 5 * i)
            od = 0.1 * math.exp(0.5 * 5 * i / 3600)
            r = {"timestamp": stamp, "angle": "90", "od": od, "channel": "2", "ir_led_intensity": 50.0, "calibrated": 0}
            rec.client.publish(f"{base}/od_reading/ods", json.dumps({"timestamp": stamp, "ods": {"2": r}}))
        topic = f"{base}/growth_rate_calculating/growth_rate"
        wait_for(lambda: len(rec.payloads(topic)) >= readings - 5, 120, what="every estimate published")
        wall = time.monotonic() - wall0
        cpu = _process_cpu_s(proc.pid) - cpu0 - idle_rate * wall
    finally:
        proc.terminate()
        proc.wait(15)
        rec.close()
    return {"cpu_ms_per_reading": 1e3 * cpu / readings, "idle_cpu_percent": 100 * idle_rate,
            "readings_per_s": readings / wall}


def bench_od_reading(readings: int) -> dict[str, float]:
    from pio_od.od_reading import ODReader

    with ODReader(interval=3600) as job:
        walls, cpus, led = [], [], []
        for _ in range(readings):
            w, c = time.perf_counter(), time.thread_time()
            job.record_reading()
            walls.append(time.perf_counter() - w)
            cpus.append(time.thread_time() - c)
            led.append(job.hw.sampler.led_on_s)
    walls.sort()
    return {"wall_ms_median": 1e3 * walls[len(walls) // 2], "wall_ms_p95": 1e3 * walls[int(0.95 * len(walls))],
            "cpu_ms_mean": 1e3 * sum(cpus) / len(cpus), "led_on_ms_median": 1e3 * sorted(led)[len(led) // 2],
            "samples": job.hw.sampler.samples, "dark_samples": job.hw.sampler.dark_samples}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--readings", type=int, default=1500, help="readings fed to growth_rate_calculating")
    parser.add_argument("--rate-hz", type=float, default=100.0, help="readings per second fed (0: a burst)")
    args = parser.parse_args()
    from pioreactor_kernel.hardware.watchdog import stop
    from pioreactor_kernel.testing import running_broker, unit_env

    with tempfile.TemporaryDirectory(ignore_cleanup_errors=True) as tmp, running_broker(Path(tmp)) as broker:
        data_dir = Path(tmp) / "unit"
        env = unit_env(data_dir, broker.port, unit="bench1", experiment="bench")
        env.update({"PIO__hardware__backend": "sim", "PIO__sim__seed": "1"})
        os.environ.update(env)
        try:
            gr = bench_growth_rate_job(env, broker.port, args.readings, args.rate_hz)
            od = bench_od_reading(200)
        finally:
            from pioreactor_kernel import hardware

            hardware.reset()
            stop(data_dir.resolve())
    print("growth_rate_calculating (job process, all of it):")
    print(f"  CPU per reading        {gr['cpu_ms_per_reading']:.3f} ms   (target < 1 ms; the Pioreactor's job: ~2 ms)")
    print(f"  idle CPU               {gr['idle_cpu_percent']:.2f} %  (subtracted)")
    fed = f"paced at {args.rate_hz:g}/s" if args.rate_hz else "in a burst"
    print(f"  throughput             {gr['readings_per_s']:.0f} readings/s over {args.readings} readings ({fed})")
    print(f"od_reading on the simulator ({od['samples']:.0f} lit + {od['dark_samples']:.0f} dark samples per channel):")
    print(f"  wall per reading       median {od['wall_ms_median']:.1f} ms, p95 {od['wall_ms_p95']:.1f} ms")
    print(f"  CPU per reading        {od['cpu_ms_mean']:.1f} ms (mostly the simulator's SQLite transactions)")
    print(f"  IR LED on per reading  {od['led_on_ms_median']:.1f} ms")


if __name__ == "__main__":
    main()
