"""Automations and the jobs that host them (``dosing_automation``, ``temperature_automation``, ...).

An automation is a small class a plugin registers (``register_automations``) for one *kind*.
It declares its parameters like job settings, and its ``execute()`` runs every ``duration``
minutes; what it decides it returns as an :class:`AutomationEvent` (published at
``.../<kind>_automation/latest_event`` with its reason). A host job of that kind runs one
automation at a time and switches live, without restarting:

- ``.../<kind>_automation/automation_name/set`` ``turbidostat`` (keeps matching parameters),
- ``.../<kind>_automation/automation/set`` ``{"automation_name": "...", "args": {...}}``
  (the Pioreactor's form),
- ``.../<kind>_automation/<parameter>/set`` changes one parameter of the running automation.

Every parameter change is validated against its declaration; the current parameters are
published as JSON at ``.../<kind>_automation/<kind>_automation_settings``.
"""

from __future__ import annotations

import json
import threading
from typing import Any, ClassVar

from .job import BackgroundJob
from .names import READY
from .settings import InvalidSetting, Setting
from .timing import RepeatedTimer

DURATION = Setting("duration", "float", unit="min", settable=True, minimum=0.001, maximum=24 * 60, default=1.0,
                   description="Minutes between decisions")


class AutomationEvent:
    """A decision and why: ``event_name`` (e.g. ``DilutionEvent``, ``NoEvent``), ``message``, ``data``."""

    __slots__ = ("event_name", "message", "data")

    def __init__(self, event_name: str, message: str = "", data: dict[str, Any] | None = None) -> None:
        self.event_name = event_name
        self.message = message
        self.data: dict[str, Any] = {} if data is None else data

    def to_dict(self) -> dict[str, Any]:
        return {"event_name": self.event_name, "message": self.message, "data": self.data}

    def to_json(self) -> str:
        return json.dumps(self.to_dict())

    def __eq__(self, other: object) -> bool:
        return isinstance(other, AutomationEvent) and self.to_dict() == other.to_dict()

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        return f"AutomationEvent({self.event_name!r}, {self.message!r}, {self.data!r})"


class Automation:
    """Base class: set ``automation_name`` and ``parameters``; implement ``execute()``."""

    automation_name: ClassVar[str] = ""
    kind: ClassVar[str] = ""
    duration: float  # minutes between decisions; every automation has it (DURATION)
    parameters: ClassVar[tuple[Setting, ...]] = ()

    def __init__(self, host: AutomationHost, **params: Any) -> None:
        self.host = host
        self.logger = host.logger
        declared = self.declared()
        unknown = set(params) - set(declared)
        if unknown:
            raise InvalidSetting(f"{self.automation_name} has no parameter {', '.join(sorted(unknown))} "
                                 f"(it takes: {', '.join(declared)})")
        for name, setting in declared.items():
            value = params.get(name, setting.default)
            if value is None and setting.default is None and name != "duration":
                raise InvalidSetting(f"{self.automation_name}: parameter {name} is required ({setting.help_text()})")
            object.__setattr__(self, name, None if value is None else setting.parse(value))

    @classmethod
    def declared(cls) -> dict[str, Setting]:
        return {s.name: s for s in (DURATION, *cls.parameters)}

    def execute(self) -> AutomationEvent | None:
        """Decide and act once; return what was done (None: nothing worth publishing)."""
        raise NotImplementedError

    def on_start(self) -> None:
        """Called once the automation is running (subscribe to data here)."""

    def on_stop(self) -> None:
        """Called when the automation is switched off or its host stops: leave hardware safe."""

    def values(self) -> dict[str, Any]:
        return {name: getattr(self, name) for name in self.declared()}

    def __setattr__(self, name: str, value: Any) -> None:
        object.__setattr__(self, name, value)
        if name in self.declared() and "host" in self.__dict__ and self.host.automation is self:
            self.host.parameter_changed(name, value)


class AutomationHost(BackgroundJob):
    """The job that runs one automation of ``kind`` at a time; subclass per kind."""

    kind: ClassVar[str] = ""
    default_automation: ClassVar[str] = "silent"
    published_settings = (
        Setting("automation_name", "string", settable=True, description="The running automation"),
        Setting("latest_event", "json", description="The last decision and its reason"),
    )

    def __init__(self, automation_name: str | None = None, **params: Any) -> None:
        job_keys = {"unit", "experiment", "address", "source"}
        super().__init__(**{k: v for k, v in params.items() if k in job_keys})
        self.automation: Automation | None = None
        self._timer: RepeatedTimer | None = None
        self._switch_lock = threading.RLock()
        self.latest_event: dict[str, Any] | None = None
        self.subscribe(self._topic("automation", "set"), self._on_automation_set)
        self._start_automation(automation_name or self.default_automation,
                               {k: v for k, v in params.items() if k not in job_keys and v is not None})

    # ------------------------------------------------------------------ registry
    @classmethod
    def available(cls) -> dict[str, Any]:
        from .registrations import plugin_registry

        return plugin_registry().automations(cls.kind)

    @classmethod
    def automation_class(cls, name: str) -> type[Automation]:
        registered = cls.available()
        if name not in registered:
            raise InvalidSetting(f"no {cls.kind} automation {name!r} (installed: {', '.join(sorted(registered)) or 'none'})")
        automation: type[Automation] = registered[name].load()
        return automation

    @classmethod
    def cli_settings(cls) -> list[Setting]:
        """``automation_name`` plus every parameter of every installed automation of this kind."""
        names = tuple(sorted(cls.available()))
        out = [Setting("automation_name", "string", choices=names or None, default=cls.default_automation,
                       description=f"The {cls.kind} automation to run")]
        seen = {"automation_name"}
        for name in names:
            try:
                automation = cls.automation_class(name)
            except Exception:  # noqa: BLE001 - a broken automation must not hide the others' options
                continue
            for setting in automation.declared().values():
                if setting.name not in seen:
                    seen.add(setting.name)
                    desc = f"{setting.description} ({name}; default {setting.default})".strip()
                    out.append(setting.replace(default=None, description=desc))
        return out

    # ------------------------------------------------------------------ switching
    def _start_automation(self, name: str, params: dict[str, Any]) -> None:
        with self._switch_lock:
            automation = self.automation_class(name)(self, **params)
            self._stop_automation()
            self.declare_settings(added=tuple(automation.declared().values()))
            self.automation = automation
            self.automation_name = name
            for pname, value in automation.values().items():
                self._publish_setting(self._settings_by_name[pname], value)
            self._publish_parameters()
            automation.on_start()
            self._restart_timer()
            self.logger.info("started %s automation %s with %s", self.kind, name, automation.values())

    def _stop_automation(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        old, self.automation = self.automation, None
        if old is not None:
            try:
                old.on_stop()
            finally:
                self.declare_settings(removed=tuple(n for n in old.declared()))

    def switch(self, name: str, params: dict[str, Any] | None = None) -> None:
        """Replace the running automation; parameters it shares with the old one carry over."""
        with self._switch_lock:
            carried = {}
            if self.automation is not None and params is None:
                new_params = self.automation_class(name).declared()
                carried = {k: v for k, v in self.automation.values().items() if k in new_params and v is not None}
            self._start_automation(name, {**carried, **(params or {})})

    def _restart_timer(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
        assert self.automation is not None
        self._timer = RepeatedTimer(float(self.automation.duration) * 60, self._run_once, name=f"{self.kind}-automation")
        if self.state not in (READY, "init"):
            self._timer.pause()
        self._timer.start()

    def _run_once(self) -> None:
        with self._switch_lock:
            automation = self.automation
            if automation is None or self.state != READY:
                return
            event = automation.execute()
        if event is not None:
            self.latest_event = event.to_dict()
            self.logger.info("%s: %s", event.event_name, event.message)

    def run_now(self) -> AutomationEvent | None:
        """Run one decision at once (tests, and the UI's 'run now')."""
        assert self.automation is not None
        event = self.automation.execute()
        if event is not None:
            self.latest_event = event.to_dict()
        return event

    # ------------------------------------------------------------------ settings
    def set_automation_name(self, name: str) -> None:
        self.switch(name)

    def _on_automation_set(self, message: Any) -> None:
        try:
            request = json.loads(message.payload)
            name = request["automation_name"]
            args = request.get("args") or {}
            if not isinstance(name, str) or not isinstance(args, dict):
                raise ValueError("automation_name must be text and args an object")
            self.switch(name, args)
        except (ValueError, KeyError, TypeError, InvalidSetting) as e:
            self.logger.error("refused automation/set: %s", e)

    def _on_set_request(self, message: Any) -> None:
        if message.topic.split("/")[-2] == "automation":
            return  # `automation/set` is the switch request, handled by _on_automation_set
        super()._on_set_request(message)

    def _apply_setting(self, setting: Setting, value: Any) -> None:
        if self.automation is not None and setting.name in self.automation.declared():
            setattr(self.automation, setting.name, value)
        else:
            super()._apply_setting(setting, value)

    def parameter_changed(self, name: str, value: Any) -> None:
        self._publish_setting(self._settings_by_name[name], value)
        self._publish_parameters()
        if name == "duration":
            self._restart_timer()

    def _publish_parameters(self) -> None:
        assert self.automation is not None
        payload = {"automation_name": self.automation.automation_name, "args": self.automation.values()}
        self.publish(f"{self.kind}_automation_settings", json.dumps(payload), retain=True)

    def _topic(self, *rest: str) -> str:
        return "/".join((self._base, *rest))

    # ------------------------------------------------------------------ lifecycle
    def on_sleeping(self) -> None:
        if self._timer is not None:
            self._timer.pause()

    def on_sleeping_to_ready(self) -> None:
        if self._timer is not None:
            self._timer.unpause()

    def on_disconnected(self) -> None:
        self._stop_automation()
