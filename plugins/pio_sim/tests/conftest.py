from __future__ import annotations

import pytest

from pioreactor_kernel.hardware.testing import isolated_unit


@pytest.fixture
def unit(tmp_path, monkeypatch):
    """A fresh simulated unit (seeded) in its own data dir; its watchdog is stopped afterwards."""
    with isolated_unit(tmp_path, monkeypatch, hardware={"backend": "sim"}, sim={"seed": "42"}) as data_dir:
        yield data_dir
