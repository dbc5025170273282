"""Per test a fresh simulated unit (seeded, heat sped up); broker, make_unit, recorder: the kernel's pytest plugin."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
from pioreactor_kernel import config

sys.path.insert(0, str(Path(__file__).parent))  # temperature_simtools (pytest runs with --import-mode=importlib)

from temperature_simtools import unit_environment  # noqa: E402


@pytest.fixture
def unit(make_unit):
    """A fresh simulated unit: own data dir, name and seed; heat 60x faster, gains and interval scaled to match."""
    u = make_unit(env=unit_environment())
    u.job = f"{u.base}/temperature_automation"
    return u


@pytest.fixture
def configure(unit, monkeypatch):
    """Set ``[temperature_automation]`` keys for this test (environment layer, seen by subprocesses too)."""

    def apply(**values: str) -> None:
        for key, value in values.items():
            monkeypatch.setenv(f"PIO__temperature_automation__{key}", value)
        config._cached = None

    return apply
