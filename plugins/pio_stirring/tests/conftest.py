"""Per test a fresh simulated unit (seeded) on the session broker (fixtures: the kernel's pytest plugin)."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))  # stirring_simtools (pytest runs with --import-mode=importlib)


@pytest.fixture
def unit(make_unit):
    """A fresh simulated unit: its own data dir, name and seed; motor time constant as on a bench (1 s)."""
    return make_unit(env={"PIO__hardware__backend": "sim", "PIO__sim__seed": "7",
                          "PIO__stirring__publish_interval_s": "1"})
