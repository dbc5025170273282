"""Nothing published is lost or stored twice: broker restarts, kill -9 of the writer, bursts."""

from __future__ import annotations

import json
import signal
import threading
import time

import pytest
from leader_helpers import new_postgres_database, od_message, publish_all, wait_rows
from pioreactor_kernel.mqtt import BrokerAddress, MQTTClient, publish_once
from pioreactor_kernel.testing import spawn_pio, wait_for

from pio_leader import streams
from pio_leader.storage import open_leader_database


class WriterProcess:
    """`pio run mqtt_to_db` in its own process; ``live()`` waits until its session stores."""

    def __init__(self, leader) -> None:
        self.leader = leader
        self.process = spawn_pio("run", "mqtt_to_db", env=leader.env)
        self.probes = 0

    def live(self, timeout_s: float = 20) -> None:
        def stored() -> bool:
            self.probes += 1
            stamp = f"2026-01-01T00:00:00.{self.probes:06d}Z"
            publish_once("pioreactor/probe/probe/stirring/measured_rpm",
                         json.dumps({"measured_rpm": 1.0, "timestamp": stamp}),
                         address=BrokerAddress("127.0.0.1", self.leader.port))
            time.sleep(0.05)
            return streams.StirringRate.select().count() > 0

        assert self.process.poll() is None, self.process.communicate()[1][-2000:]
        wait_for(stored, timeout_s, interval_s=0.2, what="mqtt_to_db to store a probe")

    def kill(self) -> None:
        self.process.send_signal(signal.SIGKILL)
        self.process.wait(10)

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            self.process.wait(20)


@pytest.fixture
def leader_db(make_leader, own_broker):
    leader = make_leader(own_broker.port)
    open_leader_database(leader.db_url)
    return leader


@pytest.fixture
def leader_any_db(make_leader, own_broker, db_url):
    """The same, on SQLite and on PostgreSQL."""
    leader = make_leader(own_broker.port, db_url)
    open_leader_database(leader.db_url)
    return leader


def _publish_in_background(port: int, messages: list[tuple[str, str]], pace_every: int = 200) -> threading.Thread:
    """A unit publishing steadily (QoS 1, its own offline queue) while the test breaks things."""

    def run() -> None:
        client = MQTTClient(address=BrokerAddress("127.0.0.1", port)).connect()
        try:
            for start in range(0, len(messages), pace_every):
                for topic, payload in messages[start:start + pace_every]:
                    client.publish(topic, payload, qos=1)
                wait_for(lambda: client.queued_messages() < 2 * pace_every or not client.connected, 30)
                time.sleep(0.01)
            wait_for(lambda: client.queued_messages() == 0, 60, what="the publisher's queue to drain")
        finally:
            client.disconnect(5)

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    return thread


def test_writer_sigkill_mid_stream_loses_and_duplicates_nothing(leader_any_db, own_broker):
    leader_db = leader_any_db
    writer = WriterProcess(leader_db)
    try:
        writer.live()
        messages = [od_message(f"u{i % 3}", "exp1", i) for i in range(8000)]
        publishing = _publish_in_background(own_broker.port, messages)
        wait_rows(streams.ODReading, 1500)
        writer.kill()
        assert streams.ODReading.select().count() < 8000, "the kill came too late to test anything"
        writer = WriterProcess(leader_db)  # the same client id resumes the session
        publishing.join(60)
        wait_rows(streams.ODReading, 8000, timeout_s=60)
        assert streams.ODReading.select().count() == 8000
    finally:
        writer.stop()


def test_broker_restart_mid_stream_loses_and_duplicates_nothing(leader_db, own_broker):
    writer = WriterProcess(leader_db)
    try:
        writer.live()
        messages = [od_message(f"u{i % 3}", "exp1", i) for i in range(4000)]
        publishing = _publish_in_background(own_broker.port, messages)
        wait_rows(streams.ODReading, 1000)
        own_broker.restart()  # SIGTERM: Mosquitto saves sessions and queued messages
        publishing.join(60)
        wait_rows(streams.ODReading, 4000, timeout_s=60)
        assert streams.ODReading.select().count() == 4000
    finally:
        writer.stop()


def test_messages_published_while_the_writer_is_down_are_stored_when_it_returns(leader_db, own_broker):
    writer = WriterProcess(leader_db)
    writer.live()
    writer.stop()
    client = MQTTClient(address=BrokerAddress("127.0.0.1", own_broker.port)).connect()
    publish_all(client, [od_message("u1", "exp1", i) for i in range(1000)])
    client.disconnect()
    writer = WriterProcess(leader_db)
    try:
        wait_rows(streams.ODReading, 1000)
        assert streams.ODReading.select().count() == 1000
    finally:
        writer.stop()


def test_a_20000_message_burst_to_a_stalled_writer_is_not_lost(leader_db, own_broker):
    writer = WriterProcess(leader_db)
    try:
        writer.live()
        writer.process.send_signal(signal.SIGSTOP)  # slower than slow: not reading at all
        client = MQTTClient(address=BrokerAddress("127.0.0.1", own_broker.port), max_inflight=1000).connect()
        publish_all(client, [od_message(f"u{i % 4}", "burst", i) for i in range(20_000)], chunk=1000)
        client.disconnect()
        writer.process.send_signal(signal.SIGCONT)
        wait_rows(streams.ODReading, 20_000, timeout_s=60)
        assert streams.ODReading.select().count() == 20_000
    finally:
        writer.process.send_signal(signal.SIGCONT)
        writer.stop()


def test_a_database_server_that_drops_the_writer_mid_stream_loses_nothing(make_leader, broker, postgres_server, publisher):
    import psycopg2
    leader = make_leader(broker.port, new_postgres_database(postgres_server))
    from pio_leader.writer import MQTTToDB

    job = MQTTToDB()
    try:
        assert job.ingest.wait_until_running(10)
        publishing = _publish_in_background(broker.port, [od_message("u1", "pg", i) for i in range(4000)])
        wait_rows(streams.ODReading, 800)
        admin = psycopg2.connect(leader.db_url)
        admin.autocommit = True
        with admin.cursor() as cur:  # what a server restart does to the writer's connections
            cur.execute("SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                        "WHERE datname = current_database() AND pid <> pg_backend_pid()")
        admin.close()
        streams.ODReading._meta.database._state.reset()  # this test's own connection went too
        publishing.join(60)
        wait_rows(streams.ODReading, 4000, timeout_s=60)
        assert streams.ODReading.select().count() == 4000
    finally:
        job.clean_up()
