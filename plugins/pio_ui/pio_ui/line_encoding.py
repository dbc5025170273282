"""How a chart's line goes out: plain ``min``/``max`` lists, or packed as integer steps (see ``History.query``)."""

from __future__ import annotations

import math
from typing import Any

import numpy as np


def _decimals(values: np.ndarray, digits: int = 5) -> int:
    """Decimals giving ``digits`` significant digits for the line's typical values (rare spikes get more)."""
    finite = np.abs(values[np.isfinite(values)])
    if finite.size == 0:
        return 0
    typical = float(np.partition(finite, finite.size // 2)[finite.size // 2])  # the median, cheaply
    decimals = max(0, min(12, digits - 1 - (int(math.floor(math.log10(typical))) if typical > 0 else 0)))
    biggest = float(finite.max())
    if biggest > 0:  # integers (and their differences) stay exact in a double, and in JavaScript, below 2^53
        decimals = min(decimals, int(math.floor(math.log10(2**52 / biggest))))
    return decimals


def plain_line(lo: np.ndarray, hi: np.ndarray) -> dict[str, list[float | None]]:
    both = np.concatenate([lo, hi])
    rounded = np.round(both, _decimals(both))
    values = [v if math.isfinite(v) else None for v in rounded.tolist()]
    return {"min": values[: len(lo)], "max": values[len(lo) :]}


def packed_line(lo: np.ndarray, hi: np.ndarray) -> dict[str, Any]:
    """``{"e", "d", "gaps"}``: the values that exist, as integer steps; the empty stretches as [index, length]."""
    both = np.empty(2 * len(lo))
    both[0::2], both[1::2] = lo, hi
    e = _decimals(both)
    present = np.isfinite(both)
    ints = np.round(both[present] * 10.0**e).astype(np.int64)
    edges = np.flatnonzero(
        np.diff(np.concatenate([[1], present.astype(np.int8), [1]]))
    )  # where runs of gaps start/end
    gaps = [[int(a), int(b - a)] for a, b in zip(edges[0::2], edges[1::2], strict=True)]
    return {"e": e, "d": np.diff(ints, prepend=0).tolist(), "gaps": gaps}
