"""The payloads pio-od publishes and reads, in the Pioreactor dialect (DESIGN.md §2).

Decoding rejects garbage with ``msgspec.DecodeError`` / ``msgspec.ValidationError`` (JSON has no
NaN, so a non-finite number never gets through); unknown extra fields are ignored.
"""

from __future__ import annotations

import json
import time
from datetime import datetime

import msgspec


class ODReading(msgspec.Struct):
    timestamp: str
    od: float
    channel: str | int
    angle: str | int = ""
    ir_led_intensity: float | None = None
    calibrated: int | bool = 0
    calibration_name: str | None = None


class ODReadings(msgspec.Struct):
    timestamp: str
    ods: dict[str, ODReading]


class DosingEvent(msgspec.Struct):
    volume_change: float
    event: str
    timestamp: str
    source_of_event: str | None = None


decode_ods = msgspec.json.Decoder(ODReadings).decode
decode_dosing_event = msgspec.json.Decoder(DosingEvent).decode


def od_reading(timestamp: str, channel: str, angle: str, od: float, ir_led_intensity: float,
               calibration_name: str | None) -> dict[str, object]:
    """``{"timestamp","angle","od","channel","ir_led_intensity","calibrated"[,"calibration_name"]}``."""
    payload: dict[str, object] = {"timestamp": timestamp, "angle": angle, "od": od, "channel": channel,
                                  "ir_led_intensity": ir_led_intensity, "calibrated": 1 if calibration_name else 0}
    if calibration_name:
        payload["calibration_name"] = calibration_name
    return payload


def ods(timestamp: str, readings: dict[str, dict[str, object]]) -> str:
    return json.dumps({"timestamp": timestamp, "ods": readings})


def growth_rate(value: float, timestamp: str) -> str:
    return json.dumps({"growth_rate": value, "timestamp": timestamp})


def growth_rate_std(value: float, timestamp: str) -> str:
    return json.dumps({"growth_rate_std": value, "timestamp": timestamp})


def od_filtered(value: float, timestamp: str) -> str:
    return json.dumps({"od_filtered": value, "timestamp": timestamp})


def iso_timestamp(t: float) -> str:
    """Epoch seconds as ``2026-11-24T10:00:00.123456Z``."""
    whole = int(t)
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(whole)) + f".{int((t - whole) * 1e6):06d}Z"


def epoch_seconds(timestamp: str) -> float:
    """ISO-8601 (``Z`` or an offset; naive means UTC) as epoch seconds; ValueError if it is not one."""
    if len(timestamp) > 40:
        raise ValueError("timestamp too long")
    dt = datetime.fromisoformat(timestamp)
    if dt.tzinfo is None:
        from datetime import UTC

        dt = dt.replace(tzinfo=UTC)
    return dt.timestamp()


def parse_volume(payload: bytes) -> float:
    """``bioreactor/current_volume_ml``: a bare number, or JSON with ``current_volume_ml``/``volume_ml``."""
    text = payload.decode("utf-8").strip()
    value = json.loads(text)
    if isinstance(value, dict):
        value = value.get("current_volume_ml", value.get("volume_ml"))
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ValueError(f"not a volume: {text[:80]!r}")
    return float(value)
