"""Benchmark: `pio export` of 1,000,000 OD rows (16 units) from the leader's SQLite database.

Builds the database once (through the leader's own schema), then runs the real `pio export` in a
fresh process for CSV and for Parquet and prints, for each, the wall time of the whole command,
the peak resident memory of that process (VmHWM) and the zip's size. The figures include the
process start and the plugin loading of `pio`.

The machine is shared: ``--repeat N`` runs each export N times and prints the median and the
range, and each line gives the load average when it started. The last line sets the medians
of the larger run against the issue's targets (CSV at most 3 s, Parquet faster — read both as
faster than the CSV's 3 s and as faster than our CSV —, under 60 MB).

    .venv/bin/python bench/bench_export.py [--rows 1000000] [--units 16] [--repeat 3]
"""

from __future__ import annotations

import argparse
import os
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
import zipfile
from pathlib import Path

MEASURE = """
import os, resource, runpy, sys, time
start = time.perf_counter()
sys.argv = ["pio", *sys.argv[1:]]
try:
    runpy.run_module("pioreactor_kernel", run_name="__main__")
except SystemExit as e:
    code = e.code
else:
    code = 0
hwm = [l for l in open("/proc/self/status") if l.startswith("VmHWM")][0].split()[1]
cpu = sum(os.times()[:2])
print(f"BENCH {time.perf_counter() - start:.3f} {int(hwm) / 1024:.1f} {cpu:.2f}", file=sys.stderr)
sys.exit(code)
"""


def build(data_dir: Path, rows: int, units: int) -> None:
    env = {**os.environ, "PIO_DATA_DIR": str(data_dir), "PIO_UNIT": "leader"}
    subprocess.run(
        [sys.executable, "-m", "pioreactor_kernel", "db", "migrate"], env=env, check=True, capture_output=True
    )
    conn = sqlite3.connect(data_dir / "storage" / "pioreactor.sqlite")
    conn.execute("PRAGMA journal_mode=wal")
    sql = (
        "INSERT INTO od_readings (experiment, pioreactor_unit, timestamp, channel, od_reading, angle, "
        "ir_led_intensity, calibrated, calibration_name) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)"
    )
    per_unit = rows // units
    batch = []
    for i in range(per_unit):  # as they arrive: every unit's reading of a moment, moment after moment
        s = i * 5  # a reading every 5 s
        for u in range(units):
            stamp = f"2026-11-{24 + s // 86400:02d}T{s // 3600 % 24:02d}:{s // 60 % 60:02d}:{s % 60:02d}.{u * 1000:06d}Z"
            batch.append(
                ("bench", f"unit{u + 1:02d}", stamp, "2", 0.05 + i * 1e-6 + u * 1e-3, "90", 80.0, 0, None)
            )
        if len(batch) >= 50_000:
            conn.executemany(sql, batch)
            conn.commit()
            batch = []
    conn.executemany(sql, batch)
    conn.commit()
    conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    conn.close()


def run_export(data_dir: Path, fmt: str, out: Path) -> tuple[float, float, float, int]:
    env = {**os.environ, "PIO_DATA_DIR": str(data_dir), "PIO_UNIT": "leader"}
    result = subprocess.run(
        [
            sys.executable,
            "-c",
            MEASURE,
            "export",
            "--experiment",
            "bench",
            "--datasets",
            "od_readings",
            "--format",
            fmt,
            "-o",
            str(out),
        ],
        env=env,
        capture_output=True,
        text=True,
    )
    line = [ln for ln in result.stderr.splitlines() if ln.startswith("BENCH")]
    if result.returncode or not line:
        raise SystemExit(f"export failed: {result.stdout}{result.stderr}")
    _, seconds, peak_mb, cpu_s = line[-1].split()
    with zipfile.ZipFile(out) as zf:
        assert "manifest.json" in zf.namelist()
    return float(seconds), float(peak_mb), float(cpu_s), out.stat().st_size


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--units", type=int, default=16)
    parser.add_argument("--repeat", type=int, default=1, help="runs of each export (median and range)")
    args = parser.parse_args()
    print(f"# pio export, {os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.1f} at start")
    medians: dict[str, tuple[float, float]] = {}
    for rows in (args.rows // 10, args.rows):  # the smaller one shows that memory does not grow with size
        with tempfile.TemporaryDirectory() as tmp:
            data_dir = Path(tmp) / "leader"
            t = time.perf_counter()
            build(data_dir, rows, args.units)
            print(
                f"{rows:,} OD rows ({args.units} units, database built in {time.perf_counter() - t:.1f} s):"
            )
            for fmt in ("csv", "parquet"):
                runs = []
                for _ in range(args.repeat):
                    load = os.getloadavg()[0]
                    seconds, peak_mb, cpu_s, size = run_export(data_dir, fmt, Path(tmp) / f"export-{fmt}.zip")
                    runs.append((seconds, peak_mb))
                    print(
                        f"  {fmt:>7}: {seconds:.2f} s (CPU {cpu_s:.2f} s), peak memory {peak_mb:.0f} MB (VmHWM), "
                        f"zip {size / 1e6:.1f} MB; load {load:.1f}"
                    )
                times, peaks = [r[0] for r in runs], [r[1] for r in runs]
                medians[fmt] = (statistics.median(times), max(peaks))
                if len(runs) > 1:
                    print(
                        f"  {fmt:>7}: median {statistics.median(times):.2f} s (range {min(times):.2f} .. "
                        f"{max(times):.2f}), peak memory median {statistics.median(peaks):.0f} MB "
                        f"(range {min(peaks):.0f} .. {max(peaks):.0f}), {len(runs)} runs"
                    )
    csv_s, csv_mb = medians["csv"]
    parquet_s, parquet_mb = medians["parquet"]
    print(
        f"issue #9 targets for {args.rows:,} rows: CSV <= 3 s: {_verdict(csv_s <= 3.0)} ({csv_s:.2f} s); "
        f"Parquet faster (than CSV's 3 s: {_verdict(parquet_s < 3.0)}; than our CSV: "
        f"{_verdict(parquet_s < csv_s)}) ({parquet_s:.2f} s); "
        f"peak < 60 MB: {_verdict(max(csv_mb, parquet_mb) < 60)} ({max(csv_mb, parquet_mb):.0f} MB); "
        f"load average now {os.getloadavg()[0]:.1f}"
    )


def _verdict(met: bool) -> str:
    return "met" if met else "MISSED"


if __name__ == "__main__":
    main()
