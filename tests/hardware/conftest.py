"""A unit whose backend is a tiny recording fake, installed as a single-file plugin in its data dir.

The watchdog (another process) finds the same plugin there, so the kernel's fail-safe is
tested without any backend distribution installed.
"""

from __future__ import annotations

import contextlib
import sqlite3
from collections.abc import Iterator
from pathlib import Path

import pytest

from pioreactor_kernel.hardware.testing import isolated_unit

FAKE_BACKEND = '''
import os, sqlite3, threading
from pioreactor_kernel.plugins import hookimpl


@hookimpl
def register_hardware(register):
    register("fakehw", "pio_local_plugin_fakehw:create", help="recording fake")


class _Out:
    def __init__(self, backend, kind, channel):
        self.backend, self.kind, self.channel = backend, kind, channel

    def _write(self, value):
        with self.backend.lock:
            self.backend.conn.execute("INSERT OR REPLACE INTO out VALUES (?,?,?,?)",
                                      (self.kind, self.channel, value, os.getpid()))

    set_duty = set_intensity = _write

    def close(self):
        pass


class _In:
    def read_voltage(self):
        return 0.5

    def count(self):
        return 7

    def read_celsius(self):
        return 30.0

    def close(self):
        pass


class FakeBackend:
    name = "fakehw"

    def __init__(self, *, config, data_dir, unit, hardware_map):
        self.exclusive_kinds = frozenset(config.getlist("fakehw", "exclusive"))
        self.lock = threading.Lock()
        self.conn = sqlite3.connect(data_dir / "storage" / "fakehw.sqlite", isolation_level=None,
                                    check_same_thread=False, timeout=10)
        self.conn.execute("CREATE TABLE IF NOT EXISTS out (kind, channel, value, pid, PRIMARY KEY (kind, channel))")

    def pwm(self, channel):
        return _Out(self, "pwm", channel)

    def led(self, channel):
        return _Out(self, "led", channel)

    def analog_input(self, channel):
        return _In()

    edge_counter = temperature_sensor = analog_input

    def close(self):
        self.conn.close()


def create(**kwargs):
    return FakeBackend(**kwargs)
'''


@pytest.fixture
def unit_on_backend(tmp_path, monkeypatch):
    """``with unit_on_backend(name, source) as directory``: a fresh unit on the single-file backend ``source``."""

    @contextlib.contextmanager
    def make(name: str, source: str) -> Iterator[Path]:
        data = tmp_path / "hw"
        (data / "plugins").mkdir(parents=True)
        (data / "plugins" / f"{name}.py").write_text(source)
        monkeypatch.delenv("PIO_LOAD_PLUGINS", raising=False)
        with isolated_unit(tmp_path, monkeypatch, unit="hw", hardware={"backend": name}) as directory:
            yield directory

    return make


@pytest.fixture
def hw_unit(unit_on_backend):
    """A fresh unit on the ``fakehw`` backend; ``hw_unit.output(kind, channel)`` reads what was driven."""
    with unit_on_backend("fakehw", FAKE_BACKEND) as directory:
        yield FakeUnit(directory)


class FakeUnit:
    def __init__(self, directory):
        self.directory = directory

    def output(self, kind: str, channel: str) -> float:
        path = self.directory / "storage" / "fakehw.sqlite"
        if not path.exists():
            return 0.0
        with sqlite3.connect(path, timeout=10) as conn:
            row = conn.execute("SELECT value FROM out WHERE kind=? AND channel=?", (kind, channel)).fetchone()
        return row[0] if row else 0.0
