"""Test helpers for the kernel and plugins: a real Mosquitto on a free loopback port, a data dir.

Plugins' test suites use these through pytest fixtures (``tests/conftest.py`` shows how)::

    with running_broker(tmp_path) as broker:
        env = unit_env(tmp_path / "unit1", broker.port, unit="unit1")
"""

from __future__ import annotations

import contextlib
import os
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from .broker import Broker, free_port


@contextlib.contextmanager
def running_broker(directory: Path) -> Iterator[Broker]:
    broker = Broker(directory / "broker", port=free_port()).start()
    try:
        yield broker
    finally:
        broker.stop()


def unit_env(data_dir: Path, port: int, unit: str = "unit1", experiment: str | None = "exp1") -> dict[str, str]:
    """Environment variables that point a process at a data dir, a unit name and the test broker."""
    data_dir.mkdir(parents=True, exist_ok=True)
    env = {"PIO_DATA_DIR": str(data_dir), "PIO_UNIT": unit, "PIO__mqtt__port": str(port),
           "PIO__mqtt__host": "127.0.0.1"}
    if experiment:
        env["PIO_EXPERIMENT"] = experiment
    return env


@contextlib.contextmanager
def patched_env(values: dict[str, str]) -> Iterator[None]:
    """Set environment variables for the block and reload the kernel's cached config/plugins."""
    from . import config, plugins

    old = {k: os.environ.get(k) for k in values}
    os.environ.update(values)
    config.get_config(reload=True)
    try:
        yield
    finally:
        for k, v in old.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v
        plugins.reset_plugin_manager()
        config._cached = None


class WaitTimeout(TimeoutError, AssertionError):
    """A condition a test waited for did not come: a timeout, and a failed assertion."""


def wait_for(predicate: Callable[[], Any], timeout_s: float = 10.0, interval_s: float = 0.01, what: str = "") -> Any:
    """Poll until ``predicate()`` is truthy and return its value; raise :class:`WaitTimeout` naming ``what``."""
    deadline = time.monotonic() + timeout_s
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise WaitTimeout(f"timed out after {timeout_s:g} s waiting for {what or predicate}")
        time.sleep(interval_s)


class Recorder:
    """Subscribes to topics and keeps every message (topic, payload, retain) for assertions."""

    def __init__(self, port: int, *topics: str, client_id: str | None = None, clean_session: bool = True):
        from .mqtt import BrokerAddress, MQTTClient

        self.messages: list[tuple[str, bytes, bool]] = []
        self._lock = threading.Lock()
        self.client = MQTTClient(client_id, address=BrokerAddress(host="127.0.0.1", port=port),
                                 clean_session=clean_session)
        self.client.subscribe(list(topics), self._keep, qos=1)
        self.client.connect(5)
        self.client.sync()  # retained messages of the subscriptions are all in before the caller looks

    def _keep(self, message: Any) -> None:
        with self._lock:
            self.messages.append((message.topic, bytes(message.payload), bool(message.retain)))

    def payloads(self, topic: str) -> list[str]:
        with self._lock:
            return [p.decode() for t, p, _ in self.messages if t == topic]

    def last(self, topic: str) -> str | None:
        values = self.payloads(topic)
        return values[-1] if values else None

    def wait_for_value(self, topic: str, value: str, timeout_s: float = 10.0) -> None:
        wait_for(lambda: self.last(topic) == value, timeout_s, what=f"{topic} == {value!r} (last: {self.last(topic)!r})")

    def close(self) -> None:
        self.client.disconnect(0.5)


def pio(*args: str, env: dict[str, str] | None = None, timeout: float = 30, check: bool = False,
        input: str | None = None) -> subprocess.CompletedProcess[str]:  # noqa: A002
    """Run the real `pio` in a subprocess with the current environment (plus ``env``)."""
    full_env = {**os.environ, **(env or {})}
    result = subprocess.run([sys.executable, "-m", "pioreactor_kernel", *args], env=full_env, capture_output=True,
                            text=True, timeout=timeout, input=input)
    if check:
        assert result.returncode == 0, result.stdout + result.stderr
    return result


def spawn_pio(*args: str, env: dict[str, str] | None = None) -> subprocess.Popen[str]:
    return subprocess.Popen([sys.executable, "-m", "pioreactor_kernel", *args], env={**os.environ, **(env or {})},
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def foreign_imports(source: str, own: str) -> list[str]:
    """Every import of a ``pio_*`` package other than ``own`` in ``source``: statements, and
    ``import_module``/``__import__`` of a literal name (plugins talk through services, not imports)."""
    import ast

    found = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names = [node.module]
        elif (isinstance(node, ast.Call) and node.args and isinstance(node.args[0], ast.Constant)
              and isinstance(node.args[0].value, str)
              and getattr(node.func, "attr", getattr(node.func, "id", None)) in ("import_module", "__import__")):
            names = [node.args[0].value]
        else:
            continue
        found += [f"line {node.lineno}: {name}" for name in names
                  if name.split(".")[0].startswith("pio_") and name.split(".")[0] != own]
    return sorted(found)


def plugin_imports_of_others(package: Path) -> dict[str, list[str]]:
    """``{module path: foreign_imports}`` for every module of the plugin package at ``package``."""
    return {str(p.relative_to(package)): hits for p in sorted(package.rglob("*.py"))
            if (hits := foreign_imports(p.read_text(), package.name))}
