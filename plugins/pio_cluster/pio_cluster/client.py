"""The leader's side: send a signed command to many units and collect every answer.

A unit whose agent is not ``ready`` (its retained ``$state`` says ``lost`` or ``disconnected``, or
no agent ever ran there) cannot answer: it is reported ``unreachable`` without waiting for the
timeout (an answer that still arrives in time is taken). A unit whose agent looks ready but does
not answer within the timeout is ``unreachable`` too.
"""

from __future__ import annotations

import os
import threading
import time
import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from pioreactor_kernel.config import get_config
from pioreactor_kernel.identity import is_leader, unit_name
from pioreactor_kernel.mqtt import BrokerAddress, Message, MQTTClient
from pioreactor_kernel.names import INIT, READY

from .names import ALL_AGENT_STATES, ALL_REPLIES, SECTION, command_topic
from .protocol import Command, Refused, Reply, check_secret

OK, FAILED, UNREACHABLE = "ok", "failed", "unreachable"


class ClusterError(RuntimeError):
    """The command cannot be sent at all (not the leader, no secret, no broker)."""


@dataclass
class UnitResult:
    unit: str
    status: str  # ok | failed | unreachable
    detail: str
    data: dict[str, Any] = field(default_factory=dict)
    elapsed_s: float | None = None
    clock_offset_s: float | None = None  # unit clock - leader clock, at the middle of the round trip

    @property
    def ok(self) -> bool:
        return self.status == OK


class ClusterClient:
    """Connects once; ``send`` may be called many times. Use as a context manager."""

    def __init__(self, address: BrokerAddress | None = None, *, require_leader: bool = True):
        config = get_config()
        self.leader = unit_name(config)
        if require_leader and not is_leader(config):
            raise ClusterError(f"commands to the cluster are sent from the leader "
                               f"({config.get(SECTION, 'leader_name')}); this unit is {self.leader}")
        self.secret = config.get(SECTION, "secret") or ""
        try:
            check_secret(self.secret)
        except Refused as e:
            raise ClusterError(str(e).replace("every command is refused", "commands cannot be signed")) from None
        self.agent_states: dict[str, str] = {}
        self._replies: dict[str, tuple[Reply, float]] = {}  # with the time it arrived
        self._changed = threading.Condition()
        self.client = MQTTClient(f"pios-{self.leader}-{os.getpid()}-{uuid.uuid4().hex[:6]}", address=address)
        self.client.subscribe(ALL_REPLIES, self._on_reply)
        self.client.subscribe(ALL_AGENT_STATES, self._on_agent_state)
        try:
            self.client.connect(5.0)
        except Exception as e:
            raise ClusterError(str(e)) from None
        self.client.sync()  # every retained agent state has arrived

    def __enter__(self) -> ClusterClient:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    def close(self) -> None:
        self.client.disconnect(1.0)

    def _on_reply(self, message: Message) -> None:
        try:
            reply = Reply.parse(bytes(message.payload), self.secret)
        except Refused:
            return
        arrived = time.time()
        with self._changed:
            self._replies[f"{reply.id}/{message.topic.split('/')[1]}"] = (reply, arrived)
            self._changed.notify_all()

    def _on_agent_state(self, message: Message) -> None:
        with self._changed:
            self.agent_states[message.topic.split("/")[1]] = message.payload.decode("utf-8", errors="replace")
            self._changed.notify_all()

    def send(self, units: Iterable[str], action: str, args: dict[str, Any] | Callable[[str], dict[str, Any]],
             timeout_s: float = 30.0) -> list[UnitResult]:
        """Send ``action`` to every unit (``args`` may be per unit) and wait for the answers."""
        units = list(dict.fromkeys(units))
        sent: dict[str, tuple[Command, float]] = {}
        for unit in units:
            command = Command(unit, action, args(unit) if callable(args) else args, self.leader, timeout_s)
            sent[unit] = (command, time.time())
            self.client.publish(command_topic(unit), command.seal(self.secret), qos=1)
        deadline = time.monotonic() + timeout_s
        with self._changed:
            while True:
                waiting = [u for u in units if self._key(sent[u][0]) not in self._replies
                           and self.agent_states.get(u) in (INIT, READY)]
                remaining = deadline - time.monotonic()
                if not waiting or remaining <= 0:
                    break
                self._changed.wait(min(remaining, 0.5))
            return [self._result(u, *sent[u]) for u in units]

    @staticmethod
    def _key(command: Command) -> str:
        return f"{command.id}/{command.unit}"

    def _result(self, unit: str, command: Command, sent_at: float) -> UnitResult:
        answer = self._replies.pop(self._key(command), None)
        if answer is None:
            state = self.agent_states.get(unit)
            if state in (INIT, READY):
                detail = f"no answer within {command.timeout_s:g} s"
            elif state:
                detail = f"its agent is {state}"
            else:
                detail = "no agent has ever connected from this unit"
            return UnitResult(unit, UNREACHABLE, detail)
        reply, received = answer
        timely = reply.action == "status" and reply.clock == reply.clock  # other actions answer when done
        offset = reply.clock - (sent_at + received) / 2 if timely else None
        return UnitResult(unit, OK if reply.ok else FAILED, reply.detail, reply.data, received - sent_at, offset)


def send(units: Iterable[str], action: str, args: dict[str, Any] | Callable[[str], dict[str, Any]],
         timeout_s: float = 30.0) -> list[UnitResult]:
    """The ``cluster.send`` service: send ``action`` from this leader to every unit's agent, wait for the answers.

    One connection, closed after; ``args`` may be per unit (a function of the unit's name); the
    actions and their arguments are the agent's (docs/cluster.md). One :class:`UnitResult` per unit,
    in order (``ok``, ``status`` ok|failed|unreachable, ``detail``, ``data``). Raises
    :class:`ClusterError` (a ``RuntimeError``) when nothing can be sent (not the leader, no secret,
    no broker).
    """
    with ClusterClient() as cluster:
        return cluster.send(units, action, args, timeout_s)


def summary(results: list[UnitResult]) -> str:
    counts = {s: sum(r.status == s for r in results) for s in (OK, FAILED, UNREACHABLE)}
    units = f"{len(results)} unit" + ("" if len(results) == 1 else "s")
    return f"{counts[OK]} ok, {counts[FAILED]} failed, {counts[UNREACHABLE]} unreachable ({units})"
