"""Changes requested from the browser, validated here against the declarations, then sent the
same way the command line sends them: ``pio run <job> --options`` as an argument list (never a
shell string), ``.../<setting>/set`` and ``.../$state/set`` over MQTT.

Jobs start on the leader's own unit with ``subprocess``; other units need the cluster agent
(pio-cluster), and until it is installed a start on another unit is refused with that reason.
"""

from __future__ import annotations

import json
import logging
import os
import subprocess
import sys
import threading
from collections.abc import Callable
from typing import Any

from pioreactor_kernel import names
from pioreactor_kernel.services import has_service, service
from pioreactor_kernel.settings import InvalidSetting, Setting

from .catalog import Catalog
from .live import ClusterState

logger = logging.getLogger("pioreactor.ui.commands")
STATE_FOR_ACTION = {"stop": names.DISCONNECTED, "pause": names.SLEEPING, "resume": names.READY}
RUNNING = (names.INIT, names.READY, names.SLEEPING)


class CommandError(ValueError):
    """A refused request; the message says what and why (shown to the user)."""

    def __init__(self, message: str, status: int = 400):
        super().__init__(message)
        self.status = status


def setting_from(declaration: dict[str, Any]) -> Setting:
    keys = ("name", "datatype", "unit", "settable", "minimum", "maximum", "default", "description")
    decl = {k: declaration[k] for k in keys if k in declaration}
    if "choices" in declaration:
        decl["choices"] = tuple(declaration["choices"])
    return Setting(**decl)


def check_options(declared: list[Setting], options: Any, what: str) -> dict[str, Any]:
    """Parse each option against its declaration; refuse unknown names and bad values."""
    if not isinstance(options, dict):
        raise CommandError(f"{what}: options must be an object")
    by_name = {s.name: s for s in declared}
    out = {}
    for name, raw in options.items():
        if raw is None or raw == "":
            continue
        setting = by_name.get(name)
        if setting is None:
            raise CommandError(f"{what} has no option {name!r} (options: {', '.join(by_name) or 'none'})")
        try:
            out[name] = setting.parse(raw if isinstance(raw, str) else json.dumps(raw) if setting.datatype == "json"
                                      else raw)
        except InvalidSetting as e:
            raise CommandError(f"{what}: {e}") from None
    return out


def cli_args(options: dict[str, Any], declared: list[Setting]) -> list[str]:
    by_name = {s.name: s for s in declared}
    args: list[str] = []
    for name, value in options.items():
        flag = "--" + name.replace("_", "-")
        if by_name[name].datatype == "boolean" and not isinstance(value, str):
            args += [flag, "true" if value else "false"]
        else:
            args += [flag, by_name[name].to_wire(value)]
    return args


class Commands:
    def __init__(self, state: ClusterState, catalog: Catalog, publish: Callable[[str, str], Any], local_unit: str,
                 log_dir: Any, notify: Callable[[str, dict[str, Any]], None] | None = None) -> None:
        self.state, self.catalog, self.publish = state, catalog, publish
        self.local_unit, self.log_dir, self.notify = local_unit, log_dir, notify
        self.launched: dict[tuple[str, str], subprocess.Popen[bytes]] = {}

    # ------------------------------------------------------------------ starting
    def start(self, experiment: str, unit: str, job: str, options: Any) -> dict[str, Any]:
        jobs = self.catalog.jobs()
        if job not in jobs:
            raise CommandError(f"no job {job!r} installed (jobs: {', '.join(jobs)})", 404)
        entry = jobs[job]
        if entry.get("error"):
            raise CommandError(f"job {job} cannot be started: {entry['error']}", 409)
        state = self.state.setting(experiment, unit, job, names.STATE)
        if entry["kind"] == "job" and state in RUNNING:
            raise CommandError(f"{job} is already running on {unit} ({state})", 409)
        declared = self.catalog.options(job)
        kind = entry.get("automation_kind")
        opts = dict(options or {}) if isinstance(options, dict) else options
        if kind and isinstance(opts, dict) and opts.get("automation_name"):
            params = self.catalog.automation_parameters(kind, str(opts["automation_name"]))
            if params is None:
                raise CommandError(f"no {kind} automation {opts['automation_name']!r}")
            args = {k: v for k, v in opts.items() if k != "automation_name"}
            checked = check_options(list(params.values()), args, f"{opts['automation_name']}")
            _require(params, checked, str(opts["automation_name"]))
            parsed = {"automation_name": str(opts["automation_name"]), **checked}
        else:
            parsed = check_options(declared, opts, job)
        if unit != self.local_unit:
            return self._remote(experiment, unit, job, parsed)
        argv = [sys.executable, "-m", "pioreactor_kernel", "run", job, *cli_args(parsed, declared)]
        return self._launch(experiment, unit, job, argv)

    def _remote(self, experiment: str, unit: str, job: str, options: dict[str, Any]) -> dict[str, Any]:
        """Through the unit's agent (pio-cluster's ``cluster.send`` service), which checks the options again."""
        if not has_service("cluster.send"):
            raise CommandError(f"{unit} is not this leader's unit ({self.local_unit}): starting jobs on other units "
                               "needs the cluster agent (install pio-cluster)", 409)
        try:
            [result] = service("cluster.send")([unit], "run", {"job": job, "options": options,
                                                               "experiment": experiment}, timeout_s=25.0)
        except RuntimeError as e:  # the service's ClusterError: nothing could be sent
            raise CommandError(str(e), 409) from None
        if not result.ok:
            raise CommandError(f"{unit}: {result.status}: {result.detail}", 502)
        return {"ok": True, "unit": unit, "job": job, "detail": result.detail}

    def _launch(self, experiment: str, unit: str, job: str, argv: list[str]) -> dict[str, Any]:
        self.log_dir.mkdir(parents=True, exist_ok=True)
        out = (self.log_dir / f"ui-{job}.out").open("wb")
        env = {**os.environ, "PIO_EXPERIMENT": experiment, "PIO_UNIT": unit}
        proc = subprocess.Popen(argv, env=env, stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                start_new_session=True)
        out.close()
        self.launched[(unit, job)] = proc
        threading.Thread(target=self._watch, args=(proc, experiment, unit, job), daemon=True).start()
        logger.info("started %s on %s: %s", job, unit, " ".join(argv[3:]))
        return {"ok": True, "unit": unit, "job": job, "pid": proc.pid, "command": ["pio", *argv[3:]]}

    def _watch(self, proc: subprocess.Popen[bytes], experiment: str, unit: str, job: str) -> None:
        code = proc.wait()
        if code != 0 and self.notify is not None:
            tail = ""
            try:
                text = (self.log_dir / f"ui-{job}.out").read_text(errors="replace").strip().splitlines()
                tail = next((line for line in reversed(text) if line.strip()), "")
            except OSError:
                pass
            self.notify(experiment, {"unit": unit, "job": job, "code": code, "message": tail[-500:]})

    # ------------------------------------------------------------------ running jobs
    def set_state(self, experiment: str, unit: str, job: str, action: str) -> dict[str, Any]:
        target = STATE_FOR_ACTION.get(action)
        if target is None:
            raise CommandError(f"unknown action {action!r} (one of {', '.join(STATE_FOR_ACTION)})")
        current = self.state.setting(experiment, unit, job, names.STATE)
        if current not in RUNNING:
            raise CommandError(f"{job} is not running on {unit} (state: {current or 'never started'})", 409)
        self.publish(names.job_topic(unit, experiment, job, names.STATE, "set"), target)
        return {"ok": True, "requested": target}

    def set_setting(self, experiment: str, unit: str, job: str, setting: str, value: Any) -> dict[str, Any]:
        declarations = self.state.declarations(experiment, unit, job)
        if declarations is None:
            raise CommandError(f"{job} on {unit} has published no settings: is it running?", 409)
        decl = next((d for d in declarations if d.get("name") == setting), None)
        if decl is None or not decl.get("settable"):
            settable = ", ".join(d["name"] for d in declarations if d.get("settable")) or "none"
            raise CommandError(f"{setting!r} is not a settable setting of {job} (settable: {settable})")
        declared = setting_from(decl)
        raw = value if isinstance(value, str) else json.dumps(value) if declared.datatype == "json" else value
        try:
            parsed = declared.parse(raw)
        except InvalidSetting as e:
            raise CommandError(str(e)) from None
        self.publish(names.job_topic(unit, experiment, job, setting, "set"), declared.to_wire(parsed))
        return {"ok": True, "value": parsed}

    def switch_automation(self, experiment: str, unit: str, job: str, name: Any, args: Any) -> dict[str, Any]:
        entry = self.catalog.jobs().get(job)
        kind = entry.get("automation_kind") if entry else None
        if not kind:
            raise CommandError(f"{job} does not host automations")
        params = self.catalog.automation_parameters(kind, str(name))
        if params is None:
            raise CommandError(f"no {kind} automation {name!r}")
        checked = check_options(list(params.values()), args or {}, str(name))
        _require(params, checked, str(name))
        current = self.state.setting(experiment, unit, job, names.STATE)
        if current not in RUNNING:
            return self.start(experiment, unit, job, {"automation_name": name, **checked})
        payload = json.dumps({"automation_name": name, "args": checked})
        self.publish(names.job_topic(unit, experiment, job, "automation", "set"), payload)
        return {"ok": True, "switched": name}


def _require(params: dict[str, Setting], checked: dict[str, Any], automation: str) -> None:
    missing = [n for n, s in params.items() if s.default is None and n != "duration" and n not in checked]
    # automations that take "one of" several targets declare them all without defaults: accept any one
    if missing and len(missing) == len([n for n, s in params.items() if s.default is None and n != "duration"]):
        raise CommandError(f"{automation}: give {' or '.join(missing)}")

