"""Signed command and reply messages between the leader and the agents.

A message on the wire is an envelope ``{"v": 1, "body": "<JSON text>", "sig": "<hex>"}``: the
signature is HMAC-SHA256, keyed with ``[cluster] secret``, over a purpose prefix and the exact
body text (no re-serialisation, so no canonical-JSON pitfalls; the prefix keeps a reply from
being replayed as a command). A command's body::

    {"id": "<hex>", "leader": "<leader unit>", "unit": "<target unit>", "action": "run",
     "args": {...}, "issued_at": "<ISO-8601 UTC>", "timeout_s": 30}

An agent accepts it only when: the signature verifies with its own secret; ``leader`` is its
configured leader; ``unit`` is itself (a command for another unit cannot be redirected);
``issued_at`` is within ``[cluster] command_max_age_s`` of its clock; and the id was not seen
before (replays). A reply's body: ``{"id", "unit", "action", "ok", "detail", "data",
"timestamp", "clock"}`` (``clock``: the unit's time.time() when it answered).
"""

from __future__ import annotations

import hashlib
import hmac
import json
import math
import threading
import time
import uuid
from collections import OrderedDict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pioreactor_kernel.timestamps import current_utc_timestamp, parse_timestamp

from .names import ACTIONS, MAX_COMMAND_BYTES, MIN_SECRET_CHARS

VERSION = 1
COMMAND_PURPOSE = b"pioreactor-cluster-command\n"
REPLY_PURPOSE = b"pioreactor-cluster-reply\n"


class Refused(ValueError):
    """A message that is not accepted; the text says why (it goes back to the sender)."""


def check_secret(secret: str | None) -> bytes:
    """The HMAC key, or :class:`Refused` when no usable secret is configured."""
    if not secret:
        raise Refused("no [cluster] secret is configured on this unit: every command is refused "
                      "(set the cluster's secret: `pio config set cluster.secret <secret>`)")
    if len(secret) < MIN_SECRET_CHARS:
        raise Refused(f"[cluster] secret is too short ({len(secret)} characters; at least {MIN_SECRET_CHARS})")
    return secret.encode("utf-8")


def seal(body: dict[str, Any], secret: str, purpose: bytes) -> str:
    text = json.dumps(body, separators=(",", ":"), allow_nan=False)
    sig = hmac.new(check_secret(secret), purpose + text.encode("utf-8"), hashlib.sha256).hexdigest()
    return json.dumps({"v": VERSION, "body": text, "sig": sig})


def open_envelope(payload: bytes, secret: str | None, purpose: bytes) -> tuple[dict[str, Any], bool]:
    """``(body, verified)``; raises :class:`Refused` when the payload is not an envelope at all."""
    if len(payload) > MAX_COMMAND_BYTES:
        raise Refused(f"message of {len(payload)} bytes is over the limit of {MAX_COMMAND_BYTES}")
    try:
        envelope = json.loads(payload)
    except (UnicodeDecodeError, ValueError):
        raise Refused("not a JSON message") from None
    if not isinstance(envelope, dict) or not isinstance(envelope.get("body"), str):
        raise Refused('not a signed message: expected {"v": 1, "body": "...", "sig": "..."}')
    if envelope.get("v") != VERSION:
        raise Refused(f"unknown message version {envelope.get('v')!r} (this unit speaks {VERSION})")
    try:
        body = json.loads(envelope["body"])
    except ValueError:
        raise Refused("the body is not JSON") from None
    if not isinstance(body, dict):
        raise Refused("the body is not a JSON object")
    sig = envelope.get("sig")
    verified = False
    if isinstance(sig, str) and secret and len(secret) >= MIN_SECRET_CHARS:
        expected = hmac.new(secret.encode("utf-8"), purpose + envelope["body"].encode("utf-8"), hashlib.sha256)
        verified = hmac.compare_digest(expected.hexdigest(), sig)
    return body, verified


@dataclass
class Command:
    unit: str
    action: str
    args: dict[str, Any]
    leader: str
    timeout_s: float = 30.0
    id: str = field(default_factory=lambda: uuid.uuid4().hex)
    issued_at: str = field(default_factory=current_utc_timestamp)

    def body(self) -> dict[str, Any]:
        return {"id": self.id, "leader": self.leader, "unit": self.unit, "action": self.action, "args": self.args,
                "issued_at": self.issued_at, "timeout_s": self.timeout_s}

    def seal(self, secret: str) -> str:
        return seal(self.body(), secret, COMMAND_PURPOSE)


class CommandVerifier:
    """The agent's gate: everything a command must satisfy before anything is done with it."""

    def __init__(self, unit: str, leader: str, secret: str | None, max_age_s: float = 120.0,
                 seen_file: Path | None = None):
        self.unit, self.leader, self.secret, self.max_age_s = unit, leader, secret, max_age_s
        self._seen: OrderedDict[str, float] = OrderedDict()  # command id -> when accepted (time.time())
        self._lock = threading.Lock()
        self._seen_file = seen_file  # kept across restarts: a restarted agent still knows what it ran
        if seen_file is not None:
            try:
                stored = json.loads(seen_file.read_text())
                self._seen.update(sorted(((str(k), float(v)) for k, v in stored.items()), key=lambda kv: kv[1]))
            except (OSError, ValueError, TypeError, AttributeError):
                pass

    def verify(self, payload: bytes) -> Command:
        """The accepted command; raises :class:`Refused` naming the first rule it breaks."""
        check_secret(self.secret)
        body, verified = open_envelope(payload, self.secret, COMMAND_PURPOSE)
        if not verified:
            raise Refused("not from the leader: the signature does not verify with this unit's [cluster] secret")
        if body.get("leader") != self.leader:
            raise Refused(f"not from the leader: it claims to come from {body.get('leader')!r}, "
                          f"this unit's leader is {self.leader!r} ([cluster] leader_name)")
        if body.get("unit") != self.unit:
            raise Refused(f"addressed to unit {body.get('unit')!r}, not to {self.unit!r}")
        command_id, action, args = body.get("id"), body.get("action"), body.get("args")
        if not isinstance(command_id, str) or not 8 <= len(command_id) <= 64:
            raise Refused("the command has no valid id")
        if action not in ACTIONS:
            raise Refused(f"unknown action {action!r} (one of {', '.join(ACTIONS)})")
        if not isinstance(args, dict):
            raise Refused("args must be a JSON object")
        timeout_s = body.get("timeout_s", 30.0)
        if not isinstance(timeout_s, int | float) or isinstance(timeout_s, bool) or not 0 < timeout_s <= 3600:
            raise Refused(f"timeout_s {timeout_s!r} is not a number of seconds in (0, 3600]")
        issued_at = body.get("issued_at")
        try:
            age_s = time.time() - parse_timestamp(str(issued_at)).timestamp()
        except ValueError:
            raise Refused(f"issued_at {issued_at!r} is not an ISO-8601 timestamp") from None
        if not math.isfinite(age_s) or abs(age_s) > self.max_age_s:
            raise Refused(f"issued at {issued_at}, {age_s:+.0f} s from this unit's clock (limit "
                          f"{self.max_age_s:g} s): a replay, or the clocks differ (sync them, e.g. chrony)")
        self._remember(command_id)
        return Command(self.unit, action, args, self.leader, float(timeout_s), command_id, str(issued_at))

    def _remember(self, command_id: str) -> None:
        now = time.time()
        with self._lock:
            while self._seen and next(iter(self._seen.values())) < now - 2 * self.max_age_s:
                self._seen.popitem(last=False)
            if command_id in self._seen:
                raise Refused(f"command {command_id} was already received: a replay")
            self._seen[command_id] = now
            if self._seen_file is not None:
                try:
                    tmp = self._seen_file.with_suffix(".tmp")
                    tmp.write_text(json.dumps(self._seen))
                    tmp.replace(self._seen_file)
                except OSError:
                    pass  # a read-only disk: replays are still refused until the agent restarts


@dataclass
class Reply:
    id: str
    unit: str
    action: str
    ok: bool
    detail: str = ""
    data: dict[str, Any] = field(default_factory=dict)
    timestamp: str = field(default_factory=current_utc_timestamp)
    clock: float = field(default_factory=time.time)
    verified: bool = True

    def body(self) -> dict[str, Any]:
        return {"id": self.id, "unit": self.unit, "action": self.action, "ok": self.ok, "detail": self.detail,
                "data": self.data, "timestamp": self.timestamp, "clock": self.clock}

    def seal(self, secret: str | None) -> str:
        """Signed when this unit has a usable secret; a refusal can go back unsigned."""
        try:
            return seal(self.body(), secret or "", REPLY_PURPOSE)
        except Refused:
            return json.dumps({"v": VERSION, "body": json.dumps(self.body(), allow_nan=False), "sig": ""})

    @classmethod
    def parse(cls, payload: bytes, secret: str | None) -> Reply:
        """Raises :class:`Refused` for garbage. An unverified "ok" is turned into a failure:
        a forged success must not hide a unit that did nothing; a failure can only alarm."""
        body, verified = open_envelope(payload, secret, REPLY_PURPOSE)
        try:
            reply = cls(id=str(body["id"]), unit=str(body["unit"]), action=str(body.get("action", "")),
                        ok=body["ok"] is True, detail=str(body.get("detail", "")),
                        data=body.get("data") if isinstance(body.get("data"), dict) else {},
                        timestamp=str(body.get("timestamp", "")), clock=float(body.get("clock", math.nan)),
                        verified=verified)
        except (KeyError, TypeError, ValueError) as e:
            raise Refused(f"malformed reply: {e}") from None
        if not verified:
            reply.detail = (f"the reply is not signed with the leader's [cluster] secret ({reply.detail})"
                            if reply.ok else f"{reply.detail} (unverified reply)")
            reply.ok = False
        return reply
