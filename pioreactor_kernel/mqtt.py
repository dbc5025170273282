"""The one MQTT client helper every job, action and tool uses (paho-mqtt 2.x underneath).

What it adds to paho:

- connects in the background and reconnects forever with capped exponential back-off;
- remembers every subscription and restores all of them on *every* reconnect; until the broker
  has granted them all the client is ``deaf`` and ``on_ready`` callbacks are not run, and a
  refused subscription is logged as an error and retried (never swallowed);
- QoS 1 publishes made while the broker is away are queued (bounded by ``[mqtt]
  max_offline_messages``) and delivered when it returns; anything dropped is counted and logged;
- a callback that raises is logged and never kills the network thread;
- a ``sync()`` barrier: returns once everything the broker had queued for us (e.g. retained
  messages of a fresh subscription) has been delivered;
- no 40 ms stalls from Nagle's algorithm and delayed ACKs: TCP_NODELAY on its socket, and
  TCP_QUICKACK while it waits for an answer of the broker.
"""

# No ``from __future__ import annotations`` here: with it, NamedTuple compiles every field's
# annotation string when the class is defined (~0.2 ms a field, at every job's start-up).

import contextlib
import logging
import os
import socket
import threading
import time
from collections.abc import Callable, Iterable
from typing import Any, NamedTuple

from ._lazy import defer_startup_imports

defer_startup_imports()  # ssl, urllib, uuid, platform... that paho imports at its top
import paho.mqtt.client as paho  # noqa: E402
from paho.mqtt.enums import CallbackAPIVersion  # noqa: E402
from paho.mqtt.reasoncodes import ReasonCode  # noqa: E402

logger = logging.getLogger("pioreactor.mqtt")

Message = paho.MQTTMessage
Callback = Callable[[Message], None]


class BrokerUnavailable(ConnectionError):
    pass


class Will(NamedTuple):
    topic: str
    payload: str
    qos: int = 1
    retain: bool = True


class BrokerAddress(NamedTuple):
    host: str = "localhost"
    port: int = 1883
    keepalive_s: int = 2
    username: str | None = None
    password: str | None = None
    max_offline_messages: int = 20_000

    @classmethod
    def from_config(cls, config: Any = None) -> "BrokerAddress":
        if config is None:
            from .config import get_config

            config = get_config()
        return cls(
            host=config.get("mqtt", "host", "localhost") or "localhost",
            port=config.getint("mqtt", "port", 1883) or 1883,
            keepalive_s=config.getint("mqtt", "keepalive_s", 2) or 2,
            username=config.get("mqtt", "username") or None,
            password=config.get("mqtt", "password") or None,
            max_offline_messages=config.getint("mqtt", "max_offline_messages", 20_000) or 20_000,
        )


class _PahoClient(paho.Client):
    def _create_socket_connection(self) -> socket.socket:
        """paho's connection, with an ASCII host name given as bytes, and TCP_NODELAY.

        paho passes the name as text to ``getaddrinfo``, which then encodes it with the ``idna``
        codec: loading that codec (with ``stringprep`` and ``unicodedata``) is ~2.5 ms of a job's
        start. And paho leaves Nagle's algorithm on: a request sent while the broker still
        delays its TCP ACK of our previous packet (a PUBACK, say) would wait up to 40 ms.
        """
        host = self._host
        if host.isascii() and not self._get_proxy():
            sock = socket.create_connection((host.encode("ascii"), self._port),  # type: ignore[arg-type]
                                            timeout=self._connect_timeout,
                                            source_address=(self._bind_address, self._bind_port))
        else:
            sock = super()._create_socket_connection()
        with contextlib.suppress(OSError, AttributeError):
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        return sock


class MQTTClient:
    """A resilient client. Create, ``subscribe`` what you need, then ``connect()``."""

    def __init__(
        self,
        client_id: str | None = None,
        *,
        address: BrokerAddress | None = None,
        clean_session: bool = True,
        will: Will | None = None,
        max_inflight: int = 100,
    ) -> None:
        self.address = address or BrokerAddress.from_config()
        self.client_id = client_id or f"pio-{os.getpid()}-{os.urandom(4).hex()}"
        self.clean_session = clean_session
        self._client = _PahoClient(
            CallbackAPIVersion.VERSION2,
            client_id=self.client_id,
            clean_session=clean_session,
            protocol=paho.MQTTv311,
        )
        c = self._client
        c.suppress_exceptions = True
        c.max_inflight_messages_set(max_inflight)
        c.max_queued_messages_set(self.address.max_offline_messages)
        c.reconnect_delay_set(min_delay=1, max_delay=4)
        c._reconnect_min_delay = 0.05  # type: ignore[assignment]  # paho types it int; its back-off takes floats
        if self.address.username:
            c.username_pw_set(self.address.username, self.address.password)
        if will is not None:
            c.will_set(will.topic, will.payload, qos=will.qos, retain=will.retain)
        c.on_connect = self._on_connect
        c.on_disconnect = self._on_disconnect
        c.on_subscribe = self._on_subscribe
        c.on_message = self._on_unrouted_message

        self._lock = threading.RLock()
        self._subscriptions: dict[str, tuple[int, Callback]] = {}
        self._pending_subacks: dict[int, list[str]] = {}
        self._granted: set[str] = set()
        self._refused: dict[str, str] = {}
        self._ready = threading.Event()  # connected and every subscription granted
        self._connected_once = threading.Event()
        self._closing = False
        self._started = False
        self.dropped_messages = 0
        self._last_info: paho.MQTTMessageInfo | None = None
        self._last_drop_log = 0.0
        self.reconnects = 0
        self.on_ready: list[Callable[[], None]] = []  # after each (re)connect, once not deaf
        self.on_lost: list[Callable[[], None]] = []

    # ------------------------------------------------------------------ connection
    def connect(self, timeout_s: float = 10.0) -> "MQTTClient":
        """Start the network thread and wait until connected with every subscription granted."""
        if not self._started:
            self._started = True
            self._client.connect_async(self.address.host, self.address.port, keepalive=self.address.keepalive_s)
            self._client.loop_start()
        if not self._await(self._ready, timeout_s):
            if not self._connected_once.is_set():
                self.disconnect()
                raise BrokerUnavailable(
                    f"no MQTT broker answered at {self.address.host}:{self.address.port} within {timeout_s:g} s; "
                    "is it running? (`pio broker up` starts one; [mqtt] host/port in config)"
                )
            raise BrokerUnavailable(f"connected to {self.address.host}:{self.address.port} but the broker refused "
                                    f"subscriptions: {self._refused}")
        return self

    @property
    def deaf(self) -> bool:
        return not self._ready.is_set()

    @property
    def connected(self) -> bool:
        return self._client.is_connected()

    def wait_until_ready(self, timeout_s: float | None = None) -> bool:
        return self._ready.wait(timeout_s)

    def disconnect(self, timeout_s: float = 2.0) -> None:
        """Flush queued QoS>0 messages (up to ``timeout_s``), then close cleanly (no last will)."""
        self._closing = True
        if self._started and self._client.is_connected():
            deadline = time.monotonic() + timeout_s
            last = self._last_info
            if last is not None:
                # woken by the broker's acknowledgement, not by polling (QoS 1 acks come in order);
                # paho raises for a message first queued while offline: the loop below covers it.
                # The broker keeps Nagle on (broker.py): its last PUBACKs can wait for our TCP ACK
                # of the one before, which Linux delays up to 40 ms; TCP_QUICKACK sends it now.
                with contextlib.suppress(RuntimeError, ValueError):
                    while not last.is_published() and time.monotonic() < deadline:
                        self._quickack()
                        last.wait_for_publish(0.002)
            while self._client._out_messages and time.monotonic() < deadline:
                time.sleep(0.001)
        self._client.disconnect()
        if self._started:
            self._client.loop_stop()
        self._ready.clear()

    def _await(self, event: threading.Event, timeout_s: float) -> bool:
        """Wait for an answer of the broker (``event`` set by the network thread); False on timeout.

        The broker keeps Nagle on (broker.py), so its answer (a CONNACK, SUBACK, or a message
        after its PUBACK) can wait for our TCP ACK of its previous segment, which Linux delays up
        to 40 ms: TCP_QUICKACK, repeated while waiting, sends that ACK at once.
        """
        deadline = time.monotonic() + timeout_s
        step_s = 0.001
        self._quickack()
        while not event.wait(step_s):
            remaining_s = deadline - time.monotonic()
            if remaining_s <= 0:
                return False
            self._quickack()
            step_s = min(step_s * 2, 0.1, remaining_s)
        return True

    def _quickack(self) -> None:
        option = getattr(socket, "TCP_QUICKACK", None)
        setsockopt = getattr(self._client.socket(), "setsockopt", None)  # a plain socket (paho: "SocketLike")
        if setsockopt is not None and option is not None:
            with contextlib.suppress(OSError):
                setsockopt(socket.IPPROTO_TCP, option, 1)

    def _on_connect(self, client: paho.Client, userdata: Any, flags: Any, reason: ReasonCode, props: Any) -> None:
        if reason.is_failure:
            logger.error("MQTT broker %s:%s refused the connection: %s", self.address.host, self.address.port, reason)
            return
        if self._connected_once.is_set():
            self.reconnects += 1
            logger.info("reconnected to MQTT broker %s:%s", self.address.host, self.address.port)
        self._connected_once.set()
        with self._lock:
            self._granted.clear()
            self._pending_subacks.clear()
            filters = list(self._subscriptions)
        if filters:
            self._send_subscribe(filters)
        else:
            self._become_ready()

    def _on_disconnect(self, client: paho.Client, userdata: Any, flags: Any, reason: ReasonCode, props: Any) -> None:
        was_ready = self._ready.is_set()
        self._ready.clear()
        if not self._closing:
            logger.warning("lost the MQTT broker %s:%s (%s); reconnecting", self.address.host, self.address.port, reason)
            if was_ready:
                self._run_callbacks(self.on_lost)

    def _become_ready(self) -> None:
        if not self._ready.is_set():
            self._ready.set()
            self._run_callbacks(self.on_ready)

    # ------------------------------------------------------------------ subscriptions
    def subscribe(self, topic_filter: str | Iterable[str], callback: Callback, qos: int = 1,
                  timeout_s: float = 5.0) -> None:
        """Route messages matching ``topic_filter`` to ``callback`` (in the network thread).

        Called while connected, it waits for the broker's grant and raises on refusal.
        """
        filters = [topic_filter] if isinstance(topic_filter, str) else list(topic_filter)
        with self._lock:
            for f in filters:
                self._subscriptions[f] = (qos, callback)
                self._client.message_callback_add(f, self._guarded(callback, f))
        if self._client.is_connected():
            self._ready.clear()
            self._send_subscribe(filters)
            if not self._await(self._ready, timeout_s):
                raise BrokerUnavailable(f"subscription to {filters} not granted: {self._refused or 'no answer'}")

    def unsubscribe(self, topic_filter: str) -> None:
        with self._lock:
            self._subscriptions.pop(topic_filter, None)
            self._granted.discard(topic_filter)
            self._client.message_callback_remove(topic_filter)
        if self._client.is_connected():
            self._client.unsubscribe(topic_filter)

    def _send_subscribe(self, filters: list[str]) -> None:
        with self._lock:
            pairs = [(f, self._subscriptions[f][0]) for f in filters if f in self._subscriptions]
            if not pairs:
                return
            rc, mid = self._client.subscribe(pairs)
            if rc == paho.MQTT_ERR_SUCCESS and mid is not None:
                self._pending_subacks[mid] = [f for f, _ in pairs]
        if rc != paho.MQTT_ERR_SUCCESS:
            logger.error("could not send SUBSCRIBE for %s: %s; will retry on reconnect", filters, paho.error_string(rc))

    def _on_subscribe(self, client: paho.Client, userdata: Any, mid: int, reasons: list[ReasonCode], props: Any) -> None:
        with self._lock:
            filters = self._pending_subacks.pop(mid, [])
            refused = []
            for f, reason in zip(filters, reasons, strict=False):
                if reason.is_failure:
                    refused.append(f)
                    self._refused[f] = str(reason)
                else:
                    self._granted.add(f)
                    self._refused.pop(f, None)
            complete = not self._pending_subacks and self._granted >= set(self._subscriptions)
        if refused:
            logger.error("the MQTT broker refused subscriptions %s; retrying in 1 s (the client stays deaf)", refused)
            t = threading.Timer(1.0, self._retry_subscribe, args=(refused,))
            t.daemon = True
            t.start()
        elif complete:
            self._become_ready()

    def _retry_subscribe(self, filters: list[str]) -> None:
        if self._client.is_connected():
            self._send_subscribe(filters)

    def _guarded(self, callback: Callback, topic_filter: str) -> Callable[[paho.Client, Any, Message], None]:
        def call(client: paho.Client, userdata: Any, message: Message) -> None:
            try:
                callback(message)
            except Exception:
                logger.exception("callback for %s failed on %s", topic_filter, message.topic)

        return call

    def _on_unrouted_message(self, client: paho.Client, userdata: Any, message: Message) -> None:
        pass  # e.g. a persistent session's queue for a filter we no longer route

    # ------------------------------------------------------------------ publishing
    def publish(self, topic: str, payload: str | bytes | bytearray | float | None, qos: int = 1,
                retain: bool = False) -> paho.MQTTMessageInfo:
        info = self._client.publish(topic, payload, qos=qos, retain=retain)
        if qos > 0:
            self._last_info = info
        if info.rc == paho.MQTT_ERR_QUEUE_SIZE:
            self.dropped_messages += 1
            now = time.monotonic()
            if now - self._last_drop_log > 10:
                self._last_drop_log = now
                logger.error("offline queue full (%d messages): dropped %d message(s) so far, latest to %s",
                             self.address.max_offline_messages, self.dropped_messages, topic)
        return info

    def queued_messages(self) -> int:
        return len(self._client._out_messages)

    def sync(self, timeout_s: float = 5.0) -> bool:
        """Barrier: once it returns True, every message the broker queued for us before has arrived.

        Publishes to a private topic we subscribe to; the broker handles a client's packets in
        order, so the echo comes after retained messages of earlier subscriptions.
        """
        echo = f"pio-sync/{self.client_id}"  # outside pioreactor/#: not part of the event log
        arrived = threading.Event()
        token = os.urandom(16).hex()

        def on_echo(message: Message) -> None:
            if message.payload.decode(errors="replace") == token:
                arrived.set()

        if echo not in self._subscriptions:
            self.subscribe(echo, on_echo, qos=1, timeout_s=timeout_s)
        else:
            self._client.message_callback_add(echo, self._guarded(on_echo, echo))
        self.publish(echo, token, qos=1)
        return self._await(arrived, timeout_s)

    def _run_callbacks(self, callbacks: list[Callable[[], None]]) -> None:
        for cb in list(callbacks):
            try:
                cb()
            except Exception:
                logger.exception("MQTT %s callback failed", getattr(cb, "__name__", cb))


def retained_value(client: MQTTClient, topic: str, timeout_s: float = 2.0) -> bytes | None:
    """The retained payload at ``topic`` (None if nothing is retained there)."""
    box: list[bytes] = []

    def keep(message: Message) -> None:
        if message.retain or not box:
            box.append(bytes(message.payload))

    client.subscribe(topic, keep, qos=1, timeout_s=timeout_s)
    client.sync(timeout_s)
    client.unsubscribe(topic)
    return box[0] if box and box[0] else None


def publish_once(topic: str, payload: str, *, retain: bool = False, qos: int = 1,
                 address: BrokerAddress | None = None, timeout_s: float = 5.0) -> None:
    """Connect, publish one message, wait for the broker's acknowledgement, disconnect."""
    client = MQTTClient(address=address).connect(timeout_s)
    try:
        info = client.publish(topic, payload, qos=qos, retain=retain)
        info.wait_for_publish(timeout_s)
    finally:
        client.disconnect()
