"""pio-dosing: pumps, the vial's tracked liquid, pump calibration and the dosing automations.

The pump actions are importable from here (imported lazily: this package is loaded by
``pio --help`` through its plugin module)::

    from pio_dosing import add_media, remove_waste, add_alt_media
"""

from __future__ import annotations

from typing import Any

__version__ = "0.1.0"
__all__ = ["add_alt_media", "add_media", "remove_waste"]


def __getattr__(name: str) -> Any:
    if name in __all__:
        from . import actions

        return getattr(actions, name)
    raise AttributeError(f"module 'pio_dosing' has no attribute {name!r}")
