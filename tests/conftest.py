"""Fixtures shared by the kernel's tests: a real Mosquitto, a data dir per test, the test plugins."""

from __future__ import annotations

import importlib
import os
import subprocess
import sys
import uuid
from pathlib import Path

import pytest

from pioreactor_kernel import config, plugins
from pioreactor_kernel.testing import Recorder, running_broker, unit_env

HERE = Path(__file__).parent


@pytest.fixture(scope="session")
def broker(tmp_path_factory):
    with running_broker(tmp_path_factory.mktemp("broker")) as b:
        yield b


@pytest.fixture
def own_broker(tmp_path):
    """A broker this test alone uses (restarts, kills)."""
    with running_broker(tmp_path / "own") as b:
        yield b


@pytest.fixture(scope="session")
def test_plugins_path(tmp_path_factory) -> Path:
    """The test plugins, really pip-installed into a target dir that tests put on sys.path."""
    target = tmp_path_factory.mktemp("site")
    subprocess.run(
        [sys.executable, "-m", "pip", "install", "--quiet", "--no-deps", "--no-build-isolation", "--target", str(target),
         str(HERE / "plugins" / "pio_testplugin"), str(HERE / "plugins" / "pio_brokenplugin")],
        check=True, capture_output=True,
    )
    return target


def _reset() -> None:
    plugins.reset_plugin_manager()
    config._cached = None


@pytest.fixture
def unit(tmp_path, broker, monkeypatch):
    """A fresh unit: its own data dir and name, pointed at the session broker."""
    name = f"u{uuid.uuid4().hex[:8]}"
    env = unit_env(tmp_path / "data", broker.port, unit=name, experiment="exp1")
    for k, v in env.items():
        monkeypatch.setenv(k, v)
    for k in ("PIO_LOAD_PLUGINS", "PIO_DISABLE_PLUGINS"):
        monkeypatch.delenv(k, raising=False)
    _reset()
    plugins_dir = tmp_path / "data" / "plugins"  # single-file plugins a test drops in
    plugins_dir.mkdir(parents=True, exist_ok=True)
    yield type("Unit", (), {"name": name, "env": env, "data_dir": tmp_path / "data", "port": broker.port,
                            "broker": broker, "base": f"pioreactor/{name}/exp1", "plugins_dir": plugins_dir})
    _reset()


@pytest.fixture
def with_test_plugins(test_plugins_path, monkeypatch):
    monkeypatch.syspath_prepend(str(test_plugins_path))
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join(filter(None, [str(test_plugins_path), os.environ.get("PYTHONPATH")])))
    importlib.invalidate_caches()
    _reset()
    yield test_plugins_path
    for name in [m for m in sys.modules if m.startswith(("pio_testplugin", "pio_brokenplugin"))]:
        del sys.modules[name]
    _reset()


@pytest.fixture
def recorder(unit):
    rec = Recorder(unit.port, "pioreactor/#")
    yield rec
    rec.close()
