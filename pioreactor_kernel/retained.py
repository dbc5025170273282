"""Read one retained value from the broker in a single round trip, before a job's client exists.

A job needs the current experiment before it connects: its last will (``.../$state`` =
``lost``) names the experiment, and MQTT fixes the will at CONNECT. A full client for that one
lookup (its network thread, its wake-up socket pair, subscribe, a sync barrier, unsubscribe,
disconnect) cost ~5 ms of CPU at every job start; this costs a fraction of a millisecond.

It sends, in one write, CONNECT (clean session), SUBSCRIBE to the topic at QoS 0 and PINGREQ,
then reads CONNACK, SUBACK, the retained PUBLISH if there is one, and PINGRESP: the broker
answers a client's packets in order, and queues a subscription's retained messages right after
its SUBACK, so PINGRESP marks the end. MQTT 3.1.1 allows packets after CONNECT without waiting
for CONNACK. Then DISCONNECT (no will is set).
"""

from __future__ import annotations

import os
import socket
import struct
import time
from typing import Any

PINGRESP = 0xD0
PUBLISH = 0x30
CONNACK = 0x20
SUBACK = 0x90


class RetainedReadError(ConnectionError):
    pass


# The MQTT encodings our own small clients share (this lookup, the leader's writer, the ingest benchmark).
def mqtt_string(value: str | bytes) -> bytes:
    """A UTF-8 string as MQTT writes it: two bytes of length, then the bytes."""
    data = value.encode("utf-8") if isinstance(value, str) else value
    return struct.pack("!H", len(data)) + data


def varint(n: int) -> bytes:
    """MQTT's variable byte integer (remaining lengths, MQTT 5 property lengths)."""
    out = bytearray()
    while True:
        n, digit = divmod(n, 128)
        out.append(digit | (0x80 if n else 0))
        if not n:
            return bytes(out)


def mqtt_packet(first_byte: int, body: bytes) -> bytes:
    """A control packet: its first byte, the remaining length, the body."""
    return bytes([first_byte]) + varint(len(body)) + body


def requests(topic: str, username: str | None = None, password: str | None = None, keepalive_s: int = 10) -> bytes:
    """CONNECT, SUBSCRIBE (packet id 1, QoS 0) and PINGREQ, as bytes."""
    flags = 0x02 | (0x80 if username else 0) | (0x40 if username and password else 0)
    connect = mqtt_string("MQTT") + bytes([4, flags]) + struct.pack("!H", keepalive_s)
    connect += mqtt_string(f"pio-lookup-{os.getpid()}-{os.urandom(3).hex()}")
    if username:
        connect += mqtt_string(username) + (mqtt_string(password) if password else b"")
    subscribe = struct.pack("!H", 1) + mqtt_string(topic) + b"\x00"
    return mqtt_packet(0x10, connect) + mqtt_packet(0x82, subscribe) + b"\xc0\x00"


def parse(data: bytes) -> tuple[list[tuple[int, bytes]], bytes]:
    """The complete packets ``(first byte, body)`` at the start of ``data``, and what is left."""
    packets: list[tuple[int, bytes]] = []
    i = 0
    while i + 2 <= len(data):
        length, shift, j = 0, 0, i + 1
        while True:
            if j >= len(data):
                return packets, data[i:]
            byte = data[j]
            length |= (byte & 0x7F) << shift
            shift, j = shift + 7, j + 1
            if not byte & 0x80:
                break
        if j + length > len(data):
            break
        packets.append((data[i], data[j:j + length]))
        i = j + length
    return packets, data[i:]


def read_retained(address: Any, topic: str, timeout_s: float = 10.0) -> bytes | None:
    """The payload retained at ``topic`` (None if none), or RetainedReadError.

    ``address`` is a :class:`~pioreactor_kernel.mqtt.BrokerAddress`; connecting is retried
    until ``timeout_s`` (a broker starting up), as the full client does.
    """
    deadline = time.monotonic() + timeout_s
    host = address.host.encode("ascii") if address.host.isascii() else address.host  # no idna codec
    while True:
        try:
            sock = socket.create_connection((host, address.port), timeout=max(0.1, deadline - time.monotonic()))
            break
        except OSError as e:
            if time.monotonic() >= deadline:
                raise RetainedReadError(f"no MQTT broker answered at {address.host}:{address.port} within "
                                        f"{timeout_s:g} s ({e}); is it running? (`pio broker up` starts one; "
                                        "[mqtt] host/port in config)") from None
            time.sleep(0.05)
    try:
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        sock.sendall(requests(topic, address.username, address.password))
        value = _answer(sock, address, topic, deadline, timeout_s)
        sock.sendall(b"\xe0\x00")  # DISCONNECT
        return value
    finally:
        sock.close()


def _answer(sock: socket.socket, address: Any, topic: str, deadline: float, timeout_s: float) -> bytes | None:
    """Read up to PINGRESP: the payload of the last PUBLISH on the way, or None."""
    where = f"the MQTT broker at {address.host}:{address.port}"
    value: bytes | None = None
    buffer = b""
    while True:
        sock.settimeout(max(0.001, deadline - time.monotonic()))
        try:
            chunk = sock.recv(65536)
        except TimeoutError:
            raise RetainedReadError(f"{where} did not answer within {timeout_s:g} s") from None
        if not chunk:
            raise RetainedReadError(f"{where} closed the connection (refused the client?)")
        packets, buffer = parse(buffer + chunk)
        for first, body in packets:
            kind = first & 0xF0
            try:
                if kind == CONNACK and body[1] != 0:
                    raise RetainedReadError(f"{where} refused the connection (CONNACK code {body[1]})")
                if kind == SUBACK and body[2] == 0x80:
                    raise RetainedReadError(f"the MQTT broker refused a subscription to {topic}")
                if kind == PUBLISH:
                    (n,) = struct.unpack_from("!H", body)
                    value = body[2 + n + (2 if first & 0x06 else 0):] or None  # a packet id only if QoS > 0
            except (IndexError, struct.error):
                raise RetainedReadError(f"{where} sent a malformed packet") from None
            if kind == PINGRESP:
                return value
