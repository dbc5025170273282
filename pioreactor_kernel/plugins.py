"""Plugin discovery and registries, built so that no plugin can break ``pio`` or another plugin.

Plugins come from the ``pioreactor.plugins`` entry-point group and from single ``.py`` files
in the data dir's ``plugins/`` folder. Each is imported and registered inside its own ``try``;
a failure is recorded (``pio plugins list`` shows it), anything the plugin had registered is
undone, and loading carries on. ``PIO_LOAD_PLUGINS=a,b`` loads only those (empty: none) and
``[plugins] disabled = a,b`` in config (or ``PIO_DISABLE_PLUGINS``) skips some; the essential
kernel plugin is always loaded.
"""

from __future__ import annotations

import importlib
import logging
import os
import sys
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from types import ModuleType
from typing import Any

import pluggy

from . import hookspecs
from .registrations import OBSERVER_HOOKS, Registration, import_target, load_plugin_file, snapshot_data
from .registrations import reset as reset_snapshot

__all__ = ["PioPluginManager", "PluginError", "PluginInfo", "Registration", "hookimpl", "import_target",
           "plugin_manager", "reset_plugin_manager"]

ENTRY_POINT_GROUP = "pioreactor.plugins"
LOAD_ENV = "PIO_LOAD_PLUGINS"
DISABLE_ENV = "PIO_DISABLE_PLUGINS"
ESSENTIAL_PLUGINS = ("kernel_commands",)
REGISTRATION_HOOKS = ("register_jobs", "register_automations", "register_hardware", "register_ui", "register_tables",
                      "register_services")

hookimpl = pluggy.HookimplMarker("pioreactor")
logger = logging.getLogger("pioreactor.plugins")


class PluginError(Exception):
    pass


# Plain classes and NamedTuples rather than dataclasses here and in the kernel modules every job
# imports: a dataclass compiles several methods when its class is defined (0.5-2 ms each on this
# machine), which a job pays at every start.
class PluginInfo:
    """What ``pio plugins list`` shows of one plugin."""

    __slots__ = ("name", "source", "dist", "version", "status", "error", "hooks", "import_ms")

    def __init__(self, name: str, source: str, dist: str | None = None, version: str | None = None) -> None:
        self.name = name
        self.source = source  # "entry point" or the file's path
        self.dist = dist
        self.version = version
        self.status = "loaded"  # loaded | disabled | failed
        self.error: str | None = None
        self.hooks: list[str] = []
        self.import_ms = 0.0

    def to_dict(self) -> dict[str, Any]:
        return {key: getattr(self, key) for key in self.__slots__}

    def __repr__(self) -> str:
        return f"PluginInfo({self.name!r}, {self.status})"


class PioPluginManager:
    def __init__(self) -> None:
        self.pm = pluggy.PluginManager("pioreactor")
        self.pm.add_hookspecs(hookspecs)
        self.plugins: dict[str, PluginInfo] = {}
        self.registrations: dict[str, dict[Any, Registration]] = {
            "job": {}, "automation": {}, "hardware": {}, "ui": {}, "tables": {}, "service": {},
        }
        self.loaded = False
        self.entry_points: list[tuple[str, str, str | None, str | None]] = []  # (name, value, dist, version)
        self._defaults: dict[str, dict[str, str]] | None = None
        self._defaults_failed = False
        self._modules_before: set[str] = set()
        self._loading = False

    # ---------------------------------------------------------------- discovery
    def load(self) -> PioPluginManager:
        if self.loaded:
            return self
        self.loaded = self._loading = True
        self._modules_before = set(sys.modules)
        wanted, disabled = _selection()
        self.entry_points = _entry_points()
        for name, source, dist, version, loader in _candidates(self.entry_points):
            info = PluginInfo(name=name, source=source, dist=dist, version=version)
            if name in self.plugins:
                info.status, info.error = "failed", f"another plugin is already called {name!r} ({self.plugins[name].source})"
                self.plugins[f"{name} ({source})"] = info
                continue
            self.plugins[name] = info
            essential = name in ESSENTIAL_PLUGINS
            if not essential and (
                (wanted is not None and name not in wanted and dist not in wanted) or name in disabled or dist in disabled
            ):
                info.status = "disabled"
                continue
            self._load_one(info, loader)
        self._loading = False
        self._remember()
        return self

    def job_index(self) -> dict[str, tuple[str, str]]:
        """name -> ("module:Class", kind) of every job and action registered by import path."""
        return {name: (reg.target, str(reg.extra.get("kind", "job")))
                for name, reg in self.jobs.items() if isinstance(reg.target, str)}

    def plugin_files(self) -> list[tuple[str, int]]:
        """(path, mtime) of every file the plugins' registrations and defaults came from.

        Each plugin's module, and every module imported while the plugins loaded and computed
        their config defaults (a plugin's ``defaults.py``, the kernel's own command module...).
        The standard library is left out: it changes only with the interpreter.
        """
        from . import entry

        stdlib = os.path.dirname(os.__file__)
        modules = [m for m in self.pm.get_plugins()]
        modules += [sys.modules[name] for name in set(sys.modules) - self._modules_before if name in sys.modules]
        files = {getattr(m, "__file__", None) for m in modules}
        return sorted((f, entry._mtime(f)) for f in files if f and not f.startswith(stdlib))

    def snapshot(self) -> dict[str, Any] | None:
        """The plugins' registrations, defaults and observers as plain data (registrations.py), or None."""
        defaults = self.config_defaults()
        if self._defaults_failed:
            return None  # every process loads the plugins, and logs the failure, until it is fixed
        observers = {hook: [name for name, info in self.plugins.items() if hook in info.hooks]
                     for hook in OBSERVER_HOOKS}
        return snapshot_data(self.registrations, defaults, observers)

    def index_entries(self) -> dict[str, Any]:
        """What the start-up index (entry.py) keeps of the loaded plugins."""
        from . import entry
        from .config import parsed_files

        snapshot = self.snapshot()  # first: computing the defaults may import modules to track
        return {"fingerprint": entry.base_fingerprint(), "files": self.plugin_files(),
                "entry_points": self.entry_points, "jobs": self.job_index(), "snapshot": snapshot,
                "config_files": parsed_files()}

    def _remember(self) -> None:
        """Keep what the plugins registered in entry.py's start-up index, for later processes."""
        from . import entry

        index = entry.load_index()
        if index is not None and "snapshot" in index:
            return
        entry.save_index({**(index or {}), **self.index_entries()})

    def _load_one(self, info: PluginInfo, loader: Callable[[], ModuleType]) -> None:
        start = time.perf_counter()
        try:
            module = loader()
            self.pm.register(module, name=info.name)
            self.pm.check_pending()
        except (Exception, SystemExit) as e:  # noqa: BLE001 - any failure of a plugin is reported, not raised
            self._fail(info, e)
            return
        finally:
            info.import_ms = (time.perf_counter() - start) * 1000
        info.hooks = sorted(impl_name for impl_name in dir(module) if impl_name in hookspecs.HOOK_NAMES
                            and hasattr(getattr(module, impl_name), "pioreactor_impl"))
        for hook_name in REGISTRATION_HOOKS:
            if hook_name in info.hooks:
                try:
                    getattr(module, hook_name)(self._registrar(hook_name, info.name))
                except Exception as e:  # noqa: BLE001
                    self._fail(info, e, during=hook_name)
                    return

    def _fail(self, info: PluginInfo, error: BaseException, during: str | None = None) -> None:
        info.status = "failed"
        info.error = f"{type(error).__name__}: {error}" + (f" (in {during})" if during else "")
        if self.pm.get_plugin(info.name) is not None:
            self.pm.unregister(name=info.name)
        for table in self.registrations.values():
            for key in [k for k, r in table.items() if r.plugin == info.name]:
                del table[key]
        logger.warning("plugin %s failed to load (`pio plugins list` shows why): %s", info.name, info.error)

    def _registrar(self, hook_name: str, plugin: str) -> Callable[..., None]:
        kind = {"register_jobs": "job", "register_automations": "automation", "register_hardware": "hardware",
                "register_ui": "ui", "register_tables": "tables", "register_services": "service"}[hook_name]
        table = self.registrations[kind]

        def register(*args: Any, help: str = "", **extra: Any) -> None:  # noqa: A002 - click's word
            if kind == "automation":
                automation_kind, name, target = args
                key: Any = (automation_kind, name)
                extra = {**extra, "automation_kind": automation_kind}
            elif kind == "ui":
                ui_kind, spec = args
                name, target = str(spec.get("name") or spec.get("id") or len(table)), spec
                key = (ui_kind, plugin, name)
                extra = {**extra, "ui_kind": ui_kind}
            else:
                name, target = args
                key = name
            if key in table:
                raise PluginError(f"{kind} {name!r} is already registered by plugin {table[key].plugin!r}")
            table[key] = Registration(kind, name, target, plugin, help, extra)

        return register

    # ---------------------------------------------------------------- queries
    @property
    def jobs(self) -> dict[str, Registration]:
        return self.registrations["job"]

    def automations(self, kind: str) -> dict[str, Registration]:
        return {name: r for (k, name), r in self.registrations["automation"].items() if k == kind}

    def config_defaults(self) -> dict[str, dict[str, str]]:
        """Every plugin's ``config_defaults``, merged in registration order (later plugins override)."""
        if self._defaults is None or self._loading:  # asked while loading (a plugin reading config): not final
            merged: dict[str, dict[str, str]] = {}
            self._defaults_failed = False
            for impl in self.pm.hook.config_defaults.get_hookimpls():
                try:
                    result: Mapping[str, Mapping[str, Any]] = impl.function() or {}  # type: ignore[assignment]
                    for section, values in result.items():
                        merged.setdefault(section, {}).update({k.lower(): str(v) for k, v in values.items()})
                except Exception as e:  # noqa: BLE001
                    self._defaults_failed = True
                    logger.error("plugin %s: config_defaults failed: %s", impl.plugin_name, e)
            self._defaults = merged
        return {section: dict(values) for section, values in self._defaults.items()}

    def notify(self, hook_name: str, **kwargs: Any) -> None:
        """Call an observer hook on every plugin; one failing observer does not stop the others."""
        for impl in getattr(self.pm.hook, hook_name).get_hookimpls():
            try:
                impl.function(**kwargs)
            except Exception as e:  # noqa: BLE001
                logger.error("plugin %s: %s failed: %s", impl.plugin_name, hook_name, e)

    def add_commands(self, cli: Any) -> None:
        for impl in self.pm.hook.register_commands.get_hookimpls():  # the kernel first
            try:
                impl.function(cli=cli)
            except Exception as e:  # noqa: BLE001
                info = self.plugins.get(impl.plugin_name)
                if info is not None:
                    self._fail(info, e, during="register_commands")


def _selection() -> tuple[set[str] | None, set[str]]:
    env = os.environ.get(LOAD_ENV)
    wanted = None if env is None else {n.strip() for n in env.split(",") if n.strip()}
    disabled = {n.strip() for n in os.environ.get(DISABLE_ENV, "").split(",") if n.strip()}
    try:
        from .config import Config

        disabled |= set(Config.load().getlist("plugins", "disabled"))
    except Exception as e:  # noqa: BLE001 - a broken config is reported by the command that reads it
        logger.debug("could not read the disabled plugins from config: %s", e)
    return wanted, disabled


def _entry_points() -> list[tuple[str, str, str | None, str | None]]:
    """(name, value, dist, version) of the group's entry points, from entry.py's index when valid.

    Scanning every installed distribution's metadata is the slowest part of starting ``pio``;
    the index (see entry.py) is keyed on the mtimes of the ``sys.path`` directories.
    """
    from . import entry

    index = entry.load_index()
    if index is not None and "entry_points" in index:
        return [(str(n), str(v), d, ver) for n, v, d, ver in index["entry_points"]]
    from importlib.metadata import entry_points

    found = []
    for ep in entry_points(group=ENTRY_POINT_GROUP):
        dist = getattr(ep, "dist", None)
        found.append((ep.name, ep.value, dist.name if dist else None, dist.version if dist else None))
    found.sort(key=lambda e: (e[0] not in ESSENTIAL_PLUGINS, e[0]))
    entry.save_index({"fingerprint": entry.base_fingerprint(), "files": [], "entry_points": found})
    return found


def _candidates(
    entry_points: list[tuple[str, str, str | None, str | None]],
) -> list[tuple[str, str, str | None, str | None, Callable[[], ModuleType]]]:
    found: list[tuple[str, str, str | None, str | None, Callable[[], ModuleType]]] = [
        (name, "entry point", dist, version, _entry_point_loader(value)) for name, value, dist, version in entry_points
    ]
    from .paths import data_dir

    folder = data_dir() / "plugins"
    for path in sorted(folder.glob("*.py")) if folder.is_dir() else ():
        found.append((path.stem, str(path), None, None, _file_loader(path)))
    return found


def _entry_point_loader(value: str) -> Callable[[], ModuleType]:
    def load() -> ModuleType:
        module_name, _, attr = value.partition(":")
        module = importlib.import_module(module_name.strip())
        return getattr(module, attr.strip()) if attr else module

    return load


def _file_loader(path: Path) -> Callable[[], ModuleType]:
    return lambda: load_plugin_file(path)


_manager: PioPluginManager | None = None


def plugin_manager() -> PioPluginManager:
    """The process's plugin manager, loaded once (idempotent)."""
    global _manager
    if _manager is None:
        _manager = PioPluginManager()
        _manager.load()
    return _manager


def reset_plugin_manager() -> None:
    """Forget the loaded plugins (tests; after installing a plugin in-process)."""
    global _manager
    from . import services

    _manager = None
    reset_snapshot()
    services.reset()
