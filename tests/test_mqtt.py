"""The MQTT helper: no QoS 1 message lost over a broker restart, subscriptions restored, bounded queue."""

from __future__ import annotations

import logging
import threading
import time

from pioreactor_kernel.mqtt import BrokerAddress, BrokerUnavailable, MQTTClient
from pioreactor_kernel.testing import Recorder, wait_for


def _address(port: int, **kw) -> BrokerAddress:
    return BrokerAddress(host="127.0.0.1", port=port, **kw)


def test_a_broker_restart_under_load_loses_no_published_message(own_broker):
    total = 20_000
    received: set[int] = set()
    lock = threading.Lock()

    def keep(message):
        with lock:
            received.add(int(message.payload))

    # a consumer that must not miss data: stable client id, persistent session
    consumer = MQTTClient("test-consumer", address=_address(own_broker.port), clean_session=False)
    consumer.subscribe("load/#", keep, qos=1)
    consumer.connect(5)
    producer = MQTTClient("test-producer", address=_address(own_broker.port)).connect(5)

    def produce():
        for i in range(total):
            producer.publish(f"load/{i % 16}", str(i), qos=1)
            if i % 500 == 0:
                time.sleep(0.01)  # a steady stream over ~0.5-1 s rather than one burst

    thread = threading.Thread(target=produce)
    thread.start()
    wait_for(lambda: len(received) > total // 10, what="the stream to start")
    own_broker.restart(down_s=2.4)
    thread.join(60)
    wait_for(lambda: len(received) == total, timeout_s=60,
             what=f"all {total} messages (have {len(received)})")
    assert consumer.reconnects >= 1 and producer.reconnects >= 1
    assert producer.dropped_messages == 0
    producer.disconnect()
    consumer.disconnect()


def test_subscriptions_are_restored_after_every_restart(own_broker):
    got: list[str] = []
    client = MQTTClient(address=_address(own_broker.port))
    client.subscribe("a/b", lambda m: got.append(m.payload.decode()), qos=1)
    client.connect(5)
    for round_ in range(3):
        own_broker.restart()
        wait_for(lambda: client.connected and not client.deaf, what="reconnect and resubscribe")
        sender = MQTTClient(address=_address(own_broker.port)).connect(5)
        sender.publish("a/b", f"after restart {round_}", qos=1).wait_for_publish(5)
        sender.disconnect()
        wait_for(lambda r=round_: f"after restart {r}" in got, what=f"delivery after restart {round_}")
    client.disconnect()


def test_job_state_is_republished_and_set_still_works_after_a_restart(own_broker, tmp_path, monkeypatch):
    from pioreactor_kernel import config, plugins
    from pioreactor_kernel.job import BackgroundJob
    from pioreactor_kernel.settings import Setting
    from pioreactor_kernel.testing import unit_env

    for k, v in unit_env(tmp_path / "d", own_broker.port, unit="rs1").items():
        monkeypatch.setenv(k, v)
    plugins.reset_plugin_manager()
    config._cached = None

    class Job(BackgroundJob):
        job_name = "restart_test"
        published_settings = (Setting("level", "float", settable=True),)

    with Job() as job:
        job.level = 1.0
        own_broker.restart(down_s=0.5)
        wait_for(lambda: job.client.reconnects >= 1 and not job.client.deaf, what="job reconnect")
        rec = Recorder(own_broker.port, "pioreactor/rs1/exp1/restart_test/#")
        rec.wait_for_value("pioreactor/rs1/exp1/restart_test/$state", "ready")
        sender = MQTTClient(address=_address(own_broker.port)).connect(5)
        sender.publish("pioreactor/rs1/exp1/restart_test/level/set", "2.5").wait_for_publish(5)
        sender.disconnect()
        wait_for(lambda: job.level == 2.5, what="the /set after a restart")
        rec.close()
    plugins.reset_plugin_manager()
    config._cached = None


def test_messages_published_while_the_broker_is_away_arrive_when_it_returns(own_broker):
    rec = Recorder(own_broker.port, "offline/#", client_id="offline-rec", clean_session=False)
    producer = MQTTClient(address=_address(own_broker.port)).connect(5)
    own_broker.stop()
    wait_for(lambda: not producer.connected, what="the producer to notice")
    for i in range(500):
        producer.publish("offline/x", str(i), qos=1)
    own_broker.start()
    wait_for(lambda: len(set(rec.payloads("offline/x"))) == 500, timeout_s=30, what="the offline queue to drain")
    producer.disconnect()
    rec.close()


def test_a_full_offline_queue_drops_and_logs(own_broker, caplog):
    producer = MQTTClient(address=_address(own_broker.port, max_offline_messages=100)).connect(5)
    own_broker.stop()
    wait_for(lambda: not producer.connected, what="the producer to notice")
    with caplog.at_level(logging.ERROR, logger="pioreactor.mqtt"):
        for i in range(150):
            producer.publish("offline/y", str(i), qos=1)
    assert producer.dropped_messages == 50
    assert any("offline queue full" in r.message for r in caplog.records)
    producer.disconnect(0.1)


def test_connecting_to_no_broker_gives_a_clear_error():
    from pioreactor_kernel.broker import free_port

    port = free_port()
    client = MQTTClient(address=_address(port))
    try:
        client.connect(timeout_s=0.5)
    except BrokerUnavailable as e:
        assert f"127.0.0.1:{port}" in str(e) and "pio broker up" in str(e)
    else:
        raise AssertionError("expected BrokerUnavailable")


def test_the_client_sends_at_once_and_connects_without_the_idna_codec(broker):
    """Nagle off (a request must not wait for the broker's delayed ACK), and an ASCII host name
    given to getaddrinfo as bytes (the idna codec is ~2.5 ms of every job's start-up)."""
    import socket
    import subprocess
    import sys

    client = MQTTClient(address=BrokerAddress(host="localhost", port=broker.port)).connect()
    try:
        sock = client._client.socket()
        assert sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY) == 1
    finally:
        client.disconnect()
    code = ("import sys\nfrom pioreactor_kernel.mqtt import BrokerAddress, MQTTClient\n"
            f"c = MQTTClient(address=BrokerAddress(host='localhost', port={broker.port})).connect()\n"
            "c.disconnect()\nprint('encodings.idna' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "False"
