"""What the agent does for each accepted command. Nothing received ever reaches a shell.

Every action checks its arguments against what this unit declares: job names against the
installed plugins' registrations, options against the job's declared settings (or an action's
click options), settings against the job's published ``$settings`` declaration. Processes are
started with argument lists; option values travel as single ``--name=value`` elements.
"""

from __future__ import annotations

import configparser
import json
import math
import os
import re
import subprocess
import sys
import threading
import time
from typing import TYPE_CHECKING, Any

from pioreactor_kernel import names, registry
from pioreactor_kernel.config import SHARED_FILE, UNIT_FILE, Config, env_layer
from pioreactor_kernel.mqtt import retained_value
from pioreactor_kernel.paths import data_dir
from pioreactor_kernel.plugins import Registration, plugin_manager
from pioreactor_kernel.settings import InvalidSetting, Setting

from . import procs
from .configtext import secret_in, with_secret
from .names import AGENT, MAX_COMMAND_BYTES, SECTION
from .protocol import Command

if TYPE_CHECKING:
    from .agent import Agent

Result = tuple[bool, str, dict[str, Any]]
_REQUIREMENT = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]*(\[[A-Za-z0-9._,-]+\])?"
                          r"((==|>=|<=|~=|!=|>|<)[A-Za-z0-9.*+!-]+(,(==|>=|<=|~=|!=|>|<)[A-Za-z0-9.*+!-]+)*)?")
_URL = re.compile(r"https://[A-Za-z0-9._~:/?#\[\]@!$&'()*+,;=%-]+")
_OPTION_NAME = re.compile(r"[a-z][a-z0-9_-]{0,63}")
def is_service(job: str) -> bool:
    """Unit services (registered with ``service=True``: agent, database writer, UI) survive "all jobs"."""
    from pioreactor_kernel.plugins import plugin_manager

    registration = plugin_manager().jobs.get(job)
    return job == AGENT or bool(registration and registration.extra.get("service"))


class ActionFailed(Exception):
    """The command was understood but cannot be done; the text goes back to the leader."""


def job_names_of(args: dict[str, Any], key: str = "jobs") -> list[str]:
    value = args.get(key, [])
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise ActionFailed(f"{key} must be a list of job names")
    return [checked_name("job", v) for v in value]


def checked_name(kind: str, value: Any) -> str:
    if not isinstance(value, str):
        raise ActionFailed(f"{kind} name must be text, got {type(value).__name__}")
    try:
        return names.validate_name(kind, value)
    except ValueError as e:
        raise ActionFailed(str(e)) from None


def registered_job(job: str) -> Registration:
    jobs = plugin_manager().jobs
    if job not in jobs:
        raise ActionFailed(f"no job {job!r} is installed on this unit (installed: {', '.join(sorted(jobs)) or 'none'})")
    return jobs[job]


def job_options(reg: Registration, options: Any) -> list[str]:
    """``--name=value`` arguments, each checked against the job's (or action's) declaration."""
    if not isinstance(options, dict):
        raise ActionFailed("options must be a JSON object {name: value}")
    target = reg.load()
    if reg.extra.get("kind", "job") == "action":
        return _action_options(reg.name, target, options)
    declared: list[Setting] = (target.cli_settings() if hasattr(target, "cli_settings")
                               else [s for s in target.published_settings if s.settable])
    by_name = {s.name: s for s in declared}
    argv = []
    for raw_name, value in options.items():
        name = _option_name(raw_name)
        setting = by_name.get(name)
        if setting is None:
            raise ActionFailed(f"{reg.name} has no option {raw_name!r} (options: {', '.join(sorted(by_name)) or 'none'})")
        try:
            parsed = setting.parse(value if isinstance(value, str) else json.dumps(value) if setting.datatype == "json"
                                   else value)
        except InvalidSetting as e:
            raise ActionFailed(f"{reg.name}: {e}") from None
        argv.append(f"--{name.replace('_', '-')}={setting.to_wire(parsed)}")
    return argv


def _action_options(job: str, command: Any, options: dict[str, Any]) -> list[str]:
    import click

    params = {p.name: p for p in getattr(command, "params", []) if isinstance(p, click.Option) and p.name}
    argv = []
    for raw_name, value in options.items():
        name = _option_name(raw_name)
        param = params.get(name)
        if param is None or name in ("help",):
            raise ActionFailed(f"{job} has no option {raw_name!r} (options: {', '.join(sorted(params)) or 'none'})")
        flag = max((o for o in param.opts if o.startswith("--")), key=len, default=None)
        if flag is None:
            raise ActionFailed(f"{job}: option {name!r} has no long form")
        if param.is_flag:
            if not isinstance(value, bool):
                raise ActionFailed(f"{job}: {name} is a flag: true or false")
            if value:
                argv.append(flag)
            continue
        if isinstance(value, bool) or not isinstance(value, str | int | float):
            raise ActionFailed(f"{job}: {name} must be text or a number, got {value!r}")
        text = str(value)
        try:
            converted = param.type.convert(text, param, None)
        except click.BadParameter as e:
            raise ActionFailed(f"{job}: {name}: {e.format_message()}") from None
        if isinstance(converted, float) and not math.isfinite(converted):
            raise ActionFailed(f"{job}: {name}: {text!r} is not a finite number")
        argv.append(f"{flag}={text}")
    return argv


def _option_name(raw: Any) -> str:
    if not isinstance(raw, str) or not _OPTION_NAME.fullmatch(raw.lstrip("-").lower()):
        raise ActionFailed(f"{raw!r} is not an option name")
    return raw.lstrip("-").lower().replace("-", "_")


class Actions:
    """One method per action; each returns ``(ok, detail, data)`` or raises :class:`ActionFailed`."""

    def __init__(self, agent: Agent):
        self.agent = agent
        self._children: list[tuple[str, subprocess.Popen[bytes]]] = []
        self._children_lock = threading.Lock()

    # ------------------------------------------------------------------ run / kill
    def run(self, command: Command) -> Result:
        args = command.args
        job = checked_name("job", args.get("job"))
        if job == AGENT:
            raise ActionFailed("the agent is already running (it cannot be started remotely)")
        reg = registered_job(job)
        argv = job_options(reg, args.get("options", {}))
        env = {}
        if args.get("experiment") is not None:
            env["PIO_EXPERIMENT"] = checked_name("experiment", args["experiment"])
        is_action = reg.extra.get("kind", "job") == "action"
        if not is_action and (held := registry.read(job)) is not None:
            raise ActionFailed(f"{job} is already running (pid {held.pid}, experiment {held.experiment!r})")
        proc = procs.spawn(job, argv, env=env)
        with self._children_lock:
            self._children.append((job, proc))
        wait_s = max(1.0, min(self.agent.job_ready_timeout_s, command.timeout_s - 2.0))
        if is_action:
            try:
                proc.wait(wait_s)
            except subprocess.TimeoutExpired:
                return True, f"{job} started (pid {proc.pid}), still running after {wait_s:g} s", {"pid": proc.pid}
            detail = procs.tail(procs.out_file(job))
            if proc.returncode:
                raise ActionFailed(f"{job} failed (status {proc.returncode}): {detail}")
            return True, f"{job} done" + (f": {detail}" if detail else ""), {"pid": proc.pid}
        ok, detail, record = procs.wait_ready(proc, job, self.agent.watcher, wait_s)
        if not ok:
            raise ActionFailed(detail)
        return True, detail, {"pid": proc.pid, "experiment": record.experiment if record else None}

    def kill(self, command: Command) -> Result:
        args = command.args
        experiment = args.get("experiment")
        if experiment is not None:
            checked_name("experiment", experiment)
        if args.get("all") is True:  # the unit's services stay: they are stopped by name, or by `pio leader down`
            jobs = [r.job for r in registry.running_jobs() if not is_service(r.job)
                    and (experiment is None or r.experiment == experiment)]
        else:
            jobs = job_names_of(args)
            if not jobs:
                raise ActionFailed("name the jobs to stop, or send all: true")
            if AGENT in jobs:
                raise ActionFailed("the agent cannot be stopped remotely (on the unit: `pio worker down`)")
            if experiment is not None:
                jobs = [j for j in jobs if (r := registry.read(j)) is None or r.experiment == experiment]
        outcomes: dict[str, str] = {}
        threads = [threading.Thread(target=lambda j=job: outcomes.__setitem__(j, procs.stop(j)), daemon=True)
                   for job in jobs]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        return True, "; ".join(outcomes[j] for j in jobs) or "no jobs running", {"stopped": jobs}

    # ------------------------------------------------------------------ settings and config
    def set(self, command: Command) -> Result:
        args = command.args
        job = checked_name("job", args.get("job"))
        name = checked_name("setting", args.get("setting"))
        record = registry.read(job)
        if record is None:
            raise ActionFailed(f"{job} is not running on this unit")
        client = self.agent.client
        base = names.job_topic(self.agent.unit, record.experiment, job)
        raw = retained_value(client, f"{base}/{names.SETTINGS_SCHEMA}", timeout_s=3.0)
        try:
            declared = {d["name"]: d for d in json.loads(raw or b"[]")}
        except (ValueError, TypeError, KeyError):
            raise ActionFailed(f"{job} publishes no readable settings declaration ({names.SETTINGS_SCHEMA})") from None
        spec = declared.get(name)
        if spec is None or not spec.get("settable"):
            settable = sorted(n for n, d in declared.items() if d.get("settable"))
            raise ActionFailed(f"{name!r} is not a settable setting of {job} (settable: {', '.join(settable) or 'none'})")
        setting = Setting(**{**spec, "choices": tuple(spec["choices"]) if spec.get("choices") else None})
        try:
            value = setting.parse(args.get("value") if isinstance(args.get("value"), str) else json.dumps(args.get("value")))
        except InvalidSetting as e:
            raise ActionFailed(str(e)) from None
        seen: list[Any] = []
        applied = threading.Event()

        def on_value(message: Any) -> None:
            try:
                seen.append(setting.parse(message.payload))
            except InvalidSetting:
                return
            if seen[-1] == value:
                applied.set()

        topic = f"{base}/{name}"
        client.subscribe(topic, on_value)
        try:
            client.publish(f"{topic}/set", setting.to_wire(value), qos=1)
            if not applied.wait(min(5.0, command.timeout_s - 1.0)):
                now = seen[-1] if seen else "nothing"
                raise ActionFailed(f"{job} did not apply {name} = {setting.to_wire(value)} (it publishes {now}; see its log)")
        finally:
            client.unsubscribe(topic)
        return True, f"{job} {name} = {setting.to_wire(value)}", {}

    def config(self, command: Command) -> Result:
        """Write ``config.ini`` (``shared``) and/or ``unit_config.ini`` (``unit``) after checking them."""
        texts = {SHARED_FILE: command.args.get("shared"), UNIT_FILE: command.args.get("unit")}
        directory = data_dir()
        layers: list[tuple[str, Any]] = [("defaults", plugin_manager().config_defaults())]
        new_texts: dict[str, str] = {}
        for file_name, text in texts.items():
            path = directory / file_name
            if text is None:
                old = path.read_text(encoding="utf-8") if path.exists() else ""
                layers.append((file_name, _parse_ini(file_name, old)))
                continue
            if not isinstance(text, str) or len(text.encode()) > MAX_COMMAND_BYTES:
                raise ActionFailed(f"{file_name}: expected the text of an INI file")
            own_secret = secret_in(path)
            if own_secret and not _parse_ini(file_name, text).get(SECTION, {}).get("secret"):
                text = with_secret(text, own_secret)  # the leader never sends the secret: keep ours
            new_texts[file_name] = text
            layers.append((file_name, _parse_ini(file_name, text)))
        if not new_texts:
            raise ActionFailed("nothing to write: send shared and/or unit config text")
        layers.append(("environment", env_layer(os.environ)))
        after = Config(layers)
        leader = after.get(SECTION, "leader_name") or self.agent.unit
        if leader != command.leader:
            raise ActionFailed(f"refused: with this config the unit's leader would be {leader!r}, not {command.leader!r} "
                               "([cluster] leader_name)")
        if not after.get(SECTION, "secret"):
            raise ActionFailed("refused: with this config the unit would have no [cluster] secret")
        for file_name, text in new_texts.items():
            path = directory / file_name
            tmp = path.with_suffix(".incoming")
            tmp.write_text(text, encoding="utf-8")
            tmp.replace(path)
        self.agent.reload_config()
        import hashlib

        digests = {f: hashlib.sha256(t.encode()).hexdigest()[:12] for f, t in new_texts.items()}
        return True, "wrote " + ", ".join(f"{f} (sha256 {d})" for f, d in digests.items()), {"sha256": digests}

    # ------------------------------------------------------------------ reports and plugins
    def status(self, command: Command) -> Result:
        report = versions_report()
        running = [r._asdict() for r in registry.running_jobs()]
        report.update({"running": running, "jobs": sorted(plugin_manager().jobs), "hostname": os.uname().nodename,
                       "discovery": self.agent.discovery})
        jobs = ", ".join(r["job"] for r in running if r["job"] != AGENT) or "no jobs"
        return True, f"kernel {report['kernel']}, {len(report['plugins'])} plugins, {jobs}", report

    def install(self, command: Command) -> Result:
        return self._pip(command, "install")

    def uninstall(self, command: Command) -> Result:
        return self._pip(command, "uninstall")

    def _pip(self, command: Command, verb: str) -> Result:
        packages = command.args.get("packages")
        if not isinstance(packages, list) or not packages or len(packages) > 20:
            raise ActionFailed("packages must be a list of 1 to 20 requirement strings")
        for p in packages:
            if not isinstance(p, str) or not (_REQUIREMENT.fullmatch(p) or (verb == "install" and _URL.fullmatch(p))):
                raise ActionFailed(f"{p!r} is not a package requirement (name[extras]<specifier> or an https URL)")
        argv = [sys.executable, "-m", "pip", verb, "--disable-pip-version-check", "--no-input",
                *(["--yes"] if verb == "uninstall" else []), "--", *packages]
        timeout_s = max(1.0, min(self.agent.plugin_install_timeout_s, command.timeout_s - 2.0))
        try:
            result = subprocess.run(argv, stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=timeout_s)
        except subprocess.TimeoutExpired:
            raise ActionFailed(f"pip {verb} did not finish within {timeout_s:g} s") from None
        lines = [line for line in (result.stdout + result.stderr).splitlines() if line.strip()]
        if result.returncode:
            raise ActionFailed(f"pip {verb} failed (status {result.returncode}): {(lines or ['no output'])[-1][:300]}")
        self.agent.reload_plugins()
        return True, f"pip {verb} {' '.join(packages)}: {(lines or ['done'])[-1][:300]}", {}

    # ------------------------------------------------------------------ housekeeping
    def reap(self) -> None:
        """Collect exited children; keep long-running jobs' output files small."""
        with self._children_lock:
            alive = [(job, p) for job, p in self._children if p.poll() is None]
            self._children = alive
        for job, _ in alive:
            procs.cap_output(job)


def _parse_ini(file_name: str, text: str) -> dict[str, dict[str, str]]:
    parser = configparser.ConfigParser(interpolation=None, strict=True)
    try:
        parser.read_string(text, source=file_name)
    except configparser.Error as e:
        raise ActionFailed(f"{file_name} is not a valid config file: {str(e).splitlines()[0]}") from None
    return {s: dict(parser[s]) for s in parser.sections()}


def versions_report() -> dict[str, Any]:
    from pioreactor_kernel import __version__

    manager = plugin_manager()
    return {
        "kernel": __version__,
        "python": sys.version.split()[0],
        "plugins": [{"name": i.name, "dist": i.dist, "version": i.version, "status": i.status}
                    for i in manager.plugins.values()],
        "clock": time.time(),
    }
