"""The dosing event on the wire: ``pioreactor/<unit>/<exp>/dosing_events``, exactly the Pioreactor's fields."""

from __future__ import annotations

import math

import msgspec

from . import names


class DosingEvent(msgspec.Struct, kw_only=True):
    volume_change: float  # mL the pump moved (positive for every event, as the Pioreactor publishes it)
    event: str  # add_media | remove_waste | add_alt_media
    source_of_event: str  # who asked: "manual", "turbidostat", ...
    timestamp: str  # ISO-8601 UTC with Z


_decoder = msgspec.json.Decoder(DosingEvent)


def encode(event: DosingEvent) -> bytes:
    return msgspec.json.encode(event)


def decode(payload: bytes | str) -> DosingEvent:
    """Parse a dosing event; ``ValueError`` for anything that is not one (garbage, NaN, unknown event)."""
    try:
        event = _decoder.decode(payload)
    except msgspec.DecodeError as e:
        raise ValueError(f"not a dosing event: {e}") from None
    if event.event not in names.PUMP_OF_EVENT:
        raise ValueError(f"not a dosing event: unknown event {event.event!r}")
    if not (math.isfinite(event.volume_change) and event.volume_change >= 0):
        raise ValueError(f"not a dosing event: volume_change {event.volume_change!r}")
    return event
