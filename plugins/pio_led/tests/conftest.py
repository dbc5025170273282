"""Fixtures: a real Mosquitto for the session; per test a fresh simulated unit (seeded) pointed at it.

The LED owner (job `leds`) is started on demand in its own session, as in production; each test
stops the one it started.
"""

from __future__ import annotations

import os
import signal
import time
import uuid
from types import SimpleNamespace

import pytest

from pioreactor_kernel import config, hardware, plugins, registry
from pioreactor_kernel.hardware.watchdog import stop as stop_watchdog
from pioreactor_kernel.testing import Recorder, running_broker, unit_env


@pytest.fixture(scope="session")
def broker(tmp_path_factory):
    with running_broker(tmp_path_factory.mktemp("broker")) as b:
        yield b


def _reset() -> None:
    hardware.reset()
    plugins.reset_plugin_manager()
    config._cached = None


def stop_owner(timeout_s: float = 10.0) -> None:
    """Stop the unit's `leds` job if one runs (it was started by this test's LED calls)."""
    record = registry.read("leds")
    if record is None:
        return
    os.kill(record.pid, signal.SIGTERM)
    deadline = time.monotonic() + timeout_s
    while registry.read("leds") and time.monotonic() < deadline:
        time.sleep(0.02)
    if registry.read("leds"):
        os.kill(record.pid, signal.SIGKILL)


@pytest.fixture
def unit(tmp_path, broker, monkeypatch):
    name = f"u{uuid.uuid4().hex[:8]}"
    data_dir = (tmp_path / "data").resolve()
    env = unit_env(data_dir, broker.port, unit=name, experiment="exp1")
    env.update({"PIO__hardware__backend": "sim", "PIO__sim__seed": "11"})
    for k, v in env.items():
        monkeypatch.setenv(k, v)
    _reset()
    yield SimpleNamespace(name=name, env=env, data_dir=data_dir, port=broker.port, base=f"pioreactor/{name}/exp1")
    stop_owner()
    _reset()
    stop_watchdog(data_dir)


@pytest.fixture
def recorder(unit):
    rec = Recorder(unit.port, "pioreactor/#")
    yield rec
    rec.close()


@pytest.fixture
def stop_leds():
    """The function that stops the unit's `leds` job (as `pio kill leds` would)."""
    return stop_owner
