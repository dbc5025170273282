"""Fixtures for pio-dosing: a real Mosquitto, and per test a fresh simulated unit pointed at it."""

from __future__ import annotations

import uuid

import pytest

from pioreactor_kernel import config, plugins
from pioreactor_kernel.hardware.testing import isolated_unit
from pioreactor_kernel.testing import Recorder, running_broker

# fast pumps (so that a sped-up culture does not outgrow its own dilutions), warm, no lag
SIM = {"seed": "7", "speed": "1", "pump_flow_ml_s": "5", "lag_h": "0", "ambient_c": "37"}


@pytest.fixture(scope="session")
def broker(tmp_path_factory):
    with running_broker(tmp_path_factory.mktemp("broker")) as b:
        yield b


def _reset() -> None:
    plugins.reset_plugin_manager()
    config._cached = None


class Unit:
    def __init__(self, name: str, data_dir, port: int):
        self.name, self.data_dir, self.port = name, data_dir, port
        self.experiment = "exp1"
        self.base = f"pioreactor/{name}/exp1"
        self.env = {"PIO_DATA_DIR": str(data_dir), "PIO_UNIT": name, "PIO_EXPERIMENT": "exp1",
                    "PIO__mqtt__port": str(port), "PIO__mqtt__host": "127.0.0.1"}

    def configure(self, **sections) -> None:
        """Write more config (``sim={"speed": "360"}``) and reload this process's view of it."""
        from pioreactor_kernel import hardware
        from pioreactor_kernel.hardware.testing import write_config

        write_config(self.data_dir, sections)
        hardware.reset()
        _reset()


@pytest.fixture
def unit(tmp_path, broker, monkeypatch, request):
    """A fresh simulated unit (seeded) with its own data dir and name, on the session broker."""
    sim = {**SIM, **getattr(request, "param", {})}
    name = f"d{uuid.uuid4().hex[:8]}"
    with isolated_unit(tmp_path, monkeypatch, unit=name, hardware={"backend": "sim"}, sim=sim) as data_dir:
        u = Unit(name, data_dir, broker.port)
        for k, v in u.env.items():
            monkeypatch.setenv(k, v)
        _reset()
        yield u
        _reset()


@pytest.fixture
def recorder(unit):
    rec = Recorder(unit.port, f"{unit.base}/#")
    yield rec
    rec.close()

