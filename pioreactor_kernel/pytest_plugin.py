"""Pytest fixtures for testing jobs and plugins against real parts (a pytest plugin, ``pytest11``).

Installed with the kernel, so a plugin's own test suite — ours or a third party's — gets them
without copying a conftest:

- ``broker`` (session): a real Mosquitto on a free loopback port, started with the kernel's
  generated configuration;
- ``make_unit(env=..., config=..., prefix=...)``: a fresh unit — its own data dir, a unique
  name, experiment ``exp1``, pointed at the session broker through the environment (so
  ``pio`` subprocesses see it too), ``config`` sections written to its ``unit_config.ini``.
  The process's cached plugins, config and hardware are reset before and after, and the unit's
  hardware watchdog is stopped at the end;
- ``unit``: ``make_unit()`` with no extras (override it in a conftest to give your defaults:
  ``def unit(make_unit): return make_unit(config={"sim": {"seed": "7"}})``);
- ``recorder``: a :class:`~pioreactor_kernel.testing.Recorder` of everything under
  ``pioreactor/#`` for the test's unit.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import Any

import pytest

from .testing import Recorder, running_broker, unit_env


def reset_process_state() -> None:
    """Forget what this process cached from the environment: plugins, config, open hardware."""
    from . import config, hardware, plugins

    hardware.reset()
    plugins.reset_plugin_manager()
    config._cached = None


class TestUnit:
    """One unit of a test: ``name``, ``data_dir``, ``port``, ``base`` topic, ``env`` (what was set)."""

    __test__ = False  # not a test class, whatever its name

    def __init__(self, name: str, data_dir: Path, broker: Any, env: dict[str, str], experiment: str = "exp1"):
        self.name, self.data_dir, self.broker, self.env = name, data_dir, broker, env
        self.port: int = broker.port
        self.experiment = experiment
        self.base = f"pioreactor/{name}/{experiment}"
        self.plugins_dir = data_dir / "plugins"  # single-file plugins a test drops in

    def configure(self, **sections: Mapping[str, str]) -> None:
        """Write config sections (``sim={"speed": "360"}``) into ``unit_config.ini`` and reload."""
        from .hardware.testing import write_config

        write_config(self.data_dir, sections)
        reset_process_state()

    def __repr__(self) -> str:
        return f"TestUnit({self.name!r}, {self.data_dir})"


@pytest.fixture(scope="session")
def broker(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    with running_broker(tmp_path_factory.mktemp("broker")) as b:
        yield b


@pytest.fixture
def make_unit(tmp_path: Path, broker: Any, monkeypatch: pytest.MonkeyPatch) -> Iterator[Callable[..., TestUnit]]:
    from .hardware.testing import write_config
    from .hardware.watchdog import stop as stop_watchdog

    made: list[TestUnit] = []

    def make(env: Mapping[str, str] | None = None, config: Mapping[str, Mapping[str, str]] | None = None,
             prefix: str = "u") -> TestUnit:
        name = f"{prefix}{uuid.uuid4().hex[:8]}"
        data_dir = (tmp_path / name).resolve()
        (data_dir / "plugins").mkdir(parents=True)
        if config:
            write_config(data_dir, config)
        values = {**unit_env(data_dir, broker.port, unit=name, experiment="exp1"), **(env or {})}
        for key, value in values.items():
            monkeypatch.setenv(key, value)
        for key in ("PIO_LOAD_PLUGINS", "PIO_DISABLE_PLUGINS"):
            monkeypatch.delenv(key, raising=False)
        reset_process_state()
        made.append(TestUnit(name, data_dir, broker, values))
        return made[-1]

    yield make
    reset_process_state()
    for unit in made:
        stop_watchdog(unit.data_dir)


@pytest.fixture
def unit(make_unit: Callable[..., TestUnit]) -> TestUnit:
    return make_unit()


@pytest.fixture
def recorder(unit: TestUnit) -> Iterator[Recorder]:
    rec = Recorder(unit.port, "pioreactor/#")
    yield rec
    rec.close()
