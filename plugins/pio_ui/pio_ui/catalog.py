"""What the installed plugins offer the UI: jobs and their settings, automations and their
parameters, and the panels, charts and pages plugins declare through ``register_ui``.

Everything is data: a plugin's spec is checked here (known kinds, typed fields, plain names) and
sent to the browser as JSON; nothing from a spec is ever evaluated as code.
"""

from __future__ import annotations

import logging
import re
from typing import Any

from pioreactor_kernel.plugins import plugin_manager
from pioreactor_kernel.settings import Setting

from .names import BUILTIN_SERIES, SETTINGS_HISTORY, Series

logger = logging.getLogger("pioreactor.ui.catalog")
_NAME = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.-]{0,63}")
WIDGETS = ("number", "slider", "toggle", "select", "text", "readout")
ACTIONS = ("start", "stop", "pause", "resume")
SECTION_KINDS = ("chart", "panel", "text")


class SpecError(ValueError):
    pass


def _name(spec: dict[str, Any], key: str, required: bool = True) -> str | None:
    value = spec.get(key)
    if value is None and not required:
        return None
    if not isinstance(value, str) or not _NAME.fullmatch(value):
        raise SpecError(f"{key} must be a plain name (letters, digits, _ . -), got {value!r}")
    return value


def _text(spec: dict[str, Any], key: str, default: str = "", limit: int = 2000) -> str:
    value = spec.get(key, default)
    if not isinstance(value, str):
        raise SpecError(f"{key} must be text")
    return value[:limit]


def check_panel(spec: dict[str, Any]) -> dict[str, Any]:
    fields = []
    for f in spec.get("fields", []):
        if not isinstance(f, dict):
            raise SpecError("each field must be an object")
        widget = f.get("widget", "number")
        if widget not in WIDGETS:
            raise SpecError(f"field widget {widget!r} is not one of {', '.join(WIDGETS)}")
        fields.append({"setting": _name(f, "setting"), "label": _text(f, "label", f.get("setting", "")),
                       "widget": widget})
    actions = [a for a in spec.get("actions", list(ACTIONS)) if a in ACTIONS]
    return {"name": _name(spec, "name"), "title": _text(spec, "title", spec.get("name", "")),
            "job": _name(spec, "job"), "description": _text(spec, "description"), "fields": fields,
            "actions": actions}


def check_chart(spec: dict[str, Any]) -> dict[str, Any]:
    out = {"name": _name(spec, "name"), "title": _text(spec, "title", spec.get("name", ""), 120),
           "unit": _text(spec, "unit", "", 40), "job": _name(spec, "job"), "setting": _name(spec, "setting"),
           "json_key": _name(spec, "json_key", required=False), "step": bool(spec.get("step", False)),
           "table": _name(spec, "table", required=False), "column": _name(spec, "column", required=False)}
    if (out["table"] is None) != (out["column"] is None):
        raise SpecError("give both table and column, or neither (history then comes from settings_history)")
    return out


def check_page(spec: dict[str, Any]) -> dict[str, Any]:
    sections = []
    for sec in spec.get("sections", []):
        if not isinstance(sec, dict) or sec.get("type") not in SECTION_KINDS:
            raise SpecError(f"each section needs type one of {', '.join(SECTION_KINDS)}")
        kind = sec["type"]
        sections.append({"type": kind, "ref": _name(sec, kind) if kind != "text" else None,
                         "text": _text(sec, "text", "", 4000) if kind == "text" else None})
    return {"name": _name(spec, "name"), "title": _text(spec, "title", spec.get("name", ""), 120), "sections": sections}


CHECKS = {"panel": check_panel, "chart": check_chart, "page": check_page}


def ui_contributions() -> tuple[dict[str, list[dict[str, Any]]], list[dict[str, str]]]:
    """Validated specs by kind, and the errors of those refused (shown on the plugins page)."""
    out: dict[str, list[dict[str, Any]]] = {"panel": [], "chart": [], "page": []}
    errors = []
    for (kind, plugin, name), reg in plugin_manager().registrations["ui"].items():
        try:
            check = CHECKS.get(kind)
            if check is None:
                raise SpecError(f"unknown kind {kind!r} (one of {', '.join(CHECKS)})")
            if not isinstance(reg.target, dict):
                raise SpecError("a spec must be a dict")
            spec = check(reg.target)
            out[kind].append({**spec, "plugin": plugin})
        except (SpecError, TypeError) as e:
            errors.append({"plugin": plugin, "kind": kind, "name": str(name), "error": str(e)})
            logger.warning("plugin %s: UI %s %s refused: %s", plugin, kind, name, e)
    return out, errors


def all_series(charts: list[dict[str, Any]]) -> list[Series]:
    series = list(BUILTIN_SERIES)
    taken = {s.name for s in series}
    for c in charts:
        if c["name"] in taken:
            continue
        taken.add(c["name"])
        series.append(Series(c["name"], c["title"], c["unit"], c["job"], c["setting"], c["json_key"],
                             c["table"] or SETTINGS_HISTORY, c["column"] or "value", step=c["step"],
                             plugin=c["plugin"]))
    return series


class Catalog:
    """Jobs and automations with their declarations (job classes are imported on first use)."""

    def __init__(self) -> None:
        self._jobs: dict[str, dict[str, Any]] | None = None
        self._automations: dict[str, dict[str, dict[str, Any]]] | None = None
        self._settings: dict[str, list[Setting]] = {}
        self._automation_params: dict[tuple[str, str], dict[str, Setting]] = {}

    def jobs(self) -> dict[str, dict[str, Any]]:
        if self._jobs is None:
            found = {}
            for name, reg in sorted(plugin_manager().jobs.items()):
                kind = reg.extra.get("kind", "job")
                entry: dict[str, Any] = {"name": name, "help": reg.help, "kind": kind, "plugin": reg.plugin,
                                         "service": bool(reg.extra.get("service")), "options": [], "settings": []}
                try:
                    if kind == "job":
                        cls = reg.load()
                        options = cls.cli_settings() if hasattr(cls, "cli_settings") else \
                            [s for s in cls.published_settings if s.settable]
                        entry["settings"] = [s.describe() for s in cls.published_settings]
                        entry["automation_kind"] = getattr(cls, "kind", None) or None
                    else:
                        options = _click_options(reg.load())
                    self._settings[name] = list(options)
                    entry["options"] = [s.describe() for s in options]
                except Exception as e:  # noqa: BLE001 - one broken job must not hide the others
                    entry["error"] = f"{type(e).__name__}: {e}"
                found[name] = entry
            self._jobs = found
        return self._jobs

    def options(self, job: str) -> list[Setting]:
        self.jobs()
        return self._settings.get(job, [])

    def automations(self) -> dict[str, dict[str, dict[str, Any]]]:
        if self._automations is None:
            out: dict[str, dict[str, dict[str, Any]]] = {}
            for (kind, name), reg in sorted(plugin_manager().registrations["automation"].items()):
                entry: dict[str, Any] = {"name": name, "help": reg.help, "plugin": reg.plugin, "parameters": []}
                try:
                    declared = reg.load().declared()
                    self._automation_params[(kind, name)] = declared
                    entry["parameters"] = [s.describe() for s in declared.values()]
                except Exception as e:  # noqa: BLE001
                    entry["error"] = f"{type(e).__name__}: {e}"
                out.setdefault(kind, {})[name] = entry
            self._automations = out
        return self._automations

    def automation_parameters(self, kind: str, name: str) -> dict[str, Setting] | None:
        self.automations()
        return self._automation_params.get((kind, name))


def _click_options(command: Any) -> list[Setting]:
    """An action's click options as Settings (so the UI can build its form the same way)."""
    import click

    out = []
    for p in getattr(command, "params", []):
        if not isinstance(p, click.Option) or p.name is None or p.hidden:
            continue
        datatype = {"float": "float", "integer": "integer", "boolean": "boolean"}.get(p.type.name, "string")
        if p.is_flag:
            datatype = "boolean"
        choices = tuple(p.type.choices) if isinstance(p.type, click.Choice) else None
        default = p.default if isinstance(p.default, int | float | str | bool) else None
        out.append(Setting(p.name, datatype, choices=choices, settable=True, description=p.help or "",
                           default=default))
    return out
