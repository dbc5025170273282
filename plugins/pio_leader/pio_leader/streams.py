"""Tables and parsers for the core streams of the wire dialect (docs/wire-dialect.md).

Registered through the kernel's ``register_tables`` hook like any plugin's tables. Event streams
carry a timestamp and have a unique key (experiment, unit, timestamp[, channel]) so that a
redelivered message adds no row; state streams (retained settings) are stored as changes.
Parsers return tuples in the model's column order: the writer's hot path.
"""

from __future__ import annotations

import hashlib
import re
from datetime import UTC, datetime

import msgspec
import peewee
from peewee import DoubleField, IntegerField, TextField
from pioreactor_kernel.names import Topic
from pioreactor_kernel.timestamps import current_utc_timestamp

from .experiments import EXPERIMENT_MODELS, parse_latest_experiment
from .storage import LastValue, Migration, Parser, TableSet


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


# ---------------------------------------------------------------------------- payloads
class _OD(msgspec.Struct):
    timestamp: str
    od: float
    channel: str | int
    angle: str | int = ""
    ir_led_intensity: float | None = None
    calibrated: int = 0
    calibration_name: str | None = None


class _ODs(msgspec.Struct):
    timestamp: str
    ods: dict[str, _OD]


class _GrowthRate(msgspec.Struct):
    growth_rate: float
    timestamp: str


class _ODFiltered(msgspec.Struct):
    od_filtered: float
    timestamp: str


class _Dosing(msgspec.Struct):
    volume_change: float
    event: str
    timestamp: str
    source_of_event: str | None = None


class _Temperature(msgspec.Struct):
    temperature: float
    timestamp: str


class _RPM(msgspec.Struct):
    measured_rpm: float
    timestamp: str


class _LED(msgspec.Struct):
    channel: str
    intensity: float
    timestamp: str
    source_of_event: str | None = None


class _Log(msgspec.Struct):
    message: str
    level: str
    timestamp: str
    task: str = ""
    source: str = ""


class _Event(msgspec.Struct):
    event_name: str
    message: str | None = None
    data: msgspec.Raw = msgspec.Raw(b"null")


_decode_od = msgspec.json.Decoder(_OD).decode
_decode_ods = msgspec.json.Decoder(_ODs).decode
_decode_growth = msgspec.json.Decoder(_GrowthRate).decode
_decode_filtered = msgspec.json.Decoder(_ODFiltered).decode
_decode_dosing = msgspec.json.Decoder(_Dosing).decode
_decode_temperature = msgspec.json.Decoder(_Temperature).decode
_decode_rpm = msgspec.json.Decoder(_RPM).decode
_decode_led = msgspec.json.Decoder(_LED).decode
_decode_log = msgspec.json.Decoder(_Log).decode
_decode_event = msgspec.json.Decoder(_Event).decode
_decode_json = msgspec.json.Decoder().decode

_CANONICAL = re.compile(r"\d{4}-[01]\d-[0-3]\dT[0-2]\d:[0-5]\d:[0-6]\d\.\d{6}Z")
_CANONICAL_LIST = re.compile(rf"{_CANONICAL.pattern}(?:,{_CANONICAL.pattern})*")
DOSING_EVENTS = frozenset({"add_media", "remove_waste", "add_alt_media"})


def canonical_timestamp(value: str) -> str:
    """``2026-11-24T10:00:00.123456Z`` for any ISO-8601 time (naive means UTC); ValueError otherwise."""
    if len(value) == 27 and _CANONICAL.fullmatch(value):
        return value
    if len(value) > 40:
        raise ValueError("timestamp too long")
    dt = datetime.fromisoformat(value.replace("Z", "+00:00").replace("z", "+00:00"))
    dt = dt.replace(tzinfo=UTC) if dt.tzinfo is None else dt.astimezone(UTC)
    return dt.strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _od_row(topic: Topic, r: _OD) -> tuple:
    return (
        topic.experiment,
        topic.unit,
        canonical_timestamp(r.timestamp),
        str(r.channel),
        r.od,
        str(r.angle),
        r.ir_led_intensity,
        r.calibrated,
        r.calibration_name,
    )


def parse_od(topic: Topic, payload: bytes) -> tuple:
    return _od_row(topic, _decode_od(payload))  # canonical_timestamp has the fast path for canonical stamps


_decode_od_lines = msgspec.json.Decoder(_OD).decode_lines


def parse_od_many(topic: Topic, payloads: list[bytes]) -> list[tuple]:
    """Many readings of one topic in one decoder call (JSON lines): what ``parse_od`` does, per batch."""
    lines = b"\n".join(payloads)
    if lines.count(b"\n") != len(payloads) - 1:
        raise ValueError("a payload spans lines")  # one payload per line, or the rows would not line up
    readings = _decode_od_lines(lines)
    if len(readings) != len(payloads):
        raise ValueError("a payload is blank")
    e, u = topic.experiment, topic.unit
    stamps = canonical_timestamps([r.timestamp for r in readings])
    return [
        (e, u, ts, str(r.channel), r.od, str(r.angle), r.ir_led_intensity, r.calibrated, r.calibration_name)
        for r, ts in zip(readings, stamps, strict=True)
    ]


def canonical_timestamps(stamps: list[str]) -> list[str]:
    """``canonical_timestamp`` of each; one regular-expression match for a list already canonical.

    Joined by commas (which no canonical timestamp holds), n timestamps are n canonical pieces
    exactly when the whole matches n comma-separated pieces and has their length.
    """
    joined = ",".join(stamps)
    if len(joined) == 28 * len(stamps) - 1 and _CANONICAL_LIST.fullmatch(joined):
        return stamps
    return [canonical_timestamp(ts) for ts in stamps]


def parse_ods(topic: Topic, payload: bytes) -> list[tuple]:
    return [_od_row(topic, r) for r in _decode_ods(payload).ods.values()]


def parse_growth_rate(topic: Topic, payload: bytes) -> tuple:
    r = _decode_growth(payload)
    return (topic.experiment, topic.unit, canonical_timestamp(r.timestamp), r.growth_rate)


def parse_od_filtered(topic: Topic, payload: bytes) -> tuple:
    r = _decode_filtered(payload)
    return (topic.experiment, topic.unit, canonical_timestamp(r.timestamp), r.od_filtered)


def parse_dosing_event(topic: Topic, payload: bytes) -> tuple:
    r = _decode_dosing(payload)
    if r.event not in DOSING_EVENTS:
        raise ValueError(f"unknown dosing event {r.event[:40]!r}")
    return (
        topic.experiment,
        topic.unit,
        canonical_timestamp(r.timestamp),
        r.event,
        r.volume_change,
        r.source_of_event,
    )


def parse_temperature(topic: Topic, payload: bytes) -> tuple:
    r = _decode_temperature(payload)
    return (topic.experiment, topic.unit, canonical_timestamp(r.timestamp), r.temperature)


def parse_measured_rpm(topic: Topic, payload: bytes) -> tuple:
    r = _decode_rpm(payload)
    return (topic.experiment, topic.unit, canonical_timestamp(r.timestamp), r.measured_rpm)


def parse_led_change(topic: Topic, payload: bytes) -> tuple:
    r = _decode_led(payload)
    return (
        topic.experiment,
        topic.unit,
        canonical_timestamp(r.timestamp),
        r.channel,
        r.intensity,
        r.source_of_event,
    )


def parse_log(topic: Topic, payload: bytes) -> tuple:
    r = _decode_log(payload)
    fingerprint = int.from_bytes(hashlib.blake2b(payload, digest_size=8).digest(), "big", signed=True)
    return (
        topic.experiment,
        topic.unit,
        canonical_timestamp(r.timestamp),
        r.level.upper(),
        r.task,
        r.source or (topic.setting or ""),
        r.message,
        fingerprint,
    )


def parse_latest_event(topic: Topic, payload: bytes) -> tuple:
    r = _decode_event(payload)
    return (
        topic.experiment,
        topic.unit,
        current_utc_timestamp(),
        topic.job,
        r.event_name,
        r.message,
        None if bytes(r.data) == b"null" else bytes(r.data).decode(),
    )


def parse_automation_settings(topic: Topic, payload: bytes) -> tuple:
    settings = _decode_json(payload)
    if not isinstance(settings, dict):
        raise ValueError("automation settings must be a JSON object")
    return (topic.experiment, topic.unit, current_utc_timestamp(), topic.job, payload.decode())


def parse_setting(topic: Topic, payload: bytes) -> tuple:
    return (topic.experiment, topic.unit, current_utc_timestamp(), topic.job, topic.setting, payload.decode())


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
