"""What the plugins registered, answered without loading them when the start-up index is valid.

Loading the plugins (plugins.py) means importing pluggy, which brings ``inspect``, ``ast`` and
``dis``, and then every plugin's module: about 30 ms of a job's start-up on a Raspberry-Pi-class
machine. A job needs only the *data* those plugins declare: the config defaults, the import path
of the hardware backend, the automations of its kind, and whether any plugin observes
``job_started`` / ``job_stopped``.

So the full plugin manager, each time it loads, stores that data in entry.py's start-up index
(:meth:`~pioreactor_kernel.plugins.PioPluginManager.snapshot`), together with the mtime of every
file it came from: each plugin module and every module imported while the plugins registered and
computed their defaults. A process whose index is still valid answers from it
(:class:`PluginSnapshot`); one whose index is stale or missing loads the plugins, which writes a
fresh index. The snapshot is never used for what only the plugins can do: calling an observer
hook loads them (only when a plugin implements it), and ``pio plugins list``, the CLI and the
UI always use the full manager.

This module must stay light: it is imported by every job and imports neither pluggy nor plugins.
"""

# No ``from __future__ import annotations`` here: with it, NamedTuple compiles every field's
# annotation string when the class is defined (~0.2 ms a field, at every job's start-up).

import importlib
import sys
from collections.abc import Mapping
from pathlib import Path
from types import MappingProxyType, ModuleType
from typing import Any, NamedTuple

KINDS = ("job", "automation", "hardware", "ui", "tables", "service")
OBSERVER_HOOKS = ("job_started", "job_stopped")


class Registration(NamedTuple):
    """One thing a plugin registered: a job, automation, backend, table set or UI spec."""

    kind: str  # the hook's noun: job, automation, hardware, ui, tables, service
    name: str
    target: Any  # usually "module:attribute"
    plugin: str
    help: str = ""
    extra: Mapping[str, Any] = MappingProxyType({})

    def load(self) -> Any:
        return import_target(self.target)


LOCAL_PLUGIN_PREFIX = "pio_local_plugin_"


def import_target(target: Any) -> Any:
    """Resolve ``"package.module:attr.sub"``; anything else is returned unchanged.

    A single-file plugin of the data dir is the module ``pio_local_plugin_<file stem>``: it
    is loaded from its file if this process has not loaded the plugins.
    """
    if not isinstance(target, str):
        return target
    module_name, _, attr = target.partition(":")
    if module_name.startswith(LOCAL_PLUGIN_PREFIX) and module_name not in sys.modules:
        from .paths import data_dir

        load_plugin_file(data_dir() / "plugins" / f"{module_name[len(LOCAL_PLUGIN_PREFIX):]}.py")
    obj: Any = importlib.import_module(module_name)
    for part in filter(None, attr.split(".")):
        obj = getattr(obj, part)
    return obj


def load_plugin_file(path: Path) -> ModuleType:
    """Import a single-file plugin as the module ``pio_local_plugin_<stem>``."""
    import importlib.util

    module_name = f"{LOCAL_PLUGIN_PREFIX}{path.stem}"
    spec = importlib.util.spec_from_file_location(module_name, path)
    if spec is None or spec.loader is None:
        raise ImportError(f"cannot import {path}")
    module = importlib.util.module_from_spec(spec)
    sys.modules[module_name] = module
    try:
        spec.loader.exec_module(module)
    except BaseException:
        del sys.modules[module_name]
        raise
    return module


class PluginSnapshot:
    """The registrations, config defaults and observers of the loaded plugins, as plain data.

    Answers the queries a job makes of the plugin manager (same names, same results).
    """

    def __init__(self, data: Mapping[str, Any]) -> None:
        self.registrations: dict[str, dict[Any, Registration]] = {kind: {} for kind in KINDS}
        for kind, rows in data["registrations"].items():
            table = self.registrations.setdefault(kind, {})
            for key, name, target, plugin, help_text, extra in rows:
                table[key] = Registration(kind, name, target, plugin, help_text, MappingProxyType(extra))
        self._defaults: dict[str, dict[str, str]] = data["config_defaults"]
        self._observers: dict[str, list[str]] = data["observers"]

    @property
    def jobs(self) -> dict[str, Registration]:
        return self.registrations["job"]

    def automations(self, kind: str) -> dict[str, Registration]:
        return {name: r for (k, name), r in self.registrations["automation"].items() if k == kind}

    def config_defaults(self) -> dict[str, dict[str, str]]:
        return {section: dict(values) for section, values in self._defaults.items()}

    def notify(self, hook_name: str, **kwargs: Any) -> None:
        """Call an observer hook: loads the plugins only if one of them implements it."""
        if self._observers.get(hook_name):
            from .plugins import plugin_manager

            plugin_manager().notify(hook_name, **kwargs)


def snapshot_data(registrations: Mapping[str, Mapping[Any, Registration]], config_defaults: Mapping[str, Any],
                  observers: Mapping[str, list[str]]) -> dict[str, Any] | None:
    """What :class:`PluginSnapshot` is built from, or None if some registration is not plain data.

    A plugin that registers an object rather than an import path (allowed, if slower) cannot be
    kept in the index: every process then loads the plugins, as before the snapshot existed.
    """
    import marshal

    data = {
        "registrations": {kind: [(key, r.name, r.target, r.plugin, r.help, dict(r.extra)) for key, r in table.items()]
                          for kind, table in registrations.items()},
        "config_defaults": {section: dict(values) for section, values in config_defaults.items()},
        "observers": {hook: list(names) for hook, names in observers.items()},
    }
    try:
        marshal.dumps(data)
    except ValueError:
        return None
    return data


_snapshot: PluginSnapshot | None = None


def plugin_registry() -> Any:
    """The plugins' registrations: the loaded plugin manager if there is one, else the index's snapshot.

    Falls back to loading the plugins (which refreshes the index) when the index is missing,
    stale, or holds no snapshot.
    """
    global _snapshot
    full = sys.modules.get(f"{__package__}.plugins")
    if full is not None and full._manager is not None:
        return full._manager
    if _snapshot is None:
        from . import entry

        index = entry.load_index(recheck=False)
        data = index.get("snapshot") if index else None
        if data is None:
            from .plugins import plugin_manager

            return plugin_manager()
        _snapshot = PluginSnapshot(data)
    return _snapshot


def reset() -> None:
    """Forget the snapshot (with ``plugins.reset_plugin_manager``)."""
    global _snapshot
    from . import entry

    _snapshot = None
    entry.forget_index()
