"""A minimal MQTT 5 subscriber with a persistent session: the writer's receiving end.

Why not paho (which every other part of the stack uses): paho's loop reads one packet per
``select()`` and wakes for every PUBACK it sends, which caps a QoS 1 subscriber at about 6,500
messages/s on a small machine; and MQTT 3.1.1 leaves the number of unacknowledged messages to
the broker's ``max_inflight_messages``. This client reads the socket in large chunks, parses
every complete packet of a chunk into an *inbox* (payloads grouped by topic, in arrival order
within a topic, and the packet ids to acknowledge, in arrival order), and acknowledges only when
told to (after the database commit), in order, many PUBACKs per ``send``. MQTT 5 lets it ask for
a large *receive maximum* and a session that outlives the connection, so whatever arrives while
the writer is down, busy or killed is redelivered.

Only what the writer needs: CONNECT (clean start off, session expiry, receive maximum,
maximum packet size), SUBSCRIBE at QoS 1 (retained messages only for a new subscription),
PUBLISH in, PUBACK out, keep-alive pings, DISCONNECT.
"""

from __future__ import annotations

import contextlib
import select
import socket
import struct
import threading
import time

from pioreactor_kernel.mqtt import BrokerAddress
from pioreactor_kernel.retained import mqtt_packet, mqtt_string, varint


class ConnectionLost(ConnectionError):
    pass


Inbox = dict[bytes, list[bytes]]
"""topic -> payloads, in arrival order within the topic (the order of the topics does not matter)."""


_PUBACK = b"\x40\x02"  # PUBACK, remaining length 2: the packet id follows (reason code 0 omitted)


class PersistentSession:
    RECV_BYTES = 1 << 20

    def __init__(
        self,
        address: BrokerAddress,
        client_id: str,
        filters: list[str],
        *,
        receive_maximum: int = 10_000,
        session_expiry_s: int = 14 * 86400,
        max_packet_bytes: int = 16 << 20,
    ) -> None:
        self.address, self.client_id, self.filters = address, client_id, filters
        self.receive_maximum, self.session_expiry_s, self.max_packet_bytes = (
            receive_maximum,
            session_expiry_s,
            max_packet_bytes,
        )
        self._sock: socket.socket | None = None
        self._buf = b""
        self._inbox: Inbox = {}
        self._packet_ids: list[bytes] = []  # of the QoS 1 messages in the inbox, in arrival order
        self._inbox_count = 0
        self._last_sent = self._last_received = 0.0
        self._ping_outstanding = False
        self._send_lock = threading.Lock()
        self.session_present = False
        self.generation = 0  # counts connections: acknowledgements belong to the connection they came on

    # ------------------------------------------------------------------ connection
    def connect(self, timeout_s: float = 5.0) -> bool:
        """Connect, resume the session, (re)subscribe; returns whether the broker had kept our session."""
        self.close(send_disconnect=False)
        a = self.address
        sock = socket.create_connection((a.host, a.port), timeout=timeout_s)
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4 << 20)
        self._sock, self._buf = sock, b""
        self._inbox, self._packet_ids, self._inbox_count = (
            {},
            [],
            0,
        )  # unacknowledged: the broker resends them
        self.generation += 1
        props = (
            b"\x11"
            + struct.pack("!I", self.session_expiry_s)
            + b"\x21"
            + struct.pack("!H", self.receive_maximum)
            + b"\x27"
            + struct.pack("!I", self.max_packet_bytes)
        )
        flags = (0x80 if a.username else 0) | (0x40 if a.username and a.password else 0)  # clean start: off
        body = (
            mqtt_string(b"MQTT")
            + bytes([5, flags])
            + struct.pack("!H", a.keepalive_s)
            + varint(len(props))
            + props
            + mqtt_string(self.client_id.encode())
        )
        if a.username:
            body += mqtt_string(a.username.encode())
            if a.password:
                body += mqtt_string(a.password.encode())
        self._send(mqtt_packet(0x10, body))
        deadline = time.monotonic() + timeout_s
        connack = self._await(0x20, deadline)
        if len(connack) < 2 or connack[1] >= 0x80:
            code = connack[1] if len(connack) > 1 else -1
            self.close(send_disconnect=False)
            raise ConnectionRefusedError(
                f"the MQTT broker {a.host}:{a.port} refused client {self.client_id!r} "
                f"(reason code 0x{code:02x})"
            )
        self.session_present = bool(connack[0] & 1)
        # QoS 1, retain handling 1: retained messages only when the subscription is new
        entries = b"".join(mqtt_string(f.encode()) + b"\x11" for f in self.filters)
        body = struct.pack("!H", 1) + b"\x00" + entries
        self._send(mqtt_packet(0x82, body))
        suback = self._await(0x90, deadline)
        refused = [f for f, code in zip(self.filters, suback[3:], strict=False) if code >= 0x80]
        if refused:
            self.close()
            raise ConnectionRefusedError(f"the MQTT broker refused the subscriptions {refused}")
        sock.settimeout(None)  # blocking: MSG_DONTWAIT reads do not wait; a dead peer is found by keep-alive
        return self.session_present

    @property
    def connected(self) -> bool:
        return self._sock is not None

    def abort(self) -> None:
        """From another thread: wake the reader with a dead connection (nothing is acknowledged)."""
        sock = self._sock
        if sock is not None:
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)

    def close(self, send_disconnect: bool = True) -> None:
        """Close the connection; the broker keeps the session (and queues for it) until it expires."""
        sock, self._sock = self._sock, None
        if sock is None:
            return
        try:
            if send_disconnect and self._send_lock.acquire(timeout=1):
                try:
                    sock.sendall(b"\xe0\x00")
                finally:
                    self._send_lock.release()
        except OSError:
            pass
        finally:
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)  # wakes a send blocked in the other thread
            sock.close()

    # ------------------------------------------------------------------ traffic
    def read(self, timeout_s: float) -> int:
        """Read what has arrived into the inbox (waits up to ``timeout_s`` for the first bytes).

        Returns how many messages this read added (0 when idle); :meth:`take` hands them over.
        """
        sock = self._require()
        self._keep_alive()
        # the socket stays blocking (a sendall must not stop halfway): peek without waiting, or wait in select()
        try:
            if timeout_s > 0 and not select.select([sock], [], [], timeout_s)[0]:
                return 0
            data = sock.recv(self.RECV_BYTES, socket.MSG_DONTWAIT)
        except BlockingIOError:
            return 0
        except OSError as e:
            self.close(send_disconnect=False)
            raise ConnectionLost(f"connection to the MQTT broker lost: {e}") from None
        if not data:
            self.close(send_disconnect=False)
            raise ConnectionLost("the MQTT broker closed the connection")
        self._last_received = time.monotonic()
        self._ping_outstanding = False
        before = self._inbox_count
        self._parse(data, None)
        return self._inbox_count - before

    @property
    def pending(self) -> int:
        """Messages in the inbox (read, not yet taken)."""
        return self._inbox_count

    def take(self) -> tuple[Inbox, list[bytes], int]:
        """Hand over the inbox: (payloads by topic, packet ids to acknowledge, connection generation)."""
        taken = self._inbox, self._packet_ids, self.generation
        self._inbox, self._packet_ids, self._inbox_count = {}, [], 0
        return taken

    def ack(self, packet_ids: list[bytes], generation: int) -> bool:
        """Send the PUBACKs of ``packet_ids`` (in the order the messages arrived: MQTT requires it) if the
        connection they came on is still up. A failure is left for the next read to notice.
        """
        sock = self._sock
        if not packet_ids or sock is None or generation != self.generation:
            return False
        try:
            with self._send_lock:
                sock.sendall(_PUBACK + _PUBACK.join(packet_ids))
        except OSError:
            return False
        self._last_sent = time.monotonic()
        return True

    def _keep_alive(self) -> None:
        now, keepalive = time.monotonic(), self.address.keepalive_s
        if now - self._last_received > 2 * keepalive + 1 and self._ping_outstanding:
            self.close(send_disconnect=False)
            raise ConnectionLost(f"the MQTT broker did not answer a ping within {2 * keepalive + 1} s")
        if now - self._last_sent > keepalive / 2:
            self._send(b"\xc0\x00")
            self._ping_outstanding = True

    def _send(self, data: bytes) -> None:
        sock = self._require()
        # the other thread may be stuck sending acknowledgements to a broker that stopped reading
        if not self._send_lock.acquire(timeout=2 * self.address.keepalive_s + 1):
            self.close(send_disconnect=False)
            raise ConnectionLost("the MQTT broker stopped reading what we send")
        try:
            sock.sendall(data)
        except OSError as e:
            self.close(send_disconnect=False)
            raise ConnectionLost(f"connection to the MQTT broker lost while sending: {e}") from None
        finally:
            self._send_lock.release()
        self._last_sent = time.monotonic()

    def _require(self) -> socket.socket:
        if self._sock is None:
            raise ConnectionLost("not connected")
        return self._sock

    def _await(self, packet_type: int, deadline: float) -> bytes:
        """Read until a packet of ``packet_type`` arrives; publishes meanwhile go to the inbox."""
        sock = self._require()
        found: list[bytes] = []
        while not found:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                self.close(send_disconnect=False)
                raise ConnectionLost(
                    f"no answer from the MQTT broker (waiting for packet type {packet_type >> 4})"
                )
            sock.settimeout(remaining)
            try:
                data = sock.recv(self.RECV_BYTES)
            except (TimeoutError, OSError) as e:
                self.close(send_disconnect=False)
                raise ConnectionLost(f"connection to the MQTT broker lost: {e}") from None
            if not data:
                self.close(send_disconnect=False)
                raise ConnectionLost("the MQTT broker closed the connection")
            self._last_received = time.monotonic()
            self._parse(data, (packet_type, found))
        return found[0]

    def _parse(self, data: bytes, wanted: tuple[int, list[bytes]] | None) -> None:
        """Every complete packet of the buffer: publishes into the inbox, ``wanted`` packets into its list."""
        buf = self._buf + data if self._buf else data
        inbox, packet_ids = self._inbox, self._packet_ids
        count = 0
        i, end = 0, len(buf)
        while i + 1 < end:
            header = buf[i]
            # remaining length: a varint of 1..4 bytes
            j, length, shift = i + 1, 0, 0
            while j < end:
                byte = buf[j]
                length |= (byte & 0x7F) << shift
                j += 1
                if byte < 0x80:
                    break
                shift += 7
            else:
                break
            if j + length > end:
                break
            if header & 0xF0 == 0x30:
                p = j + 2 + ((buf[j] << 8) | buf[j + 1])
                topic = buf[j + 2 : p]
                if header & 0x06:  # QoS 1: a packet id to acknowledge
                    packet_ids.append(buf[p : p + 2])
                    p += 2
                if buf[p] == 0:  # no properties (the broker adds none unless a publisher set some)
                    p += 1
                else:
                    plen, shift = 0, 0
                    while True:
                        byte = buf[p]
                        plen |= (byte & 0x7F) << shift
                        p += 1
                        if byte < 0x80:
                            break
                        shift += 7
                    p += plen
                payloads = inbox.get(topic)
                if payloads is None:
                    inbox[topic] = [buf[p : j + length]]
                else:
                    payloads.append(buf[p : j + length])
                count += 1
            elif wanted is not None and header & 0xF0 == wanted[0]:
                wanted[1].append(buf[j : j + length])
            elif header & 0xF0 == 0xE0:
                self.close(send_disconnect=False)
                reason = buf[j] if length else 0
                raise ConnectionLost(
                    f"the MQTT broker disconnected us (reason code 0x{reason:02x}); "
                    "another client with the same client id?"
                )
            i = j + length
        self._buf = buf[i:]
        self._inbox_count += count
