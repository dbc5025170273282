"""Garbage on every topic is refused, counted and logged once per topic; a plugin's tables get data."""

from __future__ import annotations

import json
import textwrap

import pytest
from leader_helpers import od_message, publish_all, wait_rows
from pioreactor_kernel.testing import wait_for

from pio_leader import streams

GARBAGE = [b"\xff\xfe\x00", b"not json", b"[1, 2, 3]", b"{}", b'{"timestamp": "yesterday", "od": 1}',
           b'{"od": NaN, "timestamp": "2026-11-24T10:00:00.000000Z"}', b"{" * 5000, b'"a string"',
           b'{"timestamp": 5}']


@pytest.fixture
def sqlite_writer(make_leader, broker):
    make_leader(broker.port)
    from pio_leader.writer import MQTTToDB

    job = MQTTToDB()
    assert job.ingest.wait_until_running(10)
    yield job
    job.clean_up()


def test_garbage_on_every_topic_is_refused_counted_and_logged_once_per_topic(sqlite_writer, publisher):
    event_topics = [f for f, p in streams.tables().parsers.items() if not p.changes_only and "+/+/+/+" not in f]
    topics = [f.replace("pioreactor/+/+", "pioreactor/g1/garbage").replace("/+", "/app") for f in event_topics]
    topics += ["pioreactor/g1/garbage/dosing_automation/latest_event",
               "pioreactor/g1/garbage/dosing_automation/dosing_automation_settings"]
    publish_all(publisher, [(t, g) for t in topics for g in GARBAGE]
                + [("pioreactor/g1/garbage/od_reading/od1", b"x" * 300_000)])  # over max_payload_bytes
    publish_all(publisher, [od_message("g1", "garbage", 1)])
    wait_rows(streams.ODReading, 1)  # still storing after all that
    refusals = sqlite_writer.writer.refusals
    wait_for(lambda: set(refusals.by_topic) >= set(topics), 10, what=f"refusals on every topic: {refusals.by_topic}")
    assert refusals.count >= len(topics) * (len(GARBAGE) - 2)
    # logged once per topic, not once per message (the log lines come back as rows of `logs`)
    refused_logs = streams.LogRecord.message.startswith("refused a message on")
    wait_for(lambda: streams.LogRecord.select().where(refused_logs).count() >= len(topics), 10)
    per_topic = {}
    for r in streams.LogRecord.select().where(refused_logs):
        topic = r.message.split()[4].rstrip(":")
        per_topic[topic] = per_topic.get(topic, 0) + 1
    assert set(per_topic) == set(topics) and set(per_topic.values()) == {1}
    assert streams.ODReading.select().count() == 1


def test_a_plugins_tables_and_parsers_receive_its_data(make_leader, broker, publisher):
    leader = make_leader(broker.port)
    (leader.data_dir / "plugins").mkdir(parents=True, exist_ok=True)
    (leader.data_dir / "plugins" / "pump_counter.py").write_text(textwrap.dedent('''
        import json
        import peewee
        from pioreactor_kernel.plugins import hookimpl

        class PumpCount(peewee.Model):
            experiment = peewee.TextField()
            pioreactor_unit = peewee.TextField()
            timestamp = peewee.TextField()
            strokes = peewee.IntegerField()

            class Meta:
                table_name = "pump_counts"
                indexes = ((("experiment", "pioreactor_unit", "timestamp"), True),)

        def parse(topic, payload):
            data = json.loads(payload)
            return {"experiment": topic.experiment, "pioreactor_unit": topic.unit,
                    "timestamp": data["timestamp"], "strokes": int(data["strokes"])}

        def tables():
            return [PumpCount], {"pioreactor/+/+/pump_counter/strokes": (PumpCount, parse)}

        @hookimpl
        def register_tables(register):
            register("pump_counter", "pio_local_plugin_pump_counter:tables")
    '''))
    from pio_leader.writer import MQTTToDB

    job = MQTTToDB()
    try:
        assert job.ingest.wait_until_running(10)
        publish_all(publisher, [("pioreactor/u1/exp1/pump_counter/strokes",
                                 json.dumps({"timestamp": f"2026-11-24T10:00:0{i}.000000Z", "strokes": i}))
                                for i in range(5)] + [("pioreactor/u1/exp1/pump_counter/strokes", "garbage")])
        from pio_local_plugin_pump_counter import PumpCount

        wait_rows(PumpCount, 5)
        assert [r.strokes for r in PumpCount.select().order_by(PumpCount.timestamp)] == [0, 1, 2, 3, 4]
        wait_for(lambda: job.writer.refusals.count == 1, 10)
    finally:
        job.clean_up()
