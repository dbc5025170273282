"""The UI's one MQTT subscription: it keeps the cluster's current state and pushes changes to browsers.

Browsers never talk to the broker. Every message on ``pioreactor/#`` is turned into a small
event and queued for the Socket.IO room of its experiment; a flusher sends each room's queue as
one ``batch`` event every ``[ui] flush_interval_ms`` (default 100 ms), so a busy cluster costs a
few emits per second per browser rather than one per message. Retained settings, job states and
``$settings`` declarations are kept in :class:`ClusterState`, which answers snapshots for a
page that (re)joins and the declarations against which every change is validated.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from collections import defaultdict
from datetime import datetime
from typing import Any

from pioreactor_kernel import names
from pioreactor_kernel.mqtt import BrokerAddress, MQTTClient

from .names import DOSING_EVENTS, ROOM_ALL, Series, experiment_room

logger = logging.getLogger("pioreactor.ui.live")
MAX_QUEUE = 20_000  # per room between two flushes; beyond it the oldest events are dropped and counted


def epoch_s(timestamp: Any) -> float | None:
    """Seconds since 1970 for an ISO-8601 timestamp; None when it is not one."""
    if not isinstance(timestamp, str) or len(timestamp) > 40:
        return None
    try:
        dt = datetime.fromisoformat(timestamp.replace("Z", "+00:00"))
    except ValueError:
        return None
    if dt.tzinfo is None:
        from datetime import UTC

        dt = dt.replace(tzinfo=UTC)
    return dt.timestamp()


def finite(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        try:
            value = float(value)
        except (TypeError, ValueError):
            return None
    value = float(value)
    return value if value == value and value not in (float("inf"), float("-inf")) else None


class ClusterState:
    """Retained settings and states by experiment -> unit -> job -> setting (strings as published)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.jobs: dict[str, dict[str, dict[str, dict[str, str]]]] = defaultdict(lambda: defaultdict(dict))
        self.last_seen: dict[str, float] = {}
        self.latest_experiment: str | None = None

    def update(self, experiment: str, unit: str, job: str, setting: str, payload: str) -> None:
        with self._lock:
            job_state = self.jobs[experiment][unit].setdefault(job, {})
            if payload == "":
                job_state.pop(setting, None)
            else:
                job_state[setting] = payload

    def seen(self, unit: str) -> None:
        self.last_seen[unit] = time.time()

    def snapshot(self, experiment: str) -> dict[str, dict[str, dict[str, str]]]:
        with self._lock:
            return {u: {j: dict(s) for j, s in jobs.items() if s} for u, jobs in self.jobs.get(experiment, {}).items()}

    def setting(self, experiment: str, unit: str, job: str, setting: str) -> str | None:
        with self._lock:
            return self.jobs.get(experiment, {}).get(unit, {}).get(job, {}).get(setting)

    def declarations(self, experiment: str, unit: str, job: str) -> list[dict[str, Any]] | None:
        raw = self.setting(experiment, unit, job, names.SETTINGS_SCHEMA)
        if not raw:
            return None
        try:
            value = json.loads(raw)
        except ValueError:
            return None
        return value if isinstance(value, list) else None

    def units(self) -> list[str]:
        with self._lock:
            found = {u for exp in self.jobs.values() for u in exp}
        return sorted(found | set(self.last_seen))


class LiveHub:
    """Subscribes once, keeps :class:`ClusterState`, batches events per experiment room."""

    def __init__(self, socketio: Any, series: list[Series], address: BrokerAddress | None = None,
                 flush_interval_s: float = 0.1, client_id: str | None = None) -> None:
        self.socketio = socketio
        self.state = ClusterState()
        self.flush_interval_s = flush_interval_s
        self._by_topic: dict[tuple[str, str], list[Series]] = defaultdict(list)
        for s in series:
            self._by_topic[(s.job, s.setting)].append(s)
        self._queues: dict[str, list[Any]] = defaultdict(list)
        self._qlock = threading.Lock()
        self._stop = threading.Event()
        self.dropped_events = 0
        self.messages = 0
        self.listeners: list[Any] = []  # callables(kind, experiment, unit, payload) for server-side observers
        self.client = MQTTClient(client_id, address=address)
        self.client.subscribe(["pioreactor/#"], self._on_message, qos=1)
        self._flusher = threading.Thread(target=self._flush_loop, name="ui-flush", daemon=True)

    def start(self, timeout_s: float = 10.0) -> LiveHub:
        self._flusher.start()
        self.client.connect(timeout_s)
        self.client.sync(timeout_s)
        return self

    def stop(self) -> None:
        self._stop.set()
        self.client.disconnect(0.5)

    # ------------------------------------------------------------------ intake
    def _on_message(self, message: Any) -> None:
        self.messages += 1
        topic = message.topic
        if topic == names.LATEST_EXPERIMENT_TOPIC:
            self._on_latest_experiment(bytes(message.payload))
            return
        t = names.parse_topic(topic)
        if t is None or t.job is None or t.unit in ("$sync", "latest_experiment") or t.is_set_request:
            return
        try:
            payload = bytes(message.payload).decode("utf-8")
        except UnicodeDecodeError:
            return
        if t.unit != names.BROADCAST:
            self.state.seen(t.unit)
        room = experiment_room(t.experiment)
        if t.job == "logs":
            self._on_log(room, t, payload)
        elif t.job == DOSING_EVENTS and not t.rest:
            self._on_dosing(room, t, payload)
        elif t.rest and len(t.rest) == 1:
            setting = t.rest[0]
            self.state.update(t.experiment, t.unit, t.job, setting, payload)
            if len(payload) <= 8192:
                self._queue(room, ["set", t.unit, t.job, setting, payload])
            for series in self._by_topic.get((t.job, setting), ()):
                self._on_point(room, series, t.unit, payload)

    def _on_latest_experiment(self, payload: bytes) -> None:
        text = payload.decode("utf-8", errors="replace").strip()
        if text.startswith("{"):
            try:
                text = str(json.loads(text).get("experiment") or "")
            except ValueError:
                text = ""
        self.state.latest_experiment = text or None
        self._queue(ROOM_ALL, ["experiment", text])

    def _on_log(self, room: str, t: Any, payload: str) -> None:
        try:
            record = json.loads(payload)
            if not isinstance(record, dict):
                return
        except ValueError:
            return
        event = ["log", t.unit, str(record.get("timestamp", ""))[:40], str(record.get("level", "INFO"))[:12].upper(),
                 str(record.get("task") or t.setting or "")[:80], str(record.get("message", ""))[:4000]]
        self._queue(room, event)
        for listener in self.listeners:
            listener("log", t.experiment, t.unit, event)

    def _on_dosing(self, room: str, t: Any, payload: str) -> None:
        try:
            record = json.loads(payload)
            ts = epoch_s(record.get("timestamp"))
            volume = finite(record.get("volume_change"))
        except (ValueError, AttributeError):
            return
        if ts is None or volume is None:
            return
        self._queue(room, ["dose", t.unit, ts, str(record.get("event", ""))[:40], volume])

    def _on_point(self, room: str, series: Series, unit: str, payload: str) -> None:
        if series.split == "channel":  # od_reading/ods: {"timestamp", "ods": {"1": {...}}}
            try:
                record = json.loads(payload)
                ts = epoch_s(record.get("timestamp"))
                for channel, reading in (record.get("ods") or {}).items():
                    value = finite(reading.get("od"))
                    if ts is not None and value is not None:
                        self._queue(room, ["pt", series.name, f"{unit}:{channel}", ts, value])
            except (ValueError, AttributeError):
                pass
            return
        if series.json_key is None:
            value, ts = finite(payload), time.time()
        else:
            try:
                record = json.loads(payload)
                value, ts = finite(record.get(series.json_key)), epoch_s(record.get("timestamp"))
            except (ValueError, AttributeError):
                return
        if value is not None and ts is not None:
            self._queue(room, ["pt", series.name, unit, ts, value])

    # ------------------------------------------------------------------ output
    def _queue(self, room: str, event: list[Any]) -> None:
        with self._qlock:
            queue = self._queues[room]
            queue.append(event)
            if len(queue) > MAX_QUEUE:
                del queue[: len(queue) - MAX_QUEUE]
                self.dropped_events += 1

    def _flush_loop(self) -> None:
        while not self._stop.wait(self.flush_interval_s):
            self.flush()

    def flush(self) -> None:
        with self._qlock:
            queues, self._queues = self._queues, defaultdict(list)
        now = time.time()
        for room, events in queues.items():
            if events:
                try:
                    self.socketio.emit("batch", {"now": now, "ev": events}, to=room)
                except Exception:  # noqa: BLE001 - a browser that went away must not stop the flusher
                    logger.exception("emitting to %s failed", room)
