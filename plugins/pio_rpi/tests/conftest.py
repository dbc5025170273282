"""A unit on the ``rpi`` backend whose buses are the recording fakes in ``fakebus/``.

The fakes go first on ``sys.path`` and ``PYTHONPATH``, so the job subprocesses and the
watchdog they start use the same fake bus (state in SQLite under FAKE_BUS_DIR).
"""

from __future__ import annotations

import json
import os
import sqlite3
import sys
from pathlib import Path

import pytest

from pioreactor_kernel.hardware.testing import isolated_unit

FAKEBUS = Path(__file__).parent / "fakebus"
FAKE_MODULES = ("_bus", "lgpio", "board", "busio", "adafruit_ads1x15", "adafruit_ads1x15.ads1x15")


class FakePi:
    def __init__(self, bus_dir: Path, data_dir: Path):
        self.bus_dir, self.data_dir = bus_dir, data_dir

    def _db(self) -> sqlite3.Connection:
        sys.path.insert(0, str(FAKEBUS))
        import _bus

        return _bus.db()

    def line(self, pin: int) -> dict:
        conn = self._db()
        row = conn.execute("SELECT pid, mode, level, pwm_hz, pwm_duty FROM line WHERE pin=?", (pin,)).fetchone()
        conn.close()
        return dict(zip(("pid", "mode", "level", "pwm_hz", "pwm_duty"), row, strict=True)) if row else {}

    def output_percent(self, pin: int) -> float:
        line = self.line(pin)
        if not line:
            return 0.0
        return line["pwm_duty"] if line["pwm_duty"] else 100.0 * (line["level"] or 0)

    def register(self, address: int, register: int) -> bytes | None:
        conn = self._db()
        row = conn.execute("SELECT value FROM reg WHERE address=? AND register=?", (address, register)).fetchone()
        conn.close()
        return bytes(row[0]) if row else None

    def dac_code(self, output: int) -> int:
        value = self.register(0x49, 0x08 + output)
        return int.from_bytes(value, "big") >> 4 if value else 0

    def set_register(self, address: int, register: int, value: bytes) -> None:
        conn = self._db()
        conn.execute("INSERT OR REPLACE INTO reg VALUES (?,?,?)", (address, register, value))
        conn.close()

    def set_volts(self, pin: int, volts: float, address: int = 0x48) -> None:
        conn = self._db()
        conn.execute("INSERT OR REPLACE INTO analog VALUES (?,?,?)", (address, pin, volts))
        conn.close()

    def set_edges(self, pin: int, count: int) -> None:
        conn = self._db()
        conn.execute("INSERT OR REPLACE INTO edges VALUES (?,?)", (pin, count))
        conn.close()

    def traffic(self, device: str | None = None, op: str | None = None) -> list[dict]:
        path = self.bus_dir / "traffic.jsonl"
        records = [json.loads(line) for line in path.read_text().splitlines()] if path.exists() else []
        return [r for r in records if (device is None or r["device"] == device) and (op is None or r["op"] == op)]


@pytest.fixture
def pi(tmp_path, monkeypatch):
    bus_dir = tmp_path / "bus"
    bus_dir.mkdir()
    monkeypatch.setenv("FAKE_BUS_DIR", str(bus_dir))
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join(filter(None, [str(FAKEBUS), os.environ.get("PYTHONPATH")])))
    monkeypatch.syspath_prepend(str(FAKEBUS))
    for name in FAKE_MODULES:
        monkeypatch.delitem(sys.modules, name, raising=False)
    with isolated_unit(tmp_path, monkeypatch, unit="pi", hardware={"backend": "rpi"}) as data_dir:
        yield FakePi(bus_dir, data_dir)
    for name in FAKE_MODULES:
        sys.modules.pop(name, None)
