"""Kernel figures: `pio --help` / `pio version` cold start, idle job memory, launch -> ready, SIGINT -> exit.

Run: `nox -s bench` or `.venv/bin/python bench/bench_kernel.py`. Prints a table with the
Pioreactor's figures on this machine and our targets (issue 3).

The job measured is `stirring` when pio-stirring is installed, else the kernel's test plugin
`counter` (pip-installed into a temporary directory). It starts as `pio run stirring` does on a
worker: the unit has a `config.ini`, and the experiment is the leader's retained
`latest_experiment` (no `PIO_EXPERIMENT` in the environment, which jobs started by the UI get).
"""

from __future__ import annotations

import os
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from pioreactor_kernel.mqtt import BrokerAddress, publish_once
from pioreactor_kernel.names import LATEST_EXPERIMENT_TOPIC
from pioreactor_kernel.testing import Recorder, running_broker, unit_env, wait_for

ROOT = Path(__file__).resolve().parents[1]
PIO = str(Path(sys.executable).with_name("pio"))
RUNS = int(os.environ.get("BENCH_RUNS", "25"))
JOB_RUNS = int(os.environ.get("BENCH_JOB_RUNS", "20"))  # job starts: their medians move more than the CLI's
CONFIG_INI = """\
[cluster]
leader_name = leader

[stirring]
target_rpm = 500
pulses_per_revolution = 2

[logging]
max_file_mb = 10
"""


def _median_ms(argv: list[str], env: dict[str, str], runs: int = RUNS) -> tuple[float, float]:
    subprocess.run(argv, env=env, capture_output=True, check=True)  # warm the index and the page cache
    times = []
    for _ in range(runs):
        t0 = time.perf_counter()
        subprocess.run(argv, env=env, capture_output=True, check=True)
        times.append((time.perf_counter() - t0) * 1000)
    return statistics.median(times), min(times)


def _job_figures(job: str, env: dict[str, str], port: int, unit: str, runs: int = JOB_RUNS) -> dict[str, float]:
    rec = Recorder(port, f"pioreactor/{unit}/+/{job}/$state")
    topic = f"pioreactor/{unit}/exp1/{job}/$state"
    ready_ms, exit_ms, rss_mb = [], [], []
    for i in range(runs):
        n_before = len(rec.payloads(topic))
        t0 = time.perf_counter()
        proc = subprocess.Popen([PIO, "run", job], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        wait_for(lambda n=n_before, p=proc: "ready" in rec.payloads(topic)[n:] or p.poll() is not None, 20, 0.0005)
        if proc.poll() is not None:
            raise RuntimeError(proc.stderr.read().decode())
        ready_ms.append((time.perf_counter() - t0) * 1000)
        if i == 0:
            time.sleep(2)  # idle a little before reading the peak
        rss_mb.append(_peak_rss_mb(proc.pid))
        t1 = time.perf_counter()
        proc.send_signal(signal.SIGINT)
        proc.wait(10)
        exit_ms.append((time.perf_counter() - t1) * 1000)
        assert proc.returncode == 0, proc.stderr.read().decode()
    rec.close()
    p25, _, p75 = statistics.quantiles(ready_ms, n=4)
    return {"ready": statistics.median(ready_ms), "ready_p25": p25, "ready_p75": p75,
            "exit": statistics.median(exit_ms), "rss": max(rss_mb)}


def _peak_rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def main() -> None:
    tmp = Path(tempfile.mkdtemp(prefix="pio-bench-"))
    try:
        with running_broker(tmp) as broker:
            env = {**os.environ, **unit_env(tmp / "data", broker.port, unit="bench1", experiment=None)}
            env.pop("PIO_EXPERIMENT", None)
            (tmp / "data" / "config.ini").write_text(CONFIG_INI)
            publish_once(LATEST_EXPERIMENT_TOPIC, "exp1", retain=True,
                         address=BrokerAddress(host="127.0.0.1", port=broker.port))
            job = "stirring"
            listed = subprocess.run([PIO, "run", "--help"], env=env, capture_output=True, text=True).stdout
            if "stirring" not in listed:
                site = tmp / "site"
                subprocess.run([sys.executable, "-m", "pip", "install", "-q", "--no-deps", "--no-build-isolation",
                                "--target", str(site), str(ROOT / "tests/plugins/pio_testplugin")], check=True,
                               capture_output=True)
                env["PYTHONPATH"] = str(site)
                job = "counter"
            help_med, help_min = _median_ms([PIO, "--help"], env)
            ver_med, ver_min = _median_ms([PIO, "version"], env)
            base_med, _ = _median_ms([sys.executable, "-c", "pass"], env)
            figures = _job_figures(job, env, broker.port, "bench1")
    finally:
        shutil.rmtree(tmp, ignore_errors=True)

    rows = [
        ("pio --help, median (min)", f"{help_med:.0f} ms ({help_min:.0f})", "130 ms", "<= 65 ms", help_med <= 65),
        ("pio version, median (min)", f"{ver_med:.0f} ms ({ver_min:.0f})", "55 ms", "<= 35 ms", ver_med <= 35),
        (f"idle job ({job}) peak RSS", f"{figures['rss']:.1f} MB", "34 MB", "<= 25 MB", figures["rss"] <= 25),
        (f"launch -> $state ready ({job}), median (p25-p75)",
         f"{figures['ready']:.0f} ms ({figures['ready_p25']:.0f}-{figures['ready_p75']:.0f})", "210 ms", "<= 120 ms",
         figures["ready"] <= 120),
        (f"SIGINT -> exit ({job})", f"{figures['exit']:.0f} ms", "164 ms", "<= 50 ms", figures["exit"] <= 50),
    ]
    print(f"interpreter: {os.path.realpath(sys.executable)} (Python {sys.version.split()[0]}); "
          "see docs/kernel.md, 'The interpreter'")
    print(f"python -c pass on this machine now: {base_med:.0f} ms (median of {RUNS}); load average {os.getloadavg()[0]:.2f}")
    print(f"{'figure':<50}{'ours':>16}{'Pioreactor':>12}{'target':>11}  ")
    for name, ours, theirs, target, ok in rows:
        print(f"{name:<50}{ours:>16}{theirs:>12}{target:>11}  {'PASS' if ok else 'MISS'}")


if __name__ == "__main__":
    main()
