"""Stirring figures against the simulator: time to settle, steady-state error, recovery, calibration accuracy.

Run: `.venv/bin/python bench/bench_stirring.py` (about 5 minutes; BENCH_SEEDS=1,2,3 picks the
simulated units). Each seed is a fresh unit (its own hidden motor constants) with a real
Mosquitto; the `stirring` job runs in this process with the default config; the truth is the
simulator's hidden RPM, sampled every 0.2 s. Prints one figure per row, one column per seed, and the medians. Settle = the time after
which the RPM stays within ±5 % of the target until the end of the trace (20-25 s).
"""

from __future__ import annotations

import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "plugins" / "pio_stirring" / "tests"))

from pioreactor_kernel import config, hardware, plugins  # noqa: E402
from pioreactor_kernel.hardware.watchdog import stop as stop_watchdog  # noqa: E402
from pioreactor_kernel.testing import pio, running_broker, unit_env  # noqa: E402

TARGET = 500.0
BAND = 0.05


def rpm() -> float:
    import pio_sim

    return float(pio_sim.true_state()["rpm"])


def trace(seconds: float, interval_s: float = 0.2) -> list[tuple[float, float]]:
    """(seconds since the start of the trace, true RPM)."""
    t0, out = time.monotonic(), []
    while (now := time.monotonic()) - t0 < seconds:
        out.append((now - t0, rpm()))
        time.sleep(interval_s)
    return out


def settle_time(samples: list[tuple[float, float]]) -> float:
    """When the RPM entered the ±5 % band for good (NaN if it never did)."""
    for i, (t, _) in enumerate(samples):
        if all(abs(r - TARGET) <= BAND * TARGET for _, r in samples[i:]):
            return t
    return float("nan")


def steady_errors(samples: list[tuple[float, float]]) -> tuple[float, float]:
    errors = [abs(r - TARGET) for _, r in samples]
    return statistics.mean(errors), max(errors)


def one_unit(seed: str, port: int, base: Path) -> dict[str, float]:
    from pio_stirring.job import Stirring
    from stirring_simtools import save_true_calibration, scale_motor_gain, true_rpm_curve

    from pioreactor_kernel import calibrations

    data = base / f"unit-{seed}"
    env = unit_env(data, port, unit=f"bench{seed}", experiment="bench")
    env.update({"PIO__hardware__backend": "sim", "PIO__sim__seed": seed})
    os.environ.update(env)
    hardware.reset()
    plugins.reset_plugin_manager()
    config._cached = None
    out: dict[str, float] = {}
    try:
        # 1. calibration accuracy (light stir bar so the sweep is quick)
        t0 = time.monotonic()
        result = pio("calibrate", "stirring", "--yes", "--min-duty", "5", "--max-duty", "80", "--steps", "7",
                     "--settle-s", "1", "--measure-s", "2", "--name", "bench", timeout=120,
                     env={"PIO__sim__stirring_time_constant_s": "0.2"})
        assert result.returncode == 0, result.stderr
        out["calibration_s"] = time.monotonic() - t0
        slope, intercept = calibrations.active("stirring").curve_data
        true_slope, true_stall = true_rpm_curve()
        out["slope_err_pct"] = 100 * (slope - true_slope) / true_slope
        out["stall_err_duty"] = -intercept / slope - true_stall
        calibrations.delete("stirring", "bench")
        # 2. uncalibrated start
        with Stirring(target_rpm=TARGET):
            start = trace(25)
        out["uncal_peak_rpm"], out["uncal_settle_s"] = max(r for _, r in start), settle_time(start)
        # 3. calibrated start, steady state, disturbance
        save_true_calibration()
        with Stirring(target_rpm=TARGET):
            start = trace(20)
            steady = trace(10)
            scale_motor_gain(0.7)
            disturbed = trace(25)
        out["cal_peak_rpm"], out["cal_settle_s"] = max(r for _, r in start), settle_time(start)
        out["steady_mean_abs_rpm"], out["steady_max_abs_rpm"] = steady_errors(steady)
        out["recovery_s"], out["disturbed_min_rpm"] = settle_time(disturbed), min(r for _, r in disturbed)
    finally:
        hardware.reset()
        stop_watchdog(data)
    return out


COLUMNS = [
    ("slope_err_pct", "cal slope err %", "{:+.2f}"), ("stall_err_duty", "cal stall err (duty %)", "{:+.2f}"),
    ("calibration_s", "cal sweep s", "{:.0f}"), ("uncal_peak_rpm", "uncal peak RPM", "{:.0f}"),
    ("uncal_settle_s", "uncal settle s", "{:.1f}"), ("cal_peak_rpm", "cal peak RPM", "{:.0f}"),
    ("cal_settle_s", "cal settle s", "{:.1f}"), ("disturbed_min_rpm", "dip after -30 % RPM", "{:.0f}"),
    ("steady_mean_abs_rpm", "steady mean |err| RPM", "{:.1f}"),
    ("steady_max_abs_rpm", "steady max |err| RPM", "{:.1f}"), ("recovery_s", "recovery (-30 %) s", "{:.1f}"),
]


def main() -> None:
    seeds = os.environ.get("BENCH_SEEDS", "1,2,3").split(",")
    with tempfile.TemporaryDirectory() as tmp, running_broker(Path(tmp)) as broker:
        rows = {seed: one_unit(seed, broker.port, Path(tmp)) for seed in seeds}
    print(f"stirring vs the simulator, target {TARGET:g} RPM, band ±{BAND:.0%}, default [stirring] config")
    print(f"{'figure':<26}" + "".join(f"{'seed ' + s:>12}" for s in seeds) + f"{'median':>12}")
    for key, label, fmt in COLUMNS:
        values = [rows[s][key] for s in seeds]
        print(f"{label:<26}" + "".join(f"{fmt.format(v):>12}" for v in values) +
              f"{fmt.format(statistics.median(values)):>12}")


if __name__ == "__main__":
    main()
