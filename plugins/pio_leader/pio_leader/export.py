"""`pio export`: an experiment's datasets to one zip of CSV or Parquet files, with a manifest.

Streamed: rows leave the database in chunks (a server-side cursor on PostgreSQL), become Arrow
record batches and are written into the zip entry at once, so memory stays flat whatever the
size. On a second thread the previous chunk is serialised and compressed while the next is read.
``manifest.json`` lists each dataset's file, columns (type and physical unit), row count and time
range, and the filters used.
"""

from __future__ import annotations

import contextlib
import io
import json
import queue
import sys
import threading
import zipfile
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import click
import peewee
from pioreactor_kernel.timestamps import current_utc_timestamp

from .storage import TableSet, is_postgres, quote

CHUNK_ROWS = 16_384
ARROW_TYPES = {"TEXT": "string", "VARCHAR": "string", "DOUBLE": "float64", "FLOAT": "float64", "REAL": "float64",
               "INT": "int64", "INTEGER": "int64", "SMALLINT": "int64", "BIGINT": "int64", "BOOL": "bool",
               "BOOLEAN": "bool"}


class ExportError(click.ClickException):
    pass


@dataclass
class Dataset:
    name: str
    model: type[peewee.Model]
    columns: list[str]
    arrow_types: list[str]
    units: dict[str, str] = field(default_factory=dict)


def datasets(table_sets: Sequence[TableSet]) -> dict[str, Dataset]:
    """Every registered table with ``experiment`` and ``timestamp`` columns is an exportable dataset."""
    found = {}
    for ts in table_sets:
        for model in ts.models:
            fields = [f for f in model._meta.sorted_fields if not isinstance(f, peewee.AutoField)]
            names = [f.column_name for f in fields]
            if "experiment" in names and "timestamp" in names:
                types = [ARROW_TYPES.get(str(f.field_type).upper(), "string") for f in fields]
                found[model._meta.table_name] = Dataset(model._meta.table_name, model, names, types,
                                                        dict(getattr(model, "units", {}) or {}))
    return found


def export_experiment(db: peewee.Database, chosen: Sequence[Dataset], experiment: str, output: Path, *,
                      fmt: str = "csv", start: str | None = None, end: str | None = None,
                      units: Sequence[str] = (), progress: Callable[[int], None] | None = None) -> dict[str, Any]:
    """Write the zip; returns the manifest (also stored in it as ``manifest.json``)."""
    pa = import_pyarrow()
    if isinstance(db, peewee.SqliteDatabase):
        db.execute_sql("PRAGMA cache_size = -2000")  # a one-pass read gains nothing from a big page cache

    manifest: dict[str, Any] = {"experiment": experiment, "exported_at": current_utc_timestamp(), "format": fmt,
                                "filters": {"start": start, "end": end, "units": list(units)}, "datasets": []}
    with zipfile.ZipFile(output, "w", compression=zipfile.ZIP_DEFLATED, compresslevel=1, allowZip64=True) as zf:
        for ds in chosen:
            schema = pa.schema([(c, getattr(pa, t)()) for c, t in zip(ds.columns, ds.arrow_types, strict=True)])
            name = f"{ds.name}.{'parquet' if fmt == 'parquet' else 'csv'}"
            compress = zipfile.ZIP_STORED if fmt == "parquet" else zipfile.ZIP_DEFLATED
            info = zipfile.ZipInfo(name, date_time=_zip_time())
            info.compress_type = compress
            with zf.open(info, "w", force_zip64=True) as entry:
                rows, first, last = _write_dataset(db, ds, schema, entry, fmt, experiment, start, end, units, progress)
            manifest["datasets"].append({
                "name": ds.name, "file": name, "rows": rows, "time_range": [first, last],
                "columns": [{"name": c, "type": t, "unit": ds.units.get(c)}
                            for c, t in zip(ds.columns, ds.arrow_types, strict=True)],
            })
        zf.writestr("manifest.json", json.dumps(manifest, indent=2))
    return manifest


def count_rows(db: peewee.Database, ds: Dataset, experiment: str, start: str | None, end: str | None,
               units: Sequence[str]) -> int:
    where, params = _where(db, experiment, start, end, units)
    cursor = db.execute_sql(f"SELECT COUNT(*) FROM {quote(ds.name)} WHERE {where}", params)
    return int(cursor.fetchone()[0])


def _where(db: peewee.Database, experiment: str, start: str | None, end: str | None,
           units: Sequence[str]) -> tuple[str, list[Any]]:
    p = db.param
    clauses, params = [f"{quote('experiment')} = {p}"], [experiment]
    if start:
        clauses.append(f"{quote('timestamp')} >= {p}")
        params.append(start)
    if end:
        clauses.append(f"{quote('timestamp')} < {p}")
        params.append(end)
    if units:
        clauses.append(f"{quote('pioreactor_unit')} IN ({', '.join([p] * len(units))})")
        params.extend(units)
    return " AND ".join(clauses), params


def _partitions(db: peewee.Database, ds: Dataset, experiment: str, start: str | None, end: str | None,
                units: Sequence[str]) -> Iterator[tuple[dict[str, str], list[str], str, list[Any]]]:
    """The queries of an export: one per unit, in time order (``fixed`` columns, fetched columns, SQL, params).

    The experiment and the unit are the same for a whole query: they are not fetched (they would be
    the costliest columns, a new string per row) but added to each batch as constants.
    """
    constants = {"experiment": experiment}
    partitions: list[dict[str, str]] = [constants]
    if "pioreactor_unit" in ds.columns:
        units = list(units) or _units(db, ds, experiment, start, end)
        partitions = [{**constants, "pioreactor_unit": u} for u in units]
    for fixed in partitions:
        fetched = [c for c in ds.columns if c not in fixed]
        where, params = _where(db, experiment, start, end, [fixed["pioreactor_unit"]] if len(fixed) > 1 else ())
        sql = (f"SELECT {', '.join(map(quote, fetched))} FROM {quote(ds.name)} WHERE {where} "
               f"ORDER BY {quote('timestamp')}")
        yield fixed, fetched, sql, params


def _units(db: peewee.Database, ds: Dataset, experiment: str, start: str | None, end: str | None) -> list[str]:
    """The experiment's units, by skipping from one to the next: a few index seeks, where DISTINCT
    would read the whole table."""
    where, params = _where(db, experiment, start, end, ())
    unit = quote("pioreactor_unit")
    sql = f"SELECT MIN({unit}) FROM {quote(ds.name)} WHERE {where} AND {unit} > {db.param}"
    found: list[str] = []
    while (row := db.execute_sql(sql, [*params, found[-1] if found else ""]).fetchone()) and row[0] is not None:
        found.append(row[0])
    return found


def _record_batches(db: peewee.Database, ds: Dataset, schema: Any, experiment: str, start: str | None,
                    end: str | None, units: Sequence[str]) -> Iterator[Any]:
    """Arrow record batches of ``schema``: through ADBC's SQLite driver when it is there (SQLite to
    Arrow in C, no Python object per value), else through the DB-API cursor."""
    pa = import_pyarrow()
    types = dict(zip(schema.names, schema.types, strict=True))
    adbc = _adbc_connection(db)
    try:
        for fixed, fetched, sql, params in _partitions(db, ds, experiment, start, end, units):
            if adbc is not None:
                chunks = _adbc_fetch(adbc, sql, params, fetched, [types[c] for c in fetched])
            else:
                chunks = (pa.RecordBatch.from_arrays([pa.array(col, type=types[c]) for c, col in
                                                      zip(fetched, zip(*rows, strict=True), strict=True)],
                                                     names=fetched) for rows in _fetch(db, sql, params, ds.name))
            for batch in chunks:
                n = batch.num_rows
                arrays = [batch.column(c) if c in fetched else pa.repeat(pa.scalar(fixed[c], types[c]), n)
                          for c in ds.columns]
                yield pa.RecordBatch.from_arrays(arrays, schema=schema)
    finally:
        if adbc is not None:
            adbc.close()


def _adbc_connection(db: peewee.Database) -> Any:
    """A low-level ADBC connection to the SQLite file, or None (PostgreSQL, or the driver is missing).

    The low-level API, not ``adbc_driver_manager.dbapi``: that one imports numpy and
    ``pyarrow.dataset`` (38 MB) for nothing we use.
    """
    if not isinstance(db, peewee.SqliteDatabase) or db.database == ":memory:":
        return None
    try:
        import_pyarrow()
        import adbc_driver_manager
        import adbc_driver_sqlite
    except ImportError:
        return None
    database = adbc_driver_sqlite.connect(str(db.database))
    return _ADBC(database, adbc_driver_manager.AdbcConnection(database))


class _ADBC:
    def __init__(self, database: Any, connection: Any) -> None:
        self.database, self.connection = database, connection

    def close(self) -> None:
        self.connection.close()
        self.database.close()


def _adbc_fetch(adbc: _ADBC, sql: str, params: list[Any], fetched: list[str], types: list[Any]) -> Iterator[Any]:
    """ADBC infers each column's type from the first batch and refuses a later value of another type
    (a column NULL in its first rows, text later). A first row of typed constants pins the types."""
    import adbc_driver_manager
    import pyarrow as pa

    pins = ", ".join(f"{_PIN.get(str(t), chr(39) * 2)} AS {quote(c)}" for c, t in zip(fetched, types, strict=True))
    statement = adbc_driver_manager.AdbcStatement(adbc.connection)
    try:
        statement.set_options(**{"adbc.sqlite.query.batch_rows": str(CHUNK_ROWS)})
        # UNION ALL yields its arms in order; the second is ordered by the table's clustered key
        statement.set_sql_query(f"SELECT {pins} UNION ALL SELECT * FROM ({sql})")
        statement.bind(pa.record_batch([pa.array([p]) for p in params], names=[str(i) for i in range(len(params))]))
        stream, _ = statement.execute_query()
        first = True
        for batch in pa.RecordBatchReader.from_stream(stream):
            if first:
                batch, first = batch.slice(1), False
            if batch.num_rows:
                yield pa.RecordBatch.from_arrays([col if col.type == t else col.cast(t)
                                                  for col, t in zip(batch.columns, types, strict=True)], names=fetched)
    finally:
        statement.close()


_PIN = {"double": "0.0", "int64": "0", "bool": "0"}


def _fetch(db: peewee.Database, sql: str, params: list[Any], name: str) -> Iterator[list[tuple[Any, ...]]]:
    if is_postgres(db):
        connection = db.connection()
        autocommit, connection.autocommit = connection.autocommit, False  # named cursors live in transactions
        try:
            cursor = connection.cursor(name=f"export_{name}")  # server-side: streams
            cursor.itersize = CHUNK_ROWS
            cursor.execute(sql, params)
            while rows := cursor.fetchmany(CHUNK_ROWS):
                yield rows
            cursor.close()
        finally:
            connection.rollback()
            connection.autocommit = autocommit
    else:
        cursor = db.connection().execute(sql, params)
        while rows := cursor.fetchmany(CHUNK_ROWS):
            yield rows


def _write_dataset(db: peewee.Database, ds: Dataset, schema: Any, entry: Any, fmt: str, experiment: str,
                   start: str | None, end: str | None, units: Sequence[str],
                   progress: Callable[[int], None] | None) -> tuple[int, str | None, str | None]:
    batches: queue.Queue[Any] = queue.Queue(maxsize=2)
    failure: list[BaseException] = []
    writer_thread = threading.Thread(target=_serialise, args=(batches, _Sink(entry), schema, fmt, failure),
                                     daemon=True)
    writer_thread.start()
    rows, first, last = 0, None, None
    ts_index = schema.names.index("timestamp")
    try:
        for batch in _record_batches(db, ds, schema, experiment, start, end, units):
            if failure:
                break
            stamps = batch.column(ts_index)
            lo, hi = stamps[0].as_py(), stamps[len(stamps) - 1].as_py()  # in time order within a unit
            first = lo if first is None or lo < first else first
            last = hi if last is None or hi > last else last
            rows += batch.num_rows
            batches.put(batch)
            if progress:
                progress(batch.num_rows)
    finally:
        batches.put(None)
        writer_thread.join()
    if failure:
        raise failure[0]
    return rows, first, last


@contextlib.contextmanager
def _without_numpy() -> Iterator[None]:
    """In the `pio export` process only: pyarrow's lazily imported modules would pull numpy (20 MB)."""
    if "numpy" in sys.modules:
        yield
        return
    sys.modules["numpy"] = None  # type: ignore[assignment]
    try:
        yield
    finally:
        if sys.modules.get("numpy", 0) is None:
            del sys.modules["numpy"]


def import_pyarrow() -> Any:
    """pyarrow, without letting it import numpy (which it does not need here): 20 MB and a second saved."""
    if "pyarrow" not in sys.modules and "numpy" not in sys.modules:
        sys.modules["numpy"] = None  # type: ignore[assignment]
        try:
            import pyarrow
        finally:
            del sys.modules["numpy"]
        pyarrow.set_memory_pool(pyarrow.system_memory_pool())  # returns freed memory, as glibc does
        return pyarrow
    import pyarrow

    return pyarrow


def _serialise(batches: queue.Queue[Any], sink: _Sink, schema: Any, fmt: str, failure: list[BaseException]) -> None:
    import pyarrow as pa

    try:
        if fmt == "parquet":
            import pyarrow.parquet as pq

            writer: Any = pq.ParquetWriter(pa.PythonFile(sink, mode="w"), schema, compression="zstd")
        else:
            import pyarrow.csv as csv

            writer = csv.CSVWriter(pa.PythonFile(sink, mode="w"), schema)
        while (batch := batches.get()) is not None:
            writer.write_batch(batch) if fmt != "parquet" else writer.write_batch(batch, row_group_size=65536)
        writer.close()
    except BaseException as e:  # noqa: BLE001 - handed to the reading thread, which raises it
        failure.append(e)
        while batches.get() is not None:
            pass


class _Sink(io.RawIOBase):
    """A zip entry that also answers ``tell()`` (Parquet's writer asks; zipfile's stream cannot)."""

    def __init__(self, entry: Any) -> None:
        self.entry, self.position = entry, 0

    def writable(self) -> bool:
        return True

    def write(self, data: Any) -> int:
        n = self.entry.write(data)
        self.position += n
        return n

    def tell(self) -> int:
        return self.position


def _zip_time() -> tuple[int, int, int, int, int, int]:
    import time

    return time.localtime()[:6]


# ---------------------------------------------------------------------------- CLI
@click.command()
@click.option("--experiment", required=True, help="The experiment to export")
@click.option("--datasets", "dataset_names", default="", help="Comma-separated datasets (default: all); see --list")
@click.option("--format", "fmt", type=click.Choice(["csv", "parquet"]), default="csv", show_default=True)
@click.option("-o", "--output", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="The zip to write (default: <experiment>-<time>.zip here)")
@click.option("--start", default=None, help="Only rows at or after this time (ISO-8601, or 2h/1d ago)")
@click.option("--end", default=None, help="Only rows before this time (ISO-8601, or 2h/1d ago)")
@click.option("--unit", "units", multiple=True, help="Only these units (repeatable)")
@click.option("--list", "list_only", is_flag=True, help="List the datasets that can be exported and exit")
def export(experiment: str, dataset_names: str, fmt: str, output: Path | None, start: str | None, end: str | None,
           units: tuple[str, ...], list_only: bool) -> None:
    """Export an experiment's datasets to one zip (CSV or Parquet files and a manifest.json)."""
    from .logs_cli import since_timestamp
    from .storage import StorageError, open_leader_database

    try:
        db, table_sets = open_leader_database()
    except StorageError as e:
        raise click.ClickException(str(e)) from None
    available = datasets(table_sets)
    if list_only:
        for name, ds in sorted(available.items()):
            click.echo(f"{name}: {', '.join(ds.columns)}")
        return
    wanted = [n.strip() for n in dataset_names.split(",") if n.strip()] or sorted(available)
    unknown = [n for n in wanted if n not in available]
    if unknown:
        raise ExportError(f"no dataset {', '.join(map(repr, unknown))}; datasets: {', '.join(sorted(available))}")
    start_ts, end_ts = (since_timestamp(start) if start else None), (since_timestamp(end) if end else None)
    chosen = [available[n] for n in wanted]
    output = output or Path(f"{experiment}-{current_utc_timestamp()[:19].replace(':', '')}.zip")
    total = sum(count_rows(db, ds, experiment, start_ts, end_ts, units) for ds in chosen)
    with click.progressbar(length=total, label=f"exporting {total:,} rows", file=sys.stderr) as bar, \
            _without_numpy():
        manifest = export_experiment(db, chosen, experiment, output, fmt=fmt, start=start_ts, end=end_ts,
                                     units=units, progress=bar.update)
    for d in manifest["datasets"]:
        click.echo(f"{d['name']}: {d['rows']:,} rows" + (f" ({d['time_range'][0]} .. {d['time_range'][1]})"
                                                         if d["rows"] else ""))
    click.echo(f"wrote {output}")
