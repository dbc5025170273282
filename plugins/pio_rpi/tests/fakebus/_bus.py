"""The shared state of the fake Pi: GPIO lines and I2C registers in SQLite, traffic in a JSON-lines log.

Several processes (a job, the watchdog) see one bus, as on a real Pi: a GPIO line claimed by a
live process cannot be claimed by another; a line keeps its level when freed or when its owner dies.
Set FAKE_BUS_DIR to a folder; tests read ``state.sqlite`` and ``traffic.jsonl`` there.
"""

import json
import os
import sqlite3
import time
from pathlib import Path


def _dir() -> Path:
    return Path(os.environ["FAKE_BUS_DIR"])


def record(device: str, op: str, **fields) -> None:
    line = json.dumps({"t": time.time(), "pid": os.getpid(), "device": device, "op": op, **fields}) + "\n"
    fd = os.open(_dir() / "traffic.jsonl", os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    try:
        os.write(fd, line.encode())
    finally:
        os.close(fd)


def db() -> sqlite3.Connection:
    conn = sqlite3.connect(_dir() / "state.sqlite", timeout=10, isolation_level=None)
    conn.execute("CREATE TABLE IF NOT EXISTS line (pin INTEGER PRIMARY KEY, pid INTEGER, mode TEXT, level INTEGER,"
                 " pwm_hz REAL, pwm_duty REAL)")
    conn.execute("CREATE TABLE IF NOT EXISTS reg (address INTEGER, register INTEGER, value BLOB,"
                 " PRIMARY KEY (address, register))")
    conn.execute("CREATE TABLE IF NOT EXISTS analog (address INTEGER, pin INTEGER, volts REAL, PRIMARY KEY (address, pin))")
    conn.execute("CREATE TABLE IF NOT EXISTS edges (pin INTEGER PRIMARY KEY, count INTEGER)")
    return conn


def alive(pid) -> bool:
    if pid is None:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            return f.read().rsplit(b")", 1)[-1].split()[0] != b"Z"
    except OSError:
        return True
