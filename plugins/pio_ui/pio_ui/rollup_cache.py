"""The chart rollups on disk, so that a restarted UI server resumes them instead of rebuilding them.

One ``.npz`` file (numpy's own format, no pickles) per experiment and chart in
``<data dir>/cache/ui-history/``: a JSON header (format version, the fingerprint of the chart's SQL
source, each line's first minute and length, each unit's newest minute folded in) and every line's
per-minute minima and maxima, concatenated. Written to a temporary file and renamed over the old
one, so a reader sees the old file or the new one, never half of one. Whatever is wrong with a file
(missing, truncated, another format or another chart definition) makes :func:`load` answer None:
the caller rebuilds from the database.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import re
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

FORMAT = 1
logger = logging.getLogger("pioreactor.ui.history")
_MINUTE = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d")


@dataclass
class Saved:
    tracks: dict[str, tuple[int, np.ndarray, np.ndarray]]  # line -> (first epoch minute, mins, maxs)
    units: set[str]
    last_minute: dict[str, str]  # unit -> "YYYY-MM-DDTHH:MM" of its newest minute folded in


def fingerprint(*parts: Any) -> str:
    """A digest of what defines a chart's rollup (its table, value expression, filter, split)."""
    text = json.dumps([FORMAT, *parts], default=str, sort_keys=True)
    return hashlib.sha256(text.encode()).hexdigest()[:32]


def path_for(cache_dir: Path, experiment: str, series: str) -> Path:
    readable = re.sub(r"[^A-Za-z0-9_.-]+", "_", f"{experiment}--{series}")[:80]
    digest = hashlib.sha256(f"{experiment}\0{series}".encode()).hexdigest()[:12]
    return cache_dir / f"{readable}-{digest}.npz"


def save(path: Path, header: dict[str, Any], tracks: dict[str, tuple[int, np.ndarray, np.ndarray]]) -> None:
    """Write atomically (a temporary file in the same directory, fsync, rename)."""
    keys = sorted(tracks)
    head = {
        **header,
        "format": FORMAT,
        "keys": keys,
        "starts": [int(tracks[k][0]) for k in keys],
        "sizes": [len(tracks[k][1]) for k in keys],
        "saved_at": time.time(),
    }
    mins = np.concatenate([tracks[k][1] for k in keys]) if keys else np.empty(0)
    maxs = np.concatenate([tracks[k][2] for k in keys]) if keys else np.empty(0)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as f:
            np.savez(
                f,
                header=np.frombuffer(json.dumps(head).encode(), dtype=np.uint8),
                mins=mins.astype(np.float64, copy=False),
                maxs=maxs.astype(np.float64, copy=False),
            )
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def load(path: Path, experiment: str, series: str, digest: str) -> Saved | None:
    """The saved rollup if the file is there, whole, of this format and of this chart definition; else None."""
    if not path.exists():
        return None
    try:
        with np.load(path, allow_pickle=False) as z:
            head = json.loads(bytes(z["header"]).decode())
            mins, maxs = z["mins"], z["maxs"]
        reason = _invalid(head, mins, maxs, experiment, series, digest)
        if reason is None:
            tracks: dict[str, tuple[int, np.ndarray, np.ndarray]] = {}
            offset = 0
            for key, start, size in zip(head["keys"], head["starts"], head["sizes"], strict=True):
                tracks[key] = (int(start), mins[offset : offset + size], maxs[offset : offset + size])
                offset += size
            return Saved(tracks, set(head["units"]), dict(head["last_minute"]))
    except Exception as e:  # noqa: BLE001 - any damage means: rebuild
        reason = f"unreadable ({type(e).__name__}: {e})"
    logger.info("rollup cache %s not used, rebuilding from the database: %s", path.name, reason)
    return None


def _invalid(
    head: Any, mins: np.ndarray, maxs: np.ndarray, experiment: str, series: str, digest: str
) -> str | None:
    if not isinstance(head, dict) or head.get("format") != FORMAT:
        return "another format"
    if head.get("experiment") != experiment or head.get("series") != series:
        return "another experiment or chart"
    if head.get("fingerprint") != digest:
        return "the chart's definition changed"
    keys, starts, sizes = head.get("keys"), head.get("starts"), head.get("sizes")
    units, last = head.get("units"), head.get("last_minute")
    if not (isinstance(keys, list) and isinstance(starts, list) and isinstance(sizes, list)):
        return "no line index"
    if not (len(keys) == len(starts) == len(sizes)) or not all(isinstance(k, str) for k in keys):
        return "a damaged line index"
    if not all(isinstance(n, int) and n >= 0 for n in [*starts, *sizes]):
        return "a damaged line index"
    if not (isinstance(units, list) and isinstance(last, dict)):
        return "no units"
    if not all(isinstance(m, str) and _MINUTE.fullmatch(m) for m in last.values()):
        return "a damaged last minute"
    for a in (mins, maxs):
        if a.dtype != np.float64 or a.ndim != 1 or len(a) != sum(sizes):
            return "arrays of the wrong shape"
    return None


def remove_stale_temporaries(cache_dir: Path, older_than_s: float = 3600) -> None:
    """Temporary files of writers that were killed mid-write."""
    if not cache_dir.is_dir():
        return
    for tmp in cache_dir.glob(".*.tmp"):
        try:
            if time.time() - tmp.stat().st_mtime > older_than_s:
                tmp.unlink()
        except OSError:
            pass
