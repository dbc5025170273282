"""Cluster benchmark: `pios run stirring --all` to 16 simulated units (16 agents on this machine).

Prints: agents' start-up time and memory (RSS), the round trip of one command to every unit
(in-process and as a `pios` process), and for `pios run stirring --all` the time until every
unit has answered (each answer comes once its stirring job is `ready`), then `pios kill`.

    .venv/bin/python bench/bench_cluster.py [--units 16] [--rounds 3]

Everything stays on this machine: one Mosquitto on a free loopback port, zeroconf off (one
agent with zeroconf on the loopback interface, for its memory figure).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from pioreactor_kernel.testing import Recorder, running_broker, unit_env, wait_for

SECRET = "bench-cluster-secret-0123456789"


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def environment(base: Path, port: int, unit: str, leader: str, **extra: str) -> dict[str, str]:
    env = unit_env(base / unit, port, unit=unit, experiment="bench")
    env.update({"PIO__cluster__secret": SECRET, "PIO__cluster__leader_name": leader, "PIO__cluster__zeroconf": "false",
                "PIO__cluster__zeroconf_interfaces": "127.0.0.1", "PIO__cluster__inventory": "local",
                "PIO__hardware__backend": "sim", "PIO__sim__seed": "1", **extra})
    clean = {k: v for k, v in os.environ.items() if not k.startswith("PIO")}
    return {**clean, **env}


def pio(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "pioreactor_kernel", *args], env=env, capture_output=True, text=True,
                          timeout=120)


def pios(env: dict[str, str], *args: str) -> tuple[float, subprocess.CompletedProcess[str]]:
    start = time.perf_counter()
    result = subprocess.run([str(Path(sys.executable).parent / "pios"), *args], env=env, capture_output=True,
                            text=True, timeout=300)
    return time.perf_counter() - start, result


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--units", type=int, default=16)
    parser.add_argument("--rounds", type=int, default=3)
    opts = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="bench-cluster-") as tmp, running_broker(Path(tmp)) as broker:
        base = Path(tmp)
        leader = "leader"
        names = [f"unit{i:02d}" for i in range(1, opts.units + 1)]
        leader_env = environment(base, broker.port, leader, leader)
        envs = {name: environment(base, broker.port, name, leader) for name in names}
        for name in names:
            pio(leader_env, "workers", "add", name).check_returncode()
        print(f"machine: {os.cpu_count()} cores, load average at start {os.getloadavg()[0]:.1f} (shared box)")
        recorder = Recorder(broker.port, "pioreactor/+/$experiment/agent/$state")
        agents: dict[str, subprocess.Popen[bytes]] = {}
        try:
            start = time.perf_counter()
            for name in names:
                agents[name] = subprocess.Popen([sys.executable, "-m", "pioreactor_kernel", "run", "agent"],
                                                env=envs[name], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            wait_for(lambda: all(recorder.last(f"pioreactor/{n}/$experiment/agent/$state") == "ready" for n in names),
                     120, what="every agent ready")
            started_s = time.perf_counter() - start
            idle_rss = [rss_mb(p.pid) for p in agents.values()]
            print(f"agents: {len(names)} started and ready in {started_s:.2f} s (all at once on {os.cpu_count()} cores)")
            print(f"agent RSS idle: median {statistics.median(idle_rss):.1f} MB, max {max(idle_rss):.1f} MB, "
                  f"total {sum(idle_rss):.0f} MB")

            round_trips = in_process_round_trips(leader_env, names)
            print(f"one command to all {len(names)} units, in process (ClusterClient.send status): median "
                  f"{statistics.median(round_trips) * 1000:.1f} ms, max {max(round_trips) * 1000:.1f} ms (20 rounds)")
            help_s = [pios(leader_env, "--help")[0] for _ in range(3)]
            status_s = []
            for _ in range(5):
                elapsed, result = pios(leader_env, "status", "--all")
                assert result.returncode == 0, result.stdout + result.stderr
                status_s.append(elapsed)
            print(f"`pios --help` (interpreter + CLI start): median {statistics.median(help_s):.2f} s")
            print(f"`pios status --all` ({len(names)} units), whole process: median {statistics.median(status_s):.2f} s, "
                  f"so per-command overhead beyond start-up ~{statistics.median(status_s) - statistics.median(help_s):.2f} s")

            for r in range(1, opts.rounds + 1):
                elapsed, result = pios(leader_env, "run", "stirring", "--all", "--target-rpm", "400", "--json",
                                       "--timeout", "120")
                rows = [json.loads(line) for line in result.stdout.splitlines()]
                answers = sorted(row["elapsed_s"] for row in rows if row["elapsed_s"] is not None)
                ok = sum(row["status"] == "ok" for row in rows)
                print(f"round {r}: `pios run stirring --all`: {ok}/{len(names)} ok; every unit answered within "
                      f"{answers[-1]:.2f} s of the command (first {answers[0]:.2f} s, median "
                      f"{statistics.median(answers):.2f} s); whole `pios` process {elapsed:.2f} s")
                if r == 1:
                    busy_rss = [rss_mb(p.pid) for p in agents.values()]
                    job_rss = [rss_mb(row["data"]["pid"]) for row in rows if row["data"].get("pid")]
                    print(f"agent RSS after validating and starting a job: median {statistics.median(busy_rss):.1f} MB, "
                          f"max {max(busy_rss):.1f} MB (for scale: a stirring job, median "
                          f"{statistics.median(job_rss):.1f} MB)")
                elapsed, result = pios(leader_env, "kill", "stirring", "--all", "--json", "--timeout", "60")
                rows = [json.loads(line) for line in result.stdout.splitlines()]
                print(f"round {r}: `pios kill stirring --all`: {sum(row['status'] == 'ok' for row in rows)}/{len(names)} "
                      f"ok; whole `pios` process {elapsed:.2f} s")
            zeroconf_rss(base, broker.port, leader)
            print(f"load average at the end {os.getloadavg()[0]:.1f}")
        finally:
            recorder.close()
            for name in names:
                pio(envs[name], "kill", "--all")
            for proc in agents.values():
                proc.wait(10)
            from pioreactor_kernel.hardware.watchdog import stop

            for name in names:
                stop(base / name)


def in_process_round_trips(env: dict[str, str], names: list[str]) -> list[float]:
    os.environ.update(env)
    from pioreactor_kernel import config

    config.get_config(reload=True)
    from pio_cluster.client import ClusterClient

    timings = []
    with ClusterClient() as client:
        for _ in range(20):
            start = time.perf_counter()
            results = client.send(names, "status", {}, timeout_s=30)
            timings.append(time.perf_counter() - start)
            assert all(r.ok for r in results), [r.detail for r in results if not r.ok]
    return timings


def zeroconf_rss(base: Path, port: int, leader: str) -> None:
    env = environment(base, port, "zc", leader, PIO__cluster__zeroconf="true", PIO__cluster__advertise_address="127.0.0.9")
    proc = subprocess.Popen([sys.executable, "-m", "pioreactor_kernel", "run", "agent"], env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        rec = Recorder(port, "pioreactor/zc/$experiment/agent/discovery")
        try:
            wait_for(lambda: json.loads(rec.last("pioreactor/zc/$experiment/agent/discovery") or "{}").get("advertised"),
                     30, what="zeroconf agent advertised")
        finally:
            rec.close()
        print(f"agent RSS with zeroconf advertising (loopback): {rss_mb(proc.pid):.1f} MB")
    finally:
        proc.terminate()
        proc.wait(10)


if __name__ == "__main__":
    main()
