"""Checking LED requests: which channels exist, and what an intensity may be."""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

from . import CHANNELS


class LEDError(RuntimeError):
    """An LED change that was refused or failed; the message says which channel and why."""


def parse_intensities(desired: Any) -> dict[str, float]:
    """``{"b": 50}`` -> ``{"B": 50.0}``; raises :class:`LEDError` for unknown channels or bad values."""
    if not isinstance(desired, Mapping) or not desired:
        raise LEDError(f"expected channels and intensities, e.g. {{\"B\": 50}}, got {desired!r}")
    out: dict[str, float] = {}
    for key, value in desired.items():
        channel = str(key).strip().upper()
        if channel not in CHANNELS:
            raise LEDError(f"no LED channel {key!r}: the channels are {', '.join(CHANNELS)}")
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise LEDError(f"LED channel {channel}: intensity {value!r} is not a number (0-100 %)")
        value = float(value)
        if not math.isfinite(value) or not 0.0 <= value <= 100.0:
            raise LEDError(f"LED channel {channel}: intensity {value!r} is outside 0-100 %")
        out[channel] = value
    return out


def parse_channel_list(text: str, default: tuple[str, ...]) -> tuple[str, ...]:
    """``"B, c"`` -> ``("B", "C")``; empty text gives ``default``."""
    items = tuple(dict.fromkeys(c.strip().upper() for c in text.split(",") if c.strip()))
    if not items:
        return default
    unknown = [c for c in items if c not in CHANNELS]
    if unknown:
        raise LEDError(f"no LED channel {', '.join(unknown)}: the channels are {', '.join(CHANNELS)}")
    return items
