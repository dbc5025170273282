"""What plugins offer one another by name (the ``register_services`` hook), so none imports another.

    from pioreactor_kernel.services import has_service, service

    if has_service("leader.experiments"):
        experiments = service("leader.experiments")

A service is whatever its target names (a function, a class, a module): the offering plugin
documents its signature. The target is imported on first use and kept.
"""

from __future__ import annotations

from typing import Any

from .registrations import plugin_registry


class ServiceUnavailable(LookupError):
    """No installed plugin offers the service; the message says which ones are offered."""


_loaded: dict[str, Any] = {}


def has_service(name: str) -> bool:
    return name in plugin_registry().registrations["service"]


def service(name: str) -> Any:
    """The target of service ``name``, imported on first use; :class:`ServiceUnavailable` if none."""
    if name not in _loaded:
        reg = plugin_registry().registrations["service"].get(name)
        if reg is None:
            offered = ", ".join(sorted(plugin_registry().registrations["service"])) or "none"
            raise ServiceUnavailable(f"no installed plugin offers the service {name!r} (offered: {offered})")
        _loaded[name] = reg.load()
    return _loaded[name]


def reset() -> None:
    """Forget the loaded targets (with ``plugins.reset_plugin_manager``)."""
    _loaded.clear()
