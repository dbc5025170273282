"""Fixtures: a real Mosquitto for the session; per test a fresh simulated unit (seeded, heat sped up)."""

from __future__ import annotations

import sys
import uuid
from pathlib import Path
from types import SimpleNamespace

import pytest
from pioreactor_kernel import config, hardware, plugins
from pioreactor_kernel.hardware.watchdog import stop as stop_watchdog
from pioreactor_kernel.testing import Recorder, running_broker, unit_env

sys.path.insert(0, str(Path(__file__).parent))  # temperature_simtools (pytest runs with --import-mode=importlib)

from temperature_simtools import unit_environment  # noqa: E402


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
    """A fresh simulated unit: own data dir, name and seed; heat 60x faster, gains and interval scaled to match."""
    name = f"u{uuid.uuid4().hex[:8]}"
    data_dir = (tmp_path / "data").resolve()
    env = unit_env(data_dir, broker.port, unit=name, experiment="exp1")
    env.update(unit_environment())
    for k, v in env.items():
        monkeypatch.setenv(k, v)
    _reset()
    yield SimpleNamespace(name=name, env=env, data_dir=data_dir, port=broker.port, base=f"pioreactor/{name}/exp1",
                          job=f"pioreactor/{name}/exp1/temperature_automation")
    _reset()
    stop_watchdog(data_dir)


@pytest.fixture
def recorder(unit):
    rec = Recorder(unit.port, "pioreactor/#")
    yield rec
    rec.close()


@pytest.fixture
def configure(unit, monkeypatch):
    """Set ``[temperature_automation]`` keys for this test (environment layer, seen by subprocesses too)."""

    def apply(**values: str) -> None:
        for key, value in values.items():
            monkeypatch.setenv(f"PIO__temperature_automation__{key}", value)
        config._cached = None

    return apply
