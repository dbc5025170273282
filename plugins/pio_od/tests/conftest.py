"""Per test a fresh simulated unit on the session broker (broker and make_unit: the kernel's pytest plugin)."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))  # od_simtools (pytest runs with --import-mode=importlib)
from od_simtools import JsonRecorder  # noqa: E402

# seeded, no lag, at the growth optimum
SIM = {"seed": "11", "speed": "1", "lag_h": "0", "ambient_c": "37"}


@pytest.fixture
def unit(make_unit, request):
    """A fresh simulated unit (seeded) with its own data dir and name, on the session broker."""
    sections = {"hardware": {"backend": "sim"}, "sim": dict(SIM)}
    for section, values in getattr(request, "param", {}).items():
        sections.setdefault(section, {}).update(values)
    u = make_unit(config=sections, prefix="od")

    def true_state() -> dict:
        import pio_sim

        return pio_sim.true_state(u.data_dir)

    u.true_state = true_state
    return u


@pytest.fixture
def recorder(unit):
    rec = JsonRecorder(unit.port, f"{unit.base}/#")
    yield rec
    rec.close()
