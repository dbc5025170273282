"""Parsers of the core streams' payloads (docs/wire-dialect.md): one per topic, tuples in the column order.

The writer's hot path: payloads decode through msgspec structs, and timestamps already in the
canonical form (``...T..:..:..ffffffZ``) pass as they are. A payload that does not parse raises,
and the writer counts and logs it (storage.py).
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import msgspec
from pioreactor_kernel.names import Topic
from pioreactor_kernel.timestamps import current_utc_timestamp


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


def _one_value(decode: Callable[[bytes], Any], field: str) -> Callable[[Topic, bytes], tuple]:
    """The parser of a ``{"<field>": <number>, "timestamp": "..."}`` stream: (experiment, unit, timestamp, value)."""

    def parse(topic: Topic, payload: bytes) -> tuple:
        r = decode(payload)
        return (topic.experiment, topic.unit, canonical_timestamp(r.timestamp), getattr(r, field))

    return parse


parse_growth_rate = _one_value(_decode_growth, "growth_rate")
parse_od_filtered = _one_value(_decode_filtered, "od_filtered")


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


parse_temperature = _one_value(_decode_temperature, "temperature")
parse_measured_rpm = _one_value(_decode_rpm, "measured_rpm")


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
