"""retained.py against brokers that misbehave: every failure is a RetainedReadError that says what happened."""

from __future__ import annotations

import socket
import threading

import pytest

from pioreactor_kernel.mqtt import BrokerAddress
from pioreactor_kernel.retained import RetainedReadError, parse, read_retained


def _fake_broker(reply: bytes | None, close: bool = True) -> tuple[BrokerAddress, threading.Thread]:
    """A server that reads the client's requests, answers ``reply`` (or nothing) and closes (or not)."""
    server = socket.create_server(("127.0.0.1", 0))
    port = server.getsockname()[1]

    def serve() -> None:
        conn, _ = server.accept()
        conn.recv(4096)
        if reply is not None:
            conn.sendall(reply)
        if close:
            conn.close()
        else:
            threading.Event().wait(2)
            conn.close()
        server.close()

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    return BrokerAddress(host="127.0.0.1", port=port), thread


CONNACK_OK = b"\x20\x02\x00\x00"
SUBACK_OK = b"\x90\x03\x00\x01\x00"
PINGRESP = b"\xd0\x00"


@pytest.mark.parametrize("reply, close, message", [
    (b"\x20\x02\x00\x05", True, "refused the connection (CONNACK code 5)"),
    (CONNACK_OK + b"\x90\x03\x00\x01\x80", True, "refused a subscription"),
    (CONNACK_OK + b"\x90\x01\x00", True, "malformed packet"),  # a SUBACK too short to read
    (CONNACK_OK + SUBACK_OK + b"\x30\x01\xff", True, "malformed packet"),  # a PUBLISH without its topic
    (CONNACK_OK, True, "closed the connection"),
    (None, False, "did not answer within 0.5 s"),
])
def test_a_broker_that_misbehaves_gives_a_clear_error(reply, close, message):
    address, thread = _fake_broker(reply, close)
    with pytest.raises(RetainedReadError, match=message.replace("(", r"\(").replace(")", r"\)")):
        read_retained(address, "pioreactor/latest_experiment/experiment", timeout_s=0.5)
    thread.join(5)


def test_the_value_is_read_across_packets_split_anywhere():
    publish = b"\x31\x0b\x00\x03a/bexp-42"  # retained, QoS 0: topic "a/b", payload "exp-42"
    stream = CONNACK_OK + SUBACK_OK + publish + PINGRESP
    for cut in range(1, len(stream)):
        packets, rest = parse(stream[:cut])
        more, rest = parse(rest + stream[cut:])
        assert [p[0] for p in packets + more] == [0x20, 0x90, 0x31, 0xD0] and rest == b""
    address, thread = _fake_broker(stream)
    assert read_retained(address, "a/b", timeout_s=2) == b"exp-42"
    thread.join(5)
