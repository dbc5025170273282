"""mqtt_to_db: every stream of the dialect lands in its table, on SQLite and PostgreSQL."""

from __future__ import annotations

import json

from leader_helpers import od_message, publish_all, wait_rows
from pioreactor_kernel.testing import wait_for

from pio_leader import streams
from pio_leader.experiments import Experiment

T0 = "2026-11-24T10:00:00.000001Z"


def test_every_core_stream_lands_in_its_table(writer, publisher):
    base = "pioreactor/u1/exp1"
    od = {"timestamp": T0, "angle": "90", "od": 0.51, "channel": "2", "ir_led_intensity": 80.0, "calibrated": 1,
          "calibration_name": "od-cal"}
    ods = {"timestamp": "2026-11-24T10:00:05.000000Z", "ods": {
        "1": {**od, "channel": "1", "timestamp": "2026-11-24T10:00:05.000000Z", "calibrated": 0, "calibration_name": None},
        "2": {**od, "channel": "2", "timestamp": "2026-11-24T10:00:05.000000Z"}}}
    messages = [
        (f"{base}/od_reading/od2", json.dumps(od)),
        (f"{base}/od_reading/ods", json.dumps(ods)),
        (f"{base}/growth_rate_calculating/growth_rate", json.dumps({"growth_rate": 0.25, "timestamp": T0})),
        (f"{base}/growth_rate_calculating/od_filtered", json.dumps({"od_filtered": 1.02, "timestamp": T0})),
        (f"{base}/dosing_events", json.dumps({"volume_change": 0.5, "event": "add_media",
                                              "source_of_event": "dosing_automation", "timestamp": T0})),
        (f"{base}/temperature_automation/temperature", json.dumps({"temperature": 30.1, "timestamp": T0})),
        (f"{base}/stirring/measured_rpm", json.dumps({"measured_rpm": 498.5, "timestamp": T0})),
        (f"{base}/led_change_events", json.dumps({"channel": "B", "intensity": 42.0, "source_of_event": "cli",
                                                  "timestamp": T0})),
        (f"{base}/logs/app", json.dumps({"message": "it's a \"test\"; DROP TABLE logs;--", "level": "ERROR",
                                         "task": "od_reading", "source": "app", "timestamp": T0})),
        (f"{base}/dosing_automation/latest_event", json.dumps({"event_name": "DilutionEvent", "message": "cycled",
                                                               "data": {"volume_ml": 0.5}})),
        (f"{base}/dosing_automation/dosing_automation_settings",
         json.dumps({"target_od); DROP TABLE od_readings;--": 1.5, "volume": 0.5})),
        (f"{base}/bioreactor/current_volume_ml", "14.5"),
        (f"{base}/bioreactor/alt_media_fraction", "0.1"),
        (f"{base}/stirring/target_rpm", "500"),
        (f"{base}/stirring/$state", "ready"),
        ("pioreactor/latest_experiment/experiment", "exp2"),
    ]
    publish_all(publisher, messages)
    wait_for(lambda: streams.SettingChange.select().where(streams.SettingChange.pioreactor_unit == "u1").count() >= 4
             and Experiment.get_or_none(Experiment.experiment == "exp2") is not None, 20)
    wait_rows(streams.ODReading, 3)

    ods_rows = {(r.channel, r.timestamp): r for r in streams.ODReading.select()}
    assert ods_rows[("2", T0)].od_reading == 0.51 and ods_rows[("2", T0)].calibration_name == "od-cal"
    assert ods_rows[("2", T0)].calibrated == 1 and ods_rows[("2", T0)].angle == "90"
    assert {c for c, _ in ods_rows} == {"1", "2"}
    assert streams.GrowthRate.get().rate == 0.25
    assert streams.ODFiltered.get().normalized_od_reading == 1.02
    dosing = streams.DosingEvent.get()
    assert (dosing.event, dosing.volume_change_ml, dosing.source_of_event) == ("add_media", 0.5, "dosing_automation")
    assert streams.TemperatureReading.get().temperature_c == 30.1
    assert streams.StirringRate.get().measured_rpm == 498.5
    led = streams.LEDChangeEvent.get()
    assert (led.channel, led.intensity) == ("B", 42.0)
    log = streams.LogRecord.get(streams.LogRecord.pioreactor_unit == "u1")
    assert (log.level, log.task, log.message) == ("ERROR", "od_reading", "it's a \"test\"; DROP TABLE logs;--")
    event = streams.AutomationEvent.get()
    assert (event.automation_name, event.event_name, json.loads(event.data)) == (
        "dosing_automation", "DilutionEvent", {"volume_ml": 0.5})
    settings = streams.AutomationSettings.get()
    assert json.loads(settings.settings)["target_od); DROP TABLE od_readings;--"] == 1.5
    changes = {(s.job_name, s.setting): s.value for s in
               streams.SettingChange.select().where(streams.SettingChange.pioreactor_unit == "u1")}
    assert changes == {("bioreactor", "current_volume_ml"): "14.5", ("bioreactor", "alt_media_fraction"): "0.1",
                       ("stirring", "target_rpm"): "500", ("stirring", "$state"): "ready"}
    assert Experiment.get_or_none(Experiment.experiment == "exp1") is not None  # first seen on the wire
    assert writer.writer.refusals.count == 0


def test_a_redelivered_message_adds_no_row(writer, publisher):
    topic, payload = od_message("u1", "exp1", 7)
    publish_all(publisher, [(topic, payload)] * 3 + [od_message("u1", "exp1", 8)])
    publish_all(publisher, [("pioreactor/u1/exp1/stirring/target_rpm", "400")] * 3
                + [("pioreactor/u1/exp1/stirring/target_rpm", "450"), ("pioreactor/u1/exp1/stirring/target_rpm", "400")])
    wait_rows(streams.ODReading, 2)
    target_rpm = streams.SettingChange.setting == "target_rpm"
    wait_for(lambda: streams.SettingChange.select().where(target_rpm).count() >= 3, 10)
    assert writer.ingest.wait_until_running(1) and publisher.sync()
    wait_for(lambda: writer.writer.received >= 9, 10)
    assert streams.ODReading.select().count() == 2
    assert [s.value for s in streams.SettingChange.select().where(target_rpm).order_by(streams.SettingChange.id)] == [
        "400", "450", "400"]


def test_a_thousand_readings_are_all_stored_once_whatever_the_experiment_is_called(writer, publisher):
    names = ("exp1", "_testing_exp", "2026-11-24 run 3, 30°C")
    publish_all(publisher, [od_message(f"u{i % 4}", names[i % 3], i) for i in range(1000)])
    wait_rows(streams.ODReading, 1000)
    assert streams.ODReading.select().count() == 1000
    assert streams.ODReading.select().where(streams.ODReading.experiment == "_testing_exp").count() == 333
    assert writer.writer.stored >= 1000


def test_sleeping_closes_the_session_and_ready_stores_what_was_queued_meanwhile(writer, publisher):
    state = "pioreactor/leader/$experiment/mqtt_to_db/$state"
    publish_all(publisher, [(f"{state}/set", "sleeping")])
    wait_for(lambda: writer.state == "sleeping" and not writer.session.connected, 10)
    publish_all(publisher, [od_message("u1", "exp1", i) for i in range(50)])
    assert streams.ODReading.select().count() == 0
    publish_all(publisher, [(f"{state}/set", "ready")])
    wait_rows(streams.ODReading, 50)
    assert streams.ODReading.select().count() == 50
