"""Per test a fresh simulated unit (seeded) on the session broker (the kernel's pytest plugin's fixtures).

The LED owner (job `leds`) is started on demand in its own session, as in production; each test
stops the one it started.
"""

from __future__ import annotations

import os
import signal
import time

import pytest

from pioreactor_kernel import registry


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
def unit(make_unit):
    u = make_unit(env={"PIO__hardware__backend": "sim", "PIO__sim__seed": "11"})
    yield u
    stop_owner()


@pytest.fixture
def stop_leds():
    """The function that stops the unit's `leds` job (as `pio kill leds` would)."""
    return stop_owner
