"""Per test a fresh simulated unit (seeded, fast pumps) on the session broker.

``broker``, ``make_unit`` and ``recorder`` come from the kernel's pytest plugin; ``unit.configure(sim=...)``
writes more config. Parametrize ``unit`` indirectly with a dict to change the simulator's settings.
"""

from __future__ import annotations

import pytest

# fast pumps (so that a sped-up culture does not outgrow its own dilutions), warm, no lag
SIM = {"seed": "7", "speed": "1", "pump_flow_ml_s": "5", "lag_h": "0", "ambient_c": "37"}


@pytest.fixture
def unit(make_unit, request):
    """A fresh simulated unit (seeded) with its own data dir and name, on the session broker."""
    return make_unit(config={"hardware": {"backend": "sim"}, "sim": {**SIM, **getattr(request, "param", {})}},
                     prefix="d")
