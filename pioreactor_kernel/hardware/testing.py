"""Helpers for tests of hardware-using code: an isolated unit per test, owners in subprocesses.

    def test_heater(tmp_path, monkeypatch):
        with isolated_unit(tmp_path, monkeypatch, sim={"seed": "1"}) as data_dir:
            ...

Nothing here sleeps to "let things settle": :func:`wait_for` polls a condition with a timeout.
"""

from __future__ import annotations

import configparser
import os
import signal
import subprocess
import sys
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from ..testing import wait_for  # noqa: F401 - re-exported for hardware tests


@contextmanager
def isolated_unit(tmp_path: Path, monkeypatch: Any, unit: str = "testunit",
                  **sections: Mapping[str, str]) -> Iterator[Path]:
    """A fresh data dir with ``unit_config.ini`` holding ``sections``; on exit, the watchdog is stopped."""
    from ..plugins import reset_plugin_manager
    from . import reset
    from .watchdog import stop

    directory = (tmp_path / unit).resolve()
    directory.mkdir(parents=True, exist_ok=True)
    write_config(directory, sections)
    monkeypatch.setenv("PIO_DATA_DIR", str(directory))
    monkeypatch.setenv("PIO_UNIT", unit)
    reset()
    reset_plugin_manager()  # single-file plugins live in the data dir
    try:
        yield directory
    finally:
        reset()
        stop(directory)
        reset_plugin_manager()


def write_config(directory: Path, sections: Mapping[str, Mapping[str, str]]) -> None:
    parser = configparser.ConfigParser(interpolation=None)
    parser.optionxform = str  # type: ignore[assignment,method-assign]  # keep LED letters as written
    path = directory / "unit_config.ini"
    if path.exists():
        parser.read(path)
    for section, values in sections.items():
        if not parser.has_section(section):
            parser.add_section(section)
        for key, value in values.items():
            parser.set(section, key, str(value))
    with path.open("w") as f:
        parser.write(f)


OWNER_SCRIPT = """
import sys, time
from pioreactor_kernel import hardware
kind, role, value = sys.argv[1], sys.argv[2], float(sys.argv[3])
opener = {"pwm": hardware.open_pwm, "led": hardware.open_led}[kind]
device = opener(role, owner="owner-under-test")
device.set(value)
print("READY", flush=True)
while True:
    time.sleep(1)
"""


@contextmanager
def output_owner(kind: str, role: str, value: float, env: Mapping[str, str] | None = None,
                 timeout_s: float = 30.0) -> Iterator[subprocess.Popen[str]]:
    """A subprocess that opens an output, drives it at ``value`` and then idles; killed on exit."""
    proc = subprocess.Popen([sys.executable, "-c", OWNER_SCRIPT, kind, role, str(value)],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            env={**os.environ, **(env or {})})
    try:
        line = _readline(proc, timeout_s)
        if line.strip() != "READY":
            proc.kill()
            raise AssertionError(f"owner failed to start: {line}{proc.stderr.read() if proc.stderr else ''}")
        yield proc
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGCONT)
            proc.kill()
        proc.wait(10)
        for stream in (proc.stdout, proc.stderr):
            if stream:
                stream.close()


def _readline(proc: subprocess.Popen[str], timeout_s: float) -> str:
    import selectors

    assert proc.stdout is not None
    sel = selectors.DefaultSelector()
    sel.register(proc.stdout, selectors.EVENT_READ)
    try:
        if not sel.select(timeout_s):
            return f"(no output within {timeout_s:g} s) "
        return proc.stdout.readline()
    finally:
        sel.close()
