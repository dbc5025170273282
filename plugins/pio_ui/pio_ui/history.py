"""History for charts, downsampled on the server with min and max per bucket (spikes are kept).

A request names a window and the chart's width in pixels; the bucket width is the first step of
a fixed ladder (1 s ... 1 day) that gives at most one bucket per pixel, so a browser can merge
live points into the same grid and backfill a gap with the same buckets. Per bucket the server
sends the minimum and the maximum: a one-sample spike between two pixels is never lost.

Buckets of a minute or more are built from per-minute min/max rollups kept in memory (numpy,
16 bytes per unit-minute: a week of 16 units is ~2.6 MB per chart), made by one SQL aggregate
per chart and kept up to date by small indexed queries per unit; finer buckets (windows under
about half a day) are aggregated by SQL from the raw rows of each unit.

The rollups are also saved in the data dir (``cache/ui-history/``, see ``rollup_cache``) after a
build and then at most every ``persist_s``: a restarted server loads them and brings them up to date
with the same indexed queries per unit (from each unit's newest minute folded in), instead of the
aggregate over every row. A missing, damaged or outdated file (another format, another definition
of the chart, a unit of the file no longer in the database) means the full build, as without it.
In both cases rows that arrive later with a timestamp older than their unit's newest minute already
folded in are not picked up (they are, at the next full build).

Lines go out plain (``min``/``max`` lists) or packed (integer steps, see ``History.query``): the
browser asks for a page's charts in one request and gets them packed (a 7-day overview of 16 units:
~30 ms of server CPU, ~110 KB gzip).
"""

from __future__ import annotations

import logging
import math
import re
import threading
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal

import numpy as np

from . import rollup_cache
from .line_encoding import packed_line, plain_line
from .names import SETTINGS_HISTORY, Series
from .store import Store

LADDER_S = (1, 2, 5, 10, 15, 30, 60, 120, 300, 600, 900, 1800, 3600, 7200, 10800, 21600, 43200, 86400)
MAX_BUCKETS = 4000
PERSIST_S = 300.0
logger = logging.getLogger("pioreactor.ui.history")
_IDENT = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


def bucket_width_s(span_s: float, width_px: int) -> int:
    """The first ladder step giving at most ``width_px`` buckets over ``span_s``."""
    need = span_s / max(1, width_px)
    for step in LADDER_S:
        if step >= need:
            return step
    return int(math.ceil(need / 86400) * 86400)


def iso(epoch: float) -> str:
    return datetime.fromtimestamp(epoch, UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


_hours: dict[str, int] = {}


def minute_index(text: str) -> int:
    """Epoch minutes of ``YYYY-MM-DDTHH:MM`` (cached per hour: rollup builds parse many)."""
    hour = _hours.get(text[:13])
    if hour is None:
        hour = int(datetime.fromisoformat(text[:13] + ":00:00+00:00").timestamp()) // 60
        if len(_hours) > 100_000:
            _hours.clear()
        _hours[text[:13]] = hour
    return hour + int(text[14:16])


def check_identifiers(series: Series) -> None:
    for name in (series.table, series.column, series.split or "x", *series.where):
        if not _IDENT.fullmatch(name):
            raise ValueError(f"chart {series.name}: {name!r} is not a plain SQL identifier")


class _Track:
    """Per-minute min and max of one line (unit or unit:channel), growing as time goes on."""

    __slots__ = ("start", "mins", "maxs", "size")

    def __init__(self, start: int):
        self.start, self.size = start, 0
        self.mins = np.full(1024, np.nan)
        self.maxs = np.full(1024, np.nan)

    def put(self, minute: int, lo: float, hi: float) -> bool:
        """Set one minute; True if that changed it (a refresh reads each unit's newest minute again)."""
        if minute < self.start:
            shift = self.start - minute
            self.mins = np.concatenate([np.full(shift, np.nan), self.mins])
            self.maxs = np.concatenate([np.full(shift, np.nan), self.maxs])
            self.start, self.size = minute, self.size + shift
        i = minute - self.start
        if i >= len(self.mins):
            grow = max(i + 1, 2 * len(self.mins)) - len(self.mins)
            self.mins = np.concatenate([self.mins, np.full(grow, np.nan)])
            self.maxs = np.concatenate([self.maxs, np.full(grow, np.nan)])
        if i < self.size and self.mins[i] == lo and self.maxs[i] == hi:
            return False
        self.mins[i], self.maxs[i] = lo, hi
        self.size = max(self.size, i + 1)
        return True

    @classmethod
    def restored(cls, start: int, mins: np.ndarray, maxs: np.ndarray) -> _Track:
        track = cls(start)
        track.size = len(mins)
        track.mins = np.full(track.size + 1440, np.nan)  # a day to grow into
        track.maxs = np.full(track.size + 1440, np.nan)
        track.mins[: track.size], track.maxs[: track.size] = mins, maxs
        return track

    def window_into(self, first_minute: int, lo_out: np.ndarray, hi_out: np.ndarray) -> None:
        """Copy the minutes from ``first_minute`` on into the (NaN-filled) rows given."""
        a, b = max(first_minute, self.start), min(first_minute + len(lo_out), self.start + self.size)
        if b > a:
            lo_out[a - first_minute : b - first_minute] = self.mins[a - self.start : b - self.start]
            hi_out[a - first_minute : b - first_minute] = self.maxs[a - self.start : b - self.start]


class _Rollup:
    def __init__(self) -> None:
        self.tracks: dict[str, _Track] = {}
        self.units: set[str] = set()
        self.last_minute: dict[str, str] = {}  # unit -> "YYYY-MM-DDTHH:MM" of its newest stored row
        self.built = False
        self.refreshed = 0.0
        self.lock = threading.Lock()
        self.changed = False  # since the last save
        self.saved = -math.inf  # time.monotonic() of the last save
        self.save_lock = threading.Lock()  # one writer at a time

    def add(self, unit: str, split: Any, minute_text: str, lo: Any, hi: Any) -> None:
        if lo is None or hi is None:
            return
        key = unit if split in (None, "") else f"{unit}:{split}"
        minute = minute_index(minute_text)
        track = self.tracks.get(key)
        if track is None:
            track = self.tracks[key] = _Track(minute)
        if track.put(minute, float(lo), float(hi)):
            self.changed = True
        self.units.add(unit)
        if minute_text > self.last_minute.get(unit, ""):
            self.last_minute[unit] = minute_text


class History:
    def __init__(
        self,
        store: Store,
        series: list[Series],
        refresh_s: float = 5.0,
        cache_dir: Path | Literal[False] | None = None,
        persist_s: float = PERSIST_S,
    ) -> None:
        """``cache_dir``: where rollups are saved (None: ``<data dir>/cache/ui-history``; False: nowhere)."""
        self.store = store
        self.series = {s.name: s for s in series}
        for s in series:
            check_identifiers(s)
        self.refresh_s = refresh_s
        self.persist_s = persist_s
        if cache_dir is None:
            from pioreactor_kernel.paths import data_dir

            cache_dir = data_dir() / "cache" / "ui-history"
        self.cache_dir: Path | None = cache_dir or None
        self._rollups: dict[tuple[str, str], _Rollup] = {}
        self._lock = threading.Lock()

    def prewarm(self, experiment: str, known_units: set[str] | None = None) -> None:
        """Build every chart's rollups now (in a background thread at start), not on a user's first load."""
        if self.cache_dir is not None:
            rollup_cache.remove_stale_temporaries(self.cache_dir)
        for s in self.series.values():
            try:
                if self.store.available and self.store.table_exists(s.table):
                    self._rollup(experiment, s, known_units or set())
            except Exception as e:  # noqa: BLE001 - the request path will report it
                logger.warning("prewarming %s failed: %s", s.name, e)

    # ------------------------------------------------------------------ SQL pieces
    def _source(self, s: Series) -> tuple[str, str, list[Any]]:
        """(value expression, extra WHERE, its parameters) of a series."""
        if s.table == SETTINGS_HISTORY:
            value = self.store.number_expr("value", s.json_key)
            return value, " AND job_name = ? AND setting = ? AND value <> ''", [s.job, s.setting]
        extra = "".join(f" AND {k} = ?" for k in s.where)
        return s.column, extra, list(s.where.values())

    def _rollup(self, experiment: str, s: Series, known_units: set[str]) -> _Rollup:
        with self._lock:
            rollup = self._rollups.setdefault((experiment, s.name), _Rollup())
        with rollup.lock:
            if not rollup.built:
                if not self._restore(experiment, s, rollup, known_units):
                    value, extra, params = self._source(s)
                    split = s.split or "''"
                    sql = (
                        f"SELECT pioreactor_unit, {split}, substr(timestamp, 1, 16) AS m, MIN({value}), "
                        f"MAX({value}) FROM {s.table} WHERE experiment = ?{extra} GROUP BY pioreactor_unit, {split}, m"
                    )
                    for row in self.store.rows(sql, [experiment, *params]):
                        rollup.add(*row)
                    rollup.built, rollup.refreshed = True, time.monotonic()
            elif time.monotonic() - rollup.refreshed >= self.refresh_s:
                self._refresh(experiment, s, rollup, known_units)
            due = rollup.changed and time.monotonic() - rollup.saved >= self.persist_s
        if due and self.cache_dir is not None and not rollup.save_lock.locked():
            threading.Thread(
                target=self._save_quietly, args=(experiment, s, rollup), name="ui-history-save", daemon=True
            ).start()
        return rollup

    # ------------------------------------------------------------------ on disk
    def _fingerprint(self, s: Series) -> str:
        value, extra, params = self._source(s)
        return rollup_cache.fingerprint(s.table, value, extra, params, s.split or "", self.store.postgres)

    def _restore(self, experiment: str, s: Series, rollup: _Rollup, known_units: set[str]) -> bool:
        """Load the saved rollup and bring it up to date (under ``rollup.lock``); False: build it instead."""
        if self.cache_dir is None:
            return False
        saved = rollup_cache.load(
            rollup_cache.path_for(self.cache_dir, experiment, s.name),
            experiment,
            s.name,
            self._fingerprint(s),
        )
        if saved is None:
            return False
        units = self._units(experiment, s)
        if not saved.units <= units:  # a unit's rows are gone (the database was replaced or cleaned)
            logger.info(
                "rollup cache of %s/%s not used: its units are not all in the database", experiment, s.name
            )
            return False
        rollup.tracks = {k: _Track.restored(start, lo, hi) for k, (start, lo, hi) in saved.tracks.items()}
        rollup.units, rollup.last_minute = set(saved.units), dict(saved.last_minute)
        rollup.built, rollup.saved, rollup.changed = True, time.monotonic(), False
        self._refresh(experiment, s, rollup, known_units | units)
        return True

    def _units(self, experiment: str, s: Series) -> set[str]:
        """The experiment's units in the chart's table, skipping from one to the next (index seeks, no scan)."""
        sql = (
            f"WITH RECURSIVE u(unit) AS (SELECT MIN(pioreactor_unit) FROM {s.table} WHERE experiment = ? "
            f"UNION ALL SELECT (SELECT MIN(pioreactor_unit) FROM {s.table} WHERE experiment = ? "
            "AND pioreactor_unit > u.unit) FROM u WHERE u.unit IS NOT NULL) SELECT unit FROM u WHERE unit IS NOT NULL"
        )
        return {row[0] for row in self.store.rows(sql, [experiment, experiment])}

    def save(self, experiment: str | None = None) -> None:
        """Save the built rollups (of ``experiment``, or all) now; for a server that stops, and tests."""
        with self._lock:
            rollups = [(e, name, r) for (e, name), r in self._rollups.items() if experiment in (None, e)]
        for e, name, rollup in rollups:
            if rollup.built and self.cache_dir is not None:
                self._save(e, self.series[name], rollup)

    def _save_quietly(self, experiment: str, s: Series, rollup: _Rollup) -> None:
        try:
            self._save(experiment, s, rollup)
        except Exception as e:  # noqa: BLE001 - the next save tries again; the in-memory rollup is intact
            logger.warning("saving the rollup of %s/%s failed: %s", experiment, s.name, e)

    def _save(self, experiment: str, s: Series, rollup: _Rollup) -> None:
        assert self.cache_dir is not None
        with rollup.save_lock:
            with rollup.lock:  # a copy (a few MB, ~ms): requests wait for it, not for the disk
                tracks = {
                    k: (t.start, t.mins[: t.size].copy(), t.maxs[: t.size].copy())
                    for k, t in rollup.tracks.items()
                }
                header = {
                    "experiment": experiment,
                    "series": s.name,
                    "fingerprint": self._fingerprint(s),
                    "units": sorted(rollup.units),
                    "last_minute": dict(rollup.last_minute),
                }
                rollup.changed, rollup.saved = False, time.monotonic()
            try:
                rollup_cache.save(rollup_cache.path_for(self.cache_dir, experiment, s.name), header, tracks)
            except BaseException:
                rollup.changed = True
                raise

    def _refresh(self, experiment: str, s: Series, rollup: _Rollup, known_units: set[str]) -> None:
        """Re-aggregate each unit's minutes from its newest stored minute on (an indexed range)."""
        value, extra, params = self._source(s)
        split = s.split or "''"
        sql = (
            f"SELECT pioreactor_unit, {split}, substr(timestamp, 1, 16) AS m, MIN({value}), MAX({value}) "
            f"FROM {s.table} WHERE experiment = ? AND pioreactor_unit = ? AND timestamp >= ?{extra} "
            f"GROUP BY pioreactor_unit, {split}, m"
        )
        units = sorted(rollup.units | known_units)
        found = self.store.rows_each(
            sql, [[experiment, u, rollup.last_minute.get(u, ""), *params] for u in units]
        )
        for rows in found:
            for row in rows:
                rollup.add(*row)
        rollup.refreshed = time.monotonic()

    # ------------------------------------------------------------------ queries
    def query(
        self,
        experiment: str,
        name: str,
        start: float,
        end: float,
        width_px: int,
        known_units: set[str] | None = None,
        bucket_s: int | None = None,
        packed: bool = False,
    ) -> dict[str, Any]:
        """Min/max per bucket of every line of chart ``name`` in ``[start, end)`` (epoch seconds).

        Each line is ``{"min": [...], "max": [...]}`` (null: an empty bucket), or with ``packed``
        ``{"e": e, "d": [...], "gaps": [[i, k], ...]}``: the sequence min, max of each bucket in turn,
        without its empty stretches (``k`` entries from index ``i``), each value the integer step
        from the previous one in units of 10^-e. The same values, with much less JSON to write and
        parse, and it compresses better."""
        s = self.series.get(name)
        if s is None:
            raise KeyError(f"no chart {name!r} (charts: {', '.join(self.series)})")
        if not (math.isfinite(start) and math.isfinite(end)) or end <= start:
            raise ValueError("the window needs finite start < end (epoch seconds)")
        width_px = max(10, min(int(width_px), MAX_BUCKETS))
        w = (
            int(bucket_s)
            if bucket_s in LADDER_S or (bucket_s and bucket_s % 86400 == 0)
            else bucket_width_s(end - start, width_px)
        )
        t0 = math.floor(start / w) * w
        n = max(1, math.ceil((end - t0) / w))
        if n > MAX_BUCKETS:
            raise ValueError(f"{n} buckets of {w} s: ask for a wider bucket or a shorter window")
        known = known_units or set()
        lines: dict[str, tuple[np.ndarray, np.ndarray]] = {}
        if self.store.available and self.store.table_exists(s.table):
            rollup = self._rollup(experiment, s, known)
            if w % 60 == 0:
                self._from_rollup(rollup, t0, n, w, lines)
            else:
                self._from_rows(experiment, s, rollup.units | known, t0, n, w, lines)
        encode = packed_line if packed else plain_line
        return {
            "series": s.name,
            "title": s.title,
            "unit": s.unit,
            "step": s.step,
            "bucket_s": w,
            "t0": t0,
            "n": n,
            "data": {key: encode(lo, hi) for key, (lo, hi) in lines.items()},
        }

    def _from_rollup(self, rollup: _Rollup, t0: float, n: int, w: int, out: dict[str, Any]) -> None:
        k = w // 60
        first = int(t0 // 60)
        with rollup.lock:
            tracks = list(rollup.tracks.items())
        group = max(1, 2_000_000 // (n * k))  # lines reduced together (one numpy call), ~32 MB at most
        for g in range(0, len(tracks), group):
            part = tracks[g : g + group]
            los, his = np.full((len(part), n * k), np.nan), np.full((len(part), n * k), np.nan)
            for i, (_, track) in enumerate(part):
                track.window_into(first, los[i], his[i])
            lo_all = np.fmin.reduce(los.reshape(len(part), n, k), axis=2)  # minutes -> buckets
            hi_all = np.fmax.reduce(his.reshape(len(part), n, k), axis=2)
            for i, (key, _) in enumerate(part):
                if not np.isnan(lo_all[i]).all():
                    out[key] = (lo_all[i], hi_all[i])

    def _from_rows(
        self, experiment: str, s: Series, units: set[str], t0: float, n: int, w: int, out: dict[str, Any]
    ) -> None:
        value, extra, params = self._source(s)
        split = s.split or "''"
        epoch = self.store.epoch_expr()
        sql = (
            f"SELECT {split}, CAST(({epoch} - ?) / ? AS INTEGER) AS b, MIN({value}), MAX({value}) FROM {s.table} "
            f"WHERE experiment = ? AND pioreactor_unit = ? AND timestamp >= ? AND timestamp < ?{extra} "
            f"GROUP BY {split}, b"
        )
        lo_text, hi_text = iso(t0), iso(t0 + n * w)
        ordered = sorted(units)
        found = self.store.rows_each(
            sql, [[t0, w, experiment, u, lo_text, hi_text, *params] for u in ordered]
        )
        for unit, rows in zip(ordered, found, strict=True):
            lines: dict[str, tuple[np.ndarray, np.ndarray]] = {}
            for split_value, b, lo, hi in rows:
                if b is None or lo is None or not 0 <= int(b) < n:
                    continue
                key = unit if split_value in (None, "") else f"{unit}:{split_value}"
                arrays = lines.setdefault(key, (np.full(n, np.nan), np.full(n, np.nan)))
                arrays[0][int(b)], arrays[1][int(b)] = lo, hi
            out.update(lines)

    def dosing_events(self, experiment: str, start: float, end: float, limit: int = 5000) -> list[list[Any]]:
        if not self.store.available or not self.store.table_exists("dosing_events"):
            return []
        rows = self.store.rows(
            f"SELECT pioreactor_unit, {self.store.epoch_expr()}, event, volume_change_ml FROM dosing_events "
            "WHERE experiment = ? AND timestamp >= ? AND timestamp < ? ORDER BY timestamp LIMIT ?",
            [experiment, iso(start), iso(end), limit],
        )
        return [[u, round(t, 3), e, v] for u, t, e, v in rows]
