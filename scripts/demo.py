"""The demo: a leader and three simulated workers on this machine, one broker, the live event log.

Each unit gets its own data dir under .demo/ (a fresh one gets working defaults; the demo only
writes the broker's port and the simulator's speed and seed). Jobs start only if their plugin is
installed, so the demo always shows what exists. Ctrl-C (or --duration) stops everything.
"""

from __future__ import annotations

import argparse
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PIO = str(ROOT / ".venv" / "bin" / "pio")
EXPERIMENT = "demo"

# (unit, [(job, options)]) — what a lab would run: stirring, OD, growth rate, a thermostat, one
# dosing strategy per worker, and on the leader the database writer and the web UI.
def plan(speed: float) -> list[tuple[str, list[tuple[str, list[str]]]]]:
    """Rates given to the dosing automations are per wall-clock hour: biology runs ``speed`` x faster."""
    culture = [("stirring", []), ("od_reading", []), ("growth_rate_calculating", [])]
    return [
        ("leader", [("mqtt_to_db", []), ("ui", [])]),
        ("worker1", [*culture,
                     ("temperature_automation", ["--automation-name", "thermostat", "--target-temperature", "37"]),
                     ("dosing_automation", ["--automation-name", "turbidostat", "--target-normalized-od", "3",
                                            "--exchange-volume-ml", "1.0", "--duration", "0.1"])]),
        ("worker2", [*culture,
                     ("temperature_automation", ["--automation-name", "thermostat", "--target-temperature", "35"]),
                     ("dosing_automation", ["--automation-name", "chemostat", "--dilution-rate", f"{0.5 * speed:g}",
                                            "--duration", "0.2"])]),
        ("worker3", [*culture,
                     ("temperature_automation", ["--automation-name", "thermostat", "--target-temperature", "30"]),
                     ("led_automation", ["--automation-name", "light_dark_cycle", "--light-duration-hours",
                                         f"{16 / speed:g}", "--dark-duration-hours", f"{8 / speed:g}",
                                         "--duration", "0.1"])]),
    ]


def unit_env(unit: str, port: int) -> dict[str, str]:
    return {**os.environ, "PIO_DATA_DIR": str(ROOT / ".demo" / unit), "PIO_UNIT": unit, "PIO_EXPERIMENT": EXPERIMENT,
            "PIO__mqtt__port": str(port), "PIO__mqtt__host": "127.0.0.1"}


def write_unit_config(unit: str, index: int, speed: float) -> None:
    data = ROOT / ".demo" / unit
    data.mkdir(parents=True, exist_ok=True)
    (data / "unit_config.ini").write_text(
        f"# written by scripts/demo.py\n[sim]\nspeed = {speed:g}\nseed = {index + 1}\n[cluster]\nleader_name = leader\n"
        f"[growth_rate_calculating]\n# report biological growth rates (1/h of the culture's time)\ntime_scale = {speed:g}\n"
        "[dosing_automation]\n# the demo skips pump calibration and doses at the nominal flow;\n"
        "# a real set-up runs `pio calibrate pump --pump media` (and alt_media, waste) instead\n"
        "allow_uncalibrated = true\n"
    )


def installed_jobs(env: dict[str, str]) -> set[str]:
    out = subprocess.run([PIO, "run", "--help"], env=env, capture_output=True, text=True).stdout
    jobs, in_section = set(), False
    for line in out.splitlines():
        if line.strip() == "Jobs:":
            in_section = True
        elif in_section and line.startswith("  ") and line.strip():
            jobs.add(line.split()[0])
    return jobs


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--duration", type=float, default=None, help="stop after this many seconds")
    parser.add_argument("--speed", type=float, default=60.0, help="biology runs this many times faster")
    parser.add_argument("--fresh", action="store_true", help="wipe .demo/ first")
    args = parser.parse_args()
    if args.fresh:
        shutil.rmtree(ROOT / ".demo", ignore_errors=True)

    sys.path.insert(0, str(ROOT))
    from pioreactor_kernel.broker import Broker, free_port, port_open

    port = 1883 if not port_open("127.0.0.1", 1883) else free_port()
    broker = Broker(ROOT / ".demo" / "broker", port=port).start(daemon=True)
    print(f"==> broker: Mosquitto on 127.0.0.1:{port} (config {broker.directory / 'mosquitto.conf'})")
    procs: list[tuple[str, str, subprocess.Popen[bytes]]] = []

    def stop(*_: object) -> None:
        print("\n==> stopping the demo")
        for _unit, _job, proc in procs:
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
        for _unit, _job, proc in procs:
            try:
                proc.wait(10)
            except subprocess.TimeoutExpired:
                proc.kill()
        broker.stop()
        sys.exit(0)

    signal.signal(signal.SIGTERM, stop)
    available = installed_jobs(unit_env("leader", port))
    units = plan(args.speed)
    for index, (unit, jobs) in enumerate(units):
        write_unit_config(unit, index, args.speed)
        env = unit_env(unit, port)
        for job, options in jobs:
            if job not in available:
                continue
            log = (ROOT / ".demo" / unit / f"{job}.out").open("wb")
            procs.append((unit, job, subprocess.Popen([PIO, "run", job, *options], env=env, stdout=log, stderr=log)))
            print(f"==> {unit}: pio run {job} {' '.join(options)}")
    missing = sorted({job for _, jobs in units for job, _ in jobs} - available)
    if missing:
        print(f"==> not installed yet, skipped: {', '.join(missing)}")
    print(f"==> simulated biology runs {args.speed:g}x faster; the live event log follows (Ctrl-C stops the demo)\n")
    time.sleep(1.0)
    for unit, job, proc in procs:
        if proc.poll() is not None:
            print(f"!! {unit} {job} exited with {proc.returncode}; see .demo/{unit}/{job}.out")
    password_file = ROOT / ".demo" / "leader" / "ui_password"
    if "ui" in available:
        deadline = time.monotonic() + 20
        while not password_file.exists() and time.monotonic() < deadline:
            time.sleep(0.2)
        password = password_file.read_text().strip() if password_file.exists() else "(see .demo/leader/ui.out)"
        print(f"==> web UI: http://localhost:8080/  password: {password}\n")
    log_proc = subprocess.Popen([PIO, "mqtt", "-t", "pioreactor/#", "--no-retained"], env=unit_env("leader", port))
    try:
        if args.duration is not None:
            time.sleep(args.duration)
        else:
            log_proc.wait()
    except KeyboardInterrupt:
        pass
    finally:
        log_proc.terminate()
        stop()


if __name__ == "__main__":
    main()
