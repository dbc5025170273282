"""Deferred imports for modules that the standard library or a dependency imports but rarely uses.

A job's start-up is mostly imports (docs/kernel.md, "Start-up"), and several modules come in
only because something imports them at its top for a feature a job never uses.
:func:`defer_startup_imports` replaces each with a stand-in that loads the real module the
first time any attribute of it is read, so nothing breaks if the feature is used after all.
"""

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
    clauses (exception classes that cannot be raised before the module is in use), or functions
    that load the module when called.

    Only plain modules, not packages: a ``from name import x`` statement first asks the module
    for ``__path__`` (is it a package?), which the stand-in answers without loading it.
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
        if attr == "__path__" and (real is None or real is stand_in):
            raise AttributeError(f"module {name!r} is not a package")
        if attr in placeholders and (real is None or real is stand_in):
            return placeholders[attr]
        return getattr(load_real(), attr)

    stand_in.__getattr__ = __getattr__  # type: ignore[method-assign]
    stand_in._load_real = load_real  # type: ignore[attr-defined]
    sys.modules[name] = stand_in
    if parent is not None:
        setattr(parent, child, stand_in)


def load(name: str) -> types.ModuleType:
    """The real module ``name``, loading it now if a stand-in holds its place."""
    module = sys.modules.get(name)
    loader = vars(module).get("_load_real") if module is not None else None
    return loader() if loader is not None else importlib.import_module(name)


class _NeverRaised(Exception):
    """Stands for ssl's want-read/write errors, which only an SSL socket raises (it loads ssl first)."""


def _quote_from_bytes(*args: Any, **kwargs: Any) -> Any:
    return load("urllib.parse").quote_from_bytes(*args, **kwargs)


def defer_startup_imports() -> None:
    """Defer what a job process would import for nothing (idempotent; a loaded module stays).

    Called by the modules that trigger these imports (launch, mqtt) before they do.
    """
    import os

    # traceback (imported by logging) imports textwrap and linecache's tokenize, for printing
    # a traceback or an exception group: only when one is printed (~3 ms)
    defer_module("textwrap")
    defer_module("tokenize")
    # logging.handlers (a plugin may use it) imports pickle for its socket handlers alone
    defer_module("pickle")
    # socket imports selectors for sendfile() alone (subprocess uses it for communicate()) (~2 ms)
    defer_module("selectors")
    # paho imports urllib.parse (with ipaddress) for websocket and proxy URLs, and pathlib for
    # Path.as_uri(): neither is used by a job (~5 ms). pathlib reads one function at import.
    defer_module("urllib.parse", until_loaded={"quote_from_bytes": _quote_from_bytes})
    # paho imports urllib.request (and with it http.client and email) only to read proxy
    # settings when PySocks is installed: loading it on first use saves ~30 ms and ~2.4 MB.
    defer_module("urllib.request")
    # ssl costs ~5 MB of RSS; paho reads it at import, and in its socket code only in
    # `except ssl.SSLWant*Error` clauses. With TLS configured, tls_set() loads the real module.
    defer_module("ssl", until_loaded={"SSLWantReadError": _NeverRaised, "SSLWantWriteError": _NeverRaised})
    # hashlib maps OpenSSL's libcrypto (~3.3 MB RSS); paho uses it only for the websocket handshake
    defer_module("hashlib")
    # paho makes a random client id with uuid when given none (we always give one), and reads
    # platform.system() once at import (~4 ms together)
    defer_module("uuid")
    defer_module("platform", until_loaded={"system": lambda: os.uname().sysname})
