"""One unit's hardware as seen from one process: config, map, backend, lease store and keeper."""

from __future__ import annotations

import os
import threading
from pathlib import Path
from typing import Any

from ..paths import data_dir
from .hwmap import HardwareMap
from .leases import DEFAULT_LEASE_S, LeaseKeeper, LeaseStore
from .protocols import Backend, HardwareError

_contexts: dict[tuple[int, Path], HardwareContext] = {}
_contexts_lock = threading.Lock()


class HardwareContext:
    def __init__(self, directory: Path, config: Any = None):
        self.directory = directory
        self.config = config if config is not None else load_config(directory)
        self.map = HardwareMap.from_config(self.config)
        self.lease_s = self.config.getfloat("hardware", "lease_s", DEFAULT_LEASE_S) or DEFAULT_LEASE_S
        self._backend: Backend | None = None
        self._backend_lock = threading.Lock()
        self.store = LeaseStore(directory)
        self.store_lock = threading.Lock()
        self.keeper = LeaseKeeper(directory, self.lease_s)
        self._watchdog_ok = False

    @property
    def backend(self) -> Backend:
        with self._backend_lock:
            if self._backend is None:
                self._backend = open_backend(self.config, self.directory, self.map)
            return self._backend

    def ensure_watchdog(self) -> None:
        from .watchdog import ensure_running

        if not self._watchdog_ok:  # afterwards the keeper checks (and restarts it) every tick
            ensure_running(self.directory)
            self._watchdog_ok = True

    def close(self) -> None:
        self.keeper.stop()
        with self._backend_lock:
            if self._backend is not None:
                self._backend.close()
                self._backend = None
        self.store.close()


def current(directory: Path | None = None) -> HardwareContext:
    """The context of ``directory`` (default: this unit's data dir) for this process."""
    directory = (directory or data_dir()).resolve()
    key = (os.getpid(), directory)
    with _contexts_lock:
        ctx = _contexts.get(key)
        if ctx is None:
            ctx = _contexts[key] = HardwareContext(directory)
        return ctx


def reset() -> None:
    """Forget every context (tests): stops keepers, closes backends. Open devices become unusable."""
    with _contexts_lock:
        for (pid, _), ctx in list(_contexts.items()):
            if pid == os.getpid():
                ctx.close()
        _contexts.clear()


def backend_name(config: Any) -> str:
    """``[hardware] backend``; ``auto`` (or unset) means ``rpi`` on a Raspberry Pi, else ``sim``."""
    name = (config.get("hardware", "backend") or "auto").strip()
    if name == "auto":
        try:
            model = Path("/proc/device-tree/model").read_bytes()
        except OSError:
            model = b""
        name = "rpi" if b"Raspberry Pi" in model else "sim"
    return name


def open_backend(config: Any, directory: Path, hw_map: HardwareMap) -> Backend:
    from ..identity import unit_name
    from ..registrations import plugin_registry

    name = backend_name(config)
    registered = plugin_registry().registrations["hardware"]
    reg = registered.get(name)
    if reg is None:
        known = ", ".join(sorted(registered)) or "none"
        raise HardwareError(f"no hardware backend {name!r} is installed (installed: {known}); "
                            f"install its plugin (e.g. `pip install pio-{name}`) or set [hardware] backend")
    factory = reg.load()
    return factory(config=config, data_dir=directory, unit=unit_name(config), hardware_map=hw_map)


def load_config(directory: Path) -> Any:
    """The unit's config read afresh from ``directory`` (the process-wide cache may be another unit's)."""
    from ..config import Config
    from ..registrations import plugin_registry

    return Config.load(plugin_registry().config_defaults(), directory=directory)
