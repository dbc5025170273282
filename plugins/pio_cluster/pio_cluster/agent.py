"""The per-unit agent: takes signed commands from the leader over MQTT and answers each one.

Started with the unit (``pio worker up``, ``pio leader up``, or ``pio run agent``). It lives under
the universal experiment ``$experiment``; topics in :mod:`pio_cluster.names`, message format and
checks in :mod:`pio_cluster.protocol`, what each action does in :mod:`pio_cluster.actions`.
It also advertises the unit with zeroconf (``[cluster] zeroconf``).
"""

from __future__ import annotations

import threading
import time
from typing import Any

from pioreactor_kernel.config import get_config
from pioreactor_kernel.identity import is_leader
from pioreactor_kernel.job import BackgroundJob
from pioreactor_kernel.mqtt import Message
from pioreactor_kernel.names import UNIVERSAL_EXPERIMENT
from pioreactor_kernel.settings import Setting
from pioreactor_kernel.timing import RepeatedTimer

from .actions import ActionFailed, Actions, versions_report
from .names import AGENT, COMMANDS_REFUSED, DISCOVERY, REPLY, SECTION, VERSIONS, command_topic
from .procs import StateWatcher
from .protocol import Command, CommandVerifier, Refused, Reply, open_envelope

REFUSAL_LOG_INTERVAL_S = 10.0
SEEN_FILE = "agent_commands_seen.json"  # in run/: ids of recent commands, so a restart does not reopen replays


class Agent(BackgroundJob):
    """Takes commands from the leader: run, kill, set, config, status, install, uninstall."""

    job_name = AGENT
    published_settings = (
        Setting(VERSIONS, "json", description="Kernel, Python and plugin versions of this unit"),
        Setting(DISCOVERY, "json", description='Zeroconf: {"advertised", "name", "role", "addresses", "conflict", "alias"}'),
        Setting(COMMANDS_REFUSED, "integer", description="Commands refused since the agent started"),
    )

    def __init__(self, **kwargs: Any) -> None:
        kwargs.setdefault("experiment", UNIVERSAL_EXPERIMENT)
        super().__init__(**kwargs)
        from pioreactor_kernel.paths import sub_dir

        self.verifier = CommandVerifier(self.unit, "", None, seen_file=sub_dir("run") / SEEN_FILE)
        self.reload_config()
        self.watcher = StateWatcher(self.client, self.unit)
        self.actions = Actions(self)
        self.commands_refused = 0
        self.versions = versions_report()
        self.discovery: dict[str, Any] = {"advertised": False}
        self._last_refusal_log: dict[str, float] = {}
        self._advertiser: Any = None
        self.subscribe(command_topic(self.unit), self._on_command)
        self._reaper = RepeatedTimer(10.0, self.actions.reap, name="agent-reaper").start()
        if get_config().getboolean(SECTION, "zeroconf", True):
            threading.Thread(target=self._advertise, name="agent-zeroconf", daemon=True).start()

    def reload_config(self) -> None:
        """Read the leader's name, the secret and the limits again (after a config write)."""
        config = get_config(reload=True)
        self.verifier.leader = config.get(SECTION, "leader_name") or self.unit
        self.verifier.secret = config.get(SECTION, "secret") or None
        self.verifier.max_age_s = config.getfloat(SECTION, "command_max_age_s", 120.0) or 120.0
        self.job_ready_timeout_s = config.getfloat(SECTION, "job_ready_timeout_s", 20.0) or 20.0
        self.plugin_install_timeout_s = config.getfloat(SECTION, "plugin_install_timeout_s", 600.0) or 600.0

    def reload_plugins(self) -> None:
        import importlib

        from pioreactor_kernel import plugins

        importlib.invalidate_caches()
        plugins.reset_plugin_manager()
        self.versions = versions_report()

    # ------------------------------------------------------------------ commands
    def _on_command(self, message: Message) -> None:
        try:
            command = self.verifier.verify(message.payload)
        except Refused as e:
            self._refuse(message.payload, str(e))
            return
        threading.Thread(target=self._execute, args=(command,), name=f"agent-{command.action}", daemon=True).start()

    def _execute(self, command: Command) -> None:
        started = time.monotonic()
        try:
            ok, detail, data = getattr(self.actions, command.action)(command)
        except ActionFailed as e:
            ok, detail, data = False, str(e), {}
        except Exception as e:  # noqa: BLE001 - any failure is answered, never kills the agent
            self.logger.exception("%s failed", command.action)
            ok, detail, data = False, f"internal error: {type(e).__name__}: {e}", {}
        self._reply(Reply(command.id, self.unit, command.action, ok, detail, data))
        log = self.logger.info if ok else self.logger.error
        log("%s from %s %s in %.2f s: %s", command.action, command.leader, "done" if ok else "failed",
            time.monotonic() - started, detail)

    def _refuse(self, payload: bytes, reason: str) -> None:
        self.commands_refused += 1
        try:
            body, _ = open_envelope(payload, None, b"")
        except Refused:
            body = {}
        command_id = body.get("id") if isinstance(body.get("id"), str) else ""
        action = body.get("action") if isinstance(body.get("action"), str) else ""
        self._reply(Reply(command_id[:64], self.unit, action[:32], False, f"refused: {reason}"))
        now = time.monotonic()
        key = reason[:40]
        if now - self._last_refusal_log.get(key, 0.0) > REFUSAL_LOG_INTERVAL_S:
            self._last_refusal_log[key] = now
            self.logger.error("refused a command (%d refused so far): %s", self.commands_refused, reason)

    def _reply(self, reply: Reply) -> None:
        self.publish(REPLY, reply.seal(self.verifier.secret), qos=1)

    # ------------------------------------------------------------------ zeroconf
    def _advertise(self) -> None:
        from pioreactor_kernel import __version__

        from . import __version__ as cluster_version
        from .discovery import Advertiser, interfaces_from, local_addresses

        config = get_config()
        try:
            interfaces = interfaces_from(config.get(SECTION, "zeroconf_interfaces"))
            advertiser = Advertiser(
                self.unit, "leader" if is_leader(config) else "worker", __version__,
                self.client.address.port, interfaces=interfaces, cluster_version=cluster_version,
                addresses=local_addresses(interfaces, config.get(SECTION, "advertise_address")))
            if self.state == "disconnected":
                return
            self._advertiser = advertiser
            status = advertiser.start()
        except Exception as e:  # noqa: BLE001 - no network for mDNS must not stop the agent
            self.logger.error("zeroconf advertising failed: %s: %s", type(e).__name__, e)
            status = {"advertised": False, "conflict": None, "error": f"{type(e).__name__}: {e}"}
        if status.get("conflict"):
            self.logger.error("not advertised with zeroconf: %s", status["conflict"])
        elif str(status.get("alias") or "").startswith("conflict"):
            self.logger.error("leader alias not advertised: %s", status["alias"])
        if self.state != "disconnected":
            self.discovery = status

    # ------------------------------------------------------------------ lifecycle
    def on_disconnected(self) -> None:
        self._reaper.cancel()
        if self._advertiser is not None:
            self._advertiser.close()
