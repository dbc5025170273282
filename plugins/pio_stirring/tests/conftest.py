"""Fixtures: a real Mosquitto for the session; per test a fresh simulated unit (seeded) pointed at it."""

from __future__ import annotations

import sys
import uuid
from pathlib import Path
from types import SimpleNamespace

import pytest

from pioreactor_kernel import config, hardware, plugins
from pioreactor_kernel.hardware.watchdog import stop as stop_watchdog
from pioreactor_kernel.testing import Recorder, running_broker, unit_env

sys.path.insert(0, str(Path(__file__).parent))  # stirring_simtools (pytest runs with --import-mode=importlib)


@pytest.fixture(scope="session")
def broker(tmp_path_factory):
    with running_broker(tmp_path_factory.mktemp("broker")) as b:
        yield b


def _reset() -> None:
    hardware.reset()
    plugins.reset_plugin_manager()
    config._cached = None


@pytest.fixture
def unit(tmp_path, broker, monkeypatch):
    """A fresh simulated unit: its own data dir, name and seed; motor time constant as on a bench (1 s)."""
    name = f"u{uuid.uuid4().hex[:8]}"
    data_dir = (tmp_path / "data").resolve()
    env = unit_env(data_dir, broker.port, unit=name, experiment="exp1")
    env.update({"PIO__hardware__backend": "sim", "PIO__sim__seed": "7", "PIO__stirring__publish_interval_s": "1"})
    for k, v in env.items():
        monkeypatch.setenv(k, v)
    _reset()
    yield SimpleNamespace(name=name, env=env, data_dir=data_dir, port=broker.port, base=f"pioreactor/{name}/exp1")
    _reset()
    stop_watchdog(data_dir)


@pytest.fixture
def recorder(unit):
    rec = Recorder(unit.port, "pioreactor/#")
    yield rec
    rec.close()
