"""A deferred import for a module that a dependency imports but rarely uses."""

from __future__ import annotations

import importlib
import sys
import types
from typing import Any


def defer_module(name: str, until_loaded: dict[str, Any] | None = None) -> None:
    """Put a stand-in for ``name`` in ``sys.modules`` that imports the real module on first use.

    The standard library's ``LazyLoader`` does not help here: the import system reads the
    module's ``__spec__`` on every later ``import`` statement, which loads it at once. The
    stand-in forwards attribute reads to the real module, and swaps it in when first used.

    ``until_loaded`` maps attribute names to values the stand-in answers *without* loading the
    module, as long as nobody else has loaded it: for names a dependency only reads in ``except``
    clauses (exception classes that cannot be raised before the module is in use).
    """
    placeholders = dict(until_loaded or {})
    if name in sys.modules:
        return
    parent_name, _, child = name.rpartition(".")
    parent = importlib.import_module(parent_name) if parent_name else None
    stand_in = types.ModuleType(name, f"deferred import of {name}")

    def load_real() -> types.ModuleType:
        if sys.modules.get(name) is stand_in:
            del sys.modules[name]
        real = importlib.import_module(name)
        if parent is not None:
            setattr(parent, child, real)
        return real

    def __getattr__(attr: str) -> Any:
        real = sys.modules.get(name)
        if attr in placeholders and (real is None or real is stand_in):
            return placeholders[attr]
        return getattr(load_real(), attr)

    stand_in.__getattr__ = __getattr__  # type: ignore[method-assign]
    sys.modules[name] = stand_in
    if parent is not None:
        setattr(parent, child, stand_in)
