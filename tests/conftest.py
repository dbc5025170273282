"""The kernel's own fixtures (the test plugins, a private broker); ``broker``, ``unit`` and
``recorder`` come from the kernel's pytest plugin (pioreactor_kernel/pytest_plugin.py)."""

from __future__ import annotations

import importlib
import os
import subprocess
import sys
from pathlib import Path

import pytest

from pioreactor_kernel.pytest_plugin import reset_process_state
from pioreactor_kernel.testing import running_broker

HERE = Path(__file__).parent


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


@pytest.fixture
def with_test_plugins(test_plugins_path, monkeypatch):
    monkeypatch.syspath_prepend(str(test_plugins_path))
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join(filter(None, [str(test_plugins_path), os.environ.get("PYTHONPATH")])))
    importlib.invalidate_caches()
    reset_process_state()
    yield test_plugins_path
    for name in [m for m in sys.modules if m.startswith(("pio_testplugin", "pio_brokenplugin"))]:
        del sys.modules[name]
    reset_process_state()
