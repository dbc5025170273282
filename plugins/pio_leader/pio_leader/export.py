"""`pio export`: an experiment's datasets to one zip of CSV or Parquet files, with a manifest.

Streamed: rows leave the database in batches of Arrow record batches and are written into the
zip entry at once, so memory stays flat whatever the size. On SQLite the rows go from the
database to Arrow in C (the ADBC SQLite driver), read ahead on a thread of their own without
the GIL (:mod:`.export_stream`); on PostgreSQL (a server-side cursor), and without that driver,
through the DB-API cursor. :mod:`.export_files` writes the files with arro3 (Arrow in Rust):
pyarrow is not used, its import alone costs 30 to 40 MB of memory. So three threads share the
cores: the database read, the CSV or Parquet writer, and (CSV) the deflate.
``manifest.json`` lists each dataset's file, columns (type and physical unit), row count and
time range, and the filters used.

This module is pio-leader's ``leader.export`` service (see docs/leader-storage.md): other plugins
get it with ``service("leader.export")`` and use :func:`datasets`, :func:`count_rows`,
:func:`export_experiment` and :class:`Dataset`, whose signatures are the contract.
"""

from __future__ import annotations

import json
import zipfile
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, NamedTuple

import click
import peewee
from pioreactor_kernel.timestamps import current_utc_timestamp

from .export_files import (
    CSV_TEXT_END,
    Compressor,
    arrow_type,
    csv_text,
    schema,
    write_csv,
    write_parquet,
    zip_entry,
)
from .export_rows import CACHE_KIB, adbc_connection, adbc_fetch, dbapi_fetch
from .storage import TableSet, load_table_sets, quote

ARROW_TYPES = {
    "TEXT": "string",
    "VARCHAR": "string",
    "DOUBLE": "float64",
    "FLOAT": "float64",
    "REAL": "float64",
    "INT": "int64",
    "INTEGER": "int64",
    "SMALLINT": "int64",
    "BIGINT": "int64",
    "BOOL": "bool",
    "BOOLEAN": "bool",
}


class ExportError(click.ClickException):
    pass


@dataclass
class Dataset:
    name: str
    model: type[peewee.Model]
    columns: list[str]
    arrow_types: list[str]
    units: dict[str, str] = field(default_factory=dict)
    nullable: dict[str, bool] = field(default_factory=dict)


def datasets(table_sets: Sequence[TableSet] | None = None) -> dict[str, Dataset]:
    """Every registered table with ``experiment`` and ``timestamp`` columns is an exportable dataset.

    ``table_sets`` defaults to every registered table set.
    """
    found = {}
    for ts in load_table_sets() if table_sets is None else table_sets:
        for model in ts.models:
            fields = [f for f in model._meta.sorted_fields if not isinstance(f, peewee.AutoField)]
            names = [f.column_name for f in fields]
            if "experiment" in names and "timestamp" in names:
                types = [ARROW_TYPES.get(str(f.field_type).upper(), "string") for f in fields]
                found[model._meta.table_name] = Dataset(
                    model._meta.table_name,
                    model,
                    names,
                    types,
                    dict(getattr(model, "units", {}) or {}),
                    {f.column_name: bool(f.null) for f in fields},
                )
    return found


def export_experiment(
    db: peewee.Database,
    chosen: Sequence[Dataset],
    experiment: str,
    output: Path,
    *,
    fmt: str = "csv",
    start: str | None = None,
    end: str | None = None,
    units: Sequence[str] = (),
    progress: Callable[[int], None] | None = None,
) -> dict[str, Any]:
    """Write the zip; returns the manifest (also stored in it as ``manifest.json``)."""
    small_page_cache(db)
    manifest: dict[str, Any] = {
        "experiment": experiment,
        "exported_at": current_utc_timestamp(),
        "format": fmt,
        "filters": {"start": start, "end": end, "units": list(units)},
        "datasets": [],
    }
    with zipfile.ZipFile(
        output, "w", compression=zipfile.ZIP_DEFLATED, compresslevel=1, allowZip64=True
    ) as zf:
        for ds in chosen:
            name = f"{ds.name}.{'parquet' if fmt == 'parquet' else 'csv'}"
            info = zip_entry(name, deflated=fmt != "parquet")  # Parquet is compressed already
            stats = _Stats(fmt == "csv", progress)
            batches = stats.counted(_record_batches(db, ds, fmt == "csv", experiment, start, end, units))
            with zf.open(info, "w", force_zip64=True) as entry:
                if fmt == "parquet":
                    write_parquet(batches, ds.columns, ds.arrow_types, entry)
                else:
                    with Compressor(entry) as sink:  # compresses on another core meanwhile
                        write_csv(batches, ds.columns, ds.arrow_types, sink)
            manifest["datasets"].append(
                {
                    "name": ds.name,
                    "file": name,
                    "rows": stats.rows,
                    "time_range": [stats.first, stats.last],
                    "columns": [
                        {"name": c, "type": t, "unit": ds.units.get(c)}
                        for c, t in zip(ds.columns, ds.arrow_types, strict=True)
                    ],
                }
            )
        zf.writestr("manifest.json", json.dumps(manifest, indent=2))
    return manifest


def small_page_cache(db: peewee.Database) -> None:
    """One pass over the rows gains nothing from the writer's 16 MB page cache: 512 KiB will do."""
    if isinstance(db, peewee.SqliteDatabase):
        db.execute_sql(f"PRAGMA cache_size = {CACHE_KIB}")


def count_rows(
    db: peewee.Database,
    ds: Dataset,
    experiment: str,
    start: str | None = None,
    end: str | None = None,
    units: Sequence[str] = (),
) -> int:
    """How many rows of ``ds`` :func:`export_experiment` would write with these filters."""
    where, params = _where(db, experiment, start, end, units)
    cursor = db.execute_sql(f"SELECT COUNT(*) FROM {quote(ds.name)} WHERE {where}", params)
    return int(cursor.fetchone()[0])


def _where(
    db: peewee.Database, experiment: str, start: str | None, end: str | None, units: Sequence[str | None]
) -> tuple[str, list[Any]]:
    """``units``: only these; ``[None]``: only the rows without a unit."""
    p = db.param
    clauses = [f"{quote('experiment')} = {p}"]
    params: list[Any] = [experiment]
    if start:
        clauses.append(f"{quote('timestamp')} >= {p}")
        params.append(start)
    if end:
        clauses.append(f"{quote('timestamp')} < {p}")
        params.append(end)
    if list(units) == [None]:
        clauses.append(f"{quote('pioreactor_unit')} IS NULL")
    elif units:
        clauses.append(f"{quote('pioreactor_unit')} IN ({', '.join([p] * len(units))})")
        params.extend(units)
    return " AND ".join(clauses), params


def _partitions(
    db: peewee.Database,
    ds: Dataset,
    csv: bool,
    experiment: str,
    start: str | None,
    end: str | None,
    units: Sequence[str],
) -> Iterator[tuple[dict[str, str | None], list[str], str, list[Any]]]:
    """The queries of an export: one per unit, in time order (``fixed`` columns, fetched columns, SQL, params);
    then, unless units were chosen, one for the rows without a unit (a note about the whole experiment).

    The experiment and the unit are the same for a whole query: they are not fetched (they would be
    costly columns, a new string per row) but added to each batch as constants. For CSV, the
    database appends a carriage return to each text (see :func:`export_files.write_csv`).
    """
    constants: dict[str, str | None] = {"experiment": experiment}
    partitions: list[dict[str, str | None]] = [constants]
    if "pioreactor_unit" in ds.columns:
        chosen: list[str | None] = list(units) or [*_units(db, ds, experiment, start, end), None]
        partitions = [
            {**constants, "pioreactor_unit": u}
            for u in chosen
            if u is not None or ds.nullable.get("pioreactor_unit", True)
        ]
    for fixed in partitions:
        fetched = [c for c in ds.columns if c not in fixed]
        where, params = _where(
            db, experiment, start, end, [fixed["pioreactor_unit"]] if len(fixed) > 1 else ()
        )
        columns = ", ".join(
            f"{quote(c)} || '{CSV_TEXT_END}' AS {quote(c)}" if csv and t == "string" else quote(c)
            for c, t in zip(ds.columns, ds.arrow_types, strict=True)
            if c in fetched
        )
        # the table's own timestamp (a CSV column of that name is the quoted text): its clustered key order
        sql = f"SELECT {columns} FROM {quote(ds.name)} WHERE {where} ORDER BY {quote(ds.name)}.{quote('timestamp')}"
        yield fixed, fetched, sql, params


def _units(
    db: peewee.Database, ds: Dataset, experiment: str, start: str | None, end: str | None
) -> list[str]:
    """The experiment's units, by skipping from one to the next: a few index seeks, where DISTINCT
    would read the whole table."""
    where, params = _where(db, experiment, start, end, ())
    unit = quote("pioreactor_unit")
    sql = f"SELECT MIN({unit}) FROM {quote(ds.name)} WHERE {where} AND {unit} > {db.param}"
    found: list[str] = []
    while (row := db.execute_sql(sql, [*params, found[-1] if found else ""]).fetchone()) and row[
        0
    ] is not None:
        found.append(row[0])
    return found


def _record_batches(
    db: peewee.Database,
    ds: Dataset,
    csv: bool,
    experiment: str,
    start: str | None,
    end: str | None,
    units: Sequence[str],
) -> Iterator[tuple[bytes, Any]]:
    """(CSV prefix, Arrow record batch): through ADBC's SQLite driver when it is there (SQLite to
    Arrow in C, no Python object per value), else through the DB-API cursor.

    For Parquet the batch has every column and the prefix is empty. For CSV, the constant columns
    that lead a row (the experiment and the unit) are not in the batch: they are the prefix of
    each of its lines, as CSV text.
    """
    from arro3.core import Array, RecordBatch

    types = dict(zip(ds.columns, ds.arrow_types, strict=True))
    constant_arrays: dict[tuple[str | None, int], Any] = {}

    def constant(value: str | None, n: int) -> Any:
        key = (value, n)
        if key not in constant_arrays:
            constant_arrays.clear()  # one partition at a time: its value, in batches of one size but the last
            constant_arrays[key] = Array([value] * n, arrow_type("string"))
        return constant_arrays[key]

    partitions = list(_partitions(db, ds, csv, experiment, start, end, units))
    queries = [(sql, params, fetched, [types[c] for c in fetched]) for _, fetched, sql, params in partitions]
    layouts = [_layout(ds, csv, fixed) for fixed, _, _, _ in partitions]
    adbc = adbc_connection(db)
    chunks = adbc_fetch(adbc, queries) if adbc is not None else dbapi_fetch(db, queries, ds.name)
    try:
        for number, columns in chunks:
            layout, n = layouts[number], len(columns[0])
            by_name = dict(zip(partitions[number][1], columns, strict=True))
            yield (
                layout.prefix,
                RecordBatch.from_arrays(
                    [
                        by_name[c] if c in by_name else constant(layout.constants[c], n)
                        for c in layout.columns
                    ],
                    schema=layout.schema,
                ),
            )
    finally:
        chunks.close()  # its statements (and reading thread) before the connection, if stopped early
        if adbc is not None:
            adbc.close()


class _Layout(NamedTuple):
    prefix: bytes  # CSV: the leading constant columns, in front of each line
    columns: list[str]  # the batch's
    schema: Any
    constants: dict[str, str | None]  # the partition's constant columns (CSV: their text as fetched)


def _layout(ds: Dataset, csv: bool, fixed: dict[str, str | None]) -> _Layout:
    leading = 0
    while csv and leading < len(ds.columns) and ds.columns[leading] in fixed:
        leading += 1
    types = dict(zip(ds.columns, ds.arrow_types, strict=True))
    columns = ds.columns[leading:]
    return _Layout(
        "".join(_csv_constant(fixed[c]) + "," for c in ds.columns[:leading]).encode(),
        columns,
        schema(columns, [types[c] for c in columns]),
        {c: v + CSV_TEXT_END if csv and v is not None else v for c, v in fixed.items()},
    )


def _csv_constant(value: str | None) -> str:
    return "" if value is None else csv_text(value)


class _Stats:
    """Counts the rows of the batches going by, reports progress, and keeps the time range."""

    def __init__(self, csv: bool, progress: Callable[[int], None] | None) -> None:
        self.csv, self.progress = csv, progress
        self.rows = 0
        self.first: str | None = None
        self.last: str | None = None

    def counted(self, batches: Iterator[tuple[bytes, Any]]) -> Iterator[tuple[bytes, Any]]:
        for prefix, batch in batches:
            n = batch.num_rows
            stamps = batch.column("timestamp")
            lo, hi = (
                self._text(stamps[0].as_py()),
                self._text(stamps[n - 1].as_py()),
            )  # in time order within a unit
            self.first = lo if self.first is None or lo < self.first else self.first
            self.last = hi if self.last is None or hi > self.last else self.last
            self.rows += n
            yield prefix, batch
            if self.progress:
                self.progress(n)

    def _text(self, value: str) -> str:
        return value[:-1] if self.csv else value
