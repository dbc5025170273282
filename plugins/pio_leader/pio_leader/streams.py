"""Tables and parsers for the core streams of the wire dialect (docs/wire-dialect.md).

Registered through the kernel's ``register_tables`` hook like any plugin's tables. Event streams
carry a timestamp and have a unique key (experiment, unit, timestamp[, channel]) so that a
redelivered message adds no row; state streams (retained settings) are stored as changes.
The parsers, which return tuples in the model's column order, are in stream_parsers.py.
"""

from __future__ import annotations

import peewee
from peewee import DoubleField, IntegerField, TextField

from .experiments import EXPERIMENT_MODELS, parse_latest_experiment
from .storage import LastValue, Migration, Parser, TableSet
from .stream_parsers import (
    parse_automation_settings,
    parse_dosing_event,
    parse_growth_rate,
    parse_latest_event,
    parse_led_change,
    parse_log,
    parse_measured_rpm,
    parse_od,
    parse_od_filtered,
    parse_od_many,
    parse_ods,
    parse_setting,
    parse_temperature,
)


class StreamModel(peewee.Model):
    """Columns every stream table starts with, in this order."""

    experiment = TextField()
    pioreactor_unit = TextField()
    timestamp = TextField()  # ISO-8601 UTC, always 27 characters: sorts as text
    units: dict[str, str] = {}
    clustered = False


class EventModel(StreamModel):
    """An event stream: its primary key (experiment, unit, timestamp[, ...]) makes a redelivery a no-op.

    On SQLite the table is clustered on that key (``WITHOUT ROWID``): one B-tree instead of a table
    and an index, 40 % smaller, and a unit's readings are contiguous for queries and export.
    """

    clustered = True


def _key(*columns: str) -> peewee.CompositeKey:
    return peewee.CompositeKey("experiment", "pioreactor_unit", "timestamp", *columns)


class ODReading(EventModel):
    channel = TextField()
    od_reading = DoubleField()
    angle = TextField()
    ir_led_intensity = DoubleField(null=True)
    calibrated = IntegerField(default=0)
    calibration_name = TextField(null=True)
    units = {"od_reading": "AU (OD600 when calibrated)", "angle": "degrees", "ir_led_intensity": "%"}

    class Meta:
        table_name = "od_readings"
        primary_key = _key("channel")


class GrowthRate(EventModel):
    rate = DoubleField()
    units = {"rate": "1/h"}

    class Meta:
        table_name = "growth_rates"
        primary_key = _key()


class ODFiltered(EventModel):
    normalized_od_reading = DoubleField()
    units = {"normalized_od_reading": "AU (normalised)"}

    class Meta:
        table_name = "od_readings_filtered"
        primary_key = _key()


class DosingEvent(EventModel):
    event = TextField()
    volume_change_ml = DoubleField()
    source_of_event = TextField(null=True)
    units = {"volume_change_ml": "mL"}

    class Meta:
        table_name = "dosing_events"
        primary_key = _key("event")


class TemperatureReading(EventModel):
    temperature_c = DoubleField()
    units = {"temperature_c": "°C"}

    class Meta:
        table_name = "temperature_readings"
        primary_key = _key()


class StirringRate(EventModel):
    measured_rpm = DoubleField()
    units = {"measured_rpm": "RPM"}

    class Meta:
        table_name = "stirring_rates"
        primary_key = _key()


class LEDChangeEvent(EventModel):
    channel = TextField()
    intensity = DoubleField()
    source_of_event = TextField(null=True)
    units = {"intensity": "%"}

    class Meta:
        table_name = "led_change_events"
        primary_key = _key("channel")


class LogRecord(EventModel):
    level = TextField()
    task = TextField()
    source = TextField()
    message = TextField()
    fingerprint = peewee.BigIntegerField()  # of the whole payload: two lines in one microsecond stay two rows

    class Meta:
        table_name = "logs"
        primary_key = _key("fingerprint")


class AutomationEvent(StreamModel):
    automation_name = TextField()
    event_name = TextField()
    message = TextField(null=True)
    data = TextField(null=True)  # JSON text

    class Meta:
        table_name = "automation_events"


class AutomationSettings(StreamModel):
    automation_name = TextField()
    settings = TextField()  # JSON text, stored whole: its keys never become SQL

    class Meta:
        table_name = "automation_settings"


class SettingChange(StreamModel):
    """Every other job setting (``$state``, ``target_rpm``, ``bioreactor/current_volume_ml``...), as changes."""

    job_name = TextField()
    setting = TextField()
    value = TextField()

    class Meta:
        table_name = "settings_history"
        indexes = ((("experiment", "pioreactor_unit", "job_name", "setting"), False),)


STREAM_MODELS: list[type[StreamModel]] = [
    ODReading,
    GrowthRate,
    ODFiltered,
    DosingEvent,
    TemperatureReading,
    StirringRate,
    LEDChangeEvent,
    LogRecord,
    AutomationEvent,
    AutomationSettings,
    SettingChange,
]
DATASETS: dict[str, type[StreamModel]] = {m._meta.table_name: m for m in STREAM_MODELS}


MIGRATIONS: list[Migration] = []


def tables() -> TableSet:
    """The ``register_tables`` target of the core streams (and the leader's experiment tables)."""
    p = "pioreactor/+/+"
    parsers = {
        **{
            f"{p}/od_reading/od{channel}": Parser(ODReading, parse_od, parse_many=parse_od_many)
            for channel in "1234"
        },
        f"{p}/od_reading/ods": Parser(ODReading, parse_ods),
        f"{p}/growth_rate_calculating/growth_rate": Parser(GrowthRate, parse_growth_rate),
        f"{p}/growth_rate_calculating/od_filtered": Parser(ODFiltered, parse_od_filtered),
        f"{p}/dosing_events": Parser(DosingEvent, parse_dosing_event),
        f"{p}/temperature_automation/temperature": Parser(TemperatureReading, parse_temperature),
        f"{p}/stirring/measured_rpm": Parser(StirringRate, parse_measured_rpm),
        f"{p}/led_change_events": Parser(LEDChangeEvent, parse_led_change),
        f"{p}/logs/+": Parser(LogRecord, parse_log),
        f"{p}/+/latest_event": Parser(AutomationEvent, parse_latest_event, changes_only=True),
        **{
            f"{p}/{kind}_automation/{kind}_automation_settings": Parser(
                AutomationSettings, parse_automation_settings, changes_only=True
            )
            for kind in ("dosing", "temperature", "led")
        },
        f"{p}/+/+": Parser(SettingChange, parse_setting, changes_only=True, fallback=True),
        "pioreactor/latest_experiment/experiment": Parser(EXPERIMENT_MODELS[0], parse_latest_experiment),
    }
    return TableSet(
        "core_streams", [*EXPERIMENT_MODELS, LastValue, *STREAM_MODELS], parsers, MIGRATIONS, plugin="leader"
    )
