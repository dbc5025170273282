"""The rows of an export as Arrow columns: through ADBC's SQLite driver (SQLite to Arrow in C, no
Python object per value) when it is there, else through the DB-API cursor (PostgreSQL: a
server-side cursor)."""

from __future__ import annotations

from collections.abc import Generator, Iterator, Sequence
from typing import Any

import peewee

from .export_files import arrow_type
from .export_stream import read_ahead, stream_batches
from .storage import is_postgres, quote

CHUNK_ROWS = 4096  # rows per batch: memory, not speed, decides (the writers hold a few)
ADBC_BATCH_ROWS = 8192  # each batch read hands the GIL to the reading thread once: fewer, larger
CACHE_KIB = -512  # SQLite's cache_size in KiB (negative): one pass over the rows gains nothing from more


def adbc_connection(db: peewee.Database) -> Any:
    """A low-level ADBC connection to the SQLite file, or None (PostgreSQL, or the driver is missing)."""
    if not isinstance(db, peewee.SqliteDatabase) or db.database == ":memory:":
        return None
    try:
        import adbc_driver_manager
        import adbc_driver_sqlite
    except ImportError:
        return None
    database = adbc_driver_sqlite.connect(str(db.database))
    connection = adbc_driver_manager.AdbcConnection(database)
    statement = adbc_driver_manager.AdbcStatement(connection)
    try:
        statement.set_sql_query(f"PRAGMA cache_size = {CACHE_KIB}")  # its own SQLite, its own page cache
        statement.execute_update()
    finally:
        statement.close()
    return _ADBC(database, connection)


class _ADBC:
    def __init__(self, database: Any, connection: Any) -> None:
        self.database, self.connection = database, connection

    def close(self) -> None:
        self.connection.close()
        self.database.close()


Query = tuple[str, list[Any], list[str], list[str]]  # SQL, its parameters, the columns, their types


def adbc_fetch(adbc: _ADBC, queries: Sequence[Query]) -> Generator[tuple[int, list[Any]], None, None]:
    """(query number, Arrow columns) of each batch of each query in turn, read ahead on another
    thread (the queries run one after the other there, without waiting for the batches' taker)."""
    return read_ahead(_adbc_batches(adbc, queries))


def _adbc_batches(adbc: _ADBC, queries: Sequence[Query]) -> Generator[tuple[int, list[Any]], None, None]:
    for number, (sql, params, fetched, types) in enumerate(queries):
        for columns in _adbc_query(adbc, sql, params, fetched, types):
            yield number, columns


def _adbc_query(
    adbc: _ADBC, sql: str, params: list[Any], fetched: list[str], types: list[str]
) -> Generator[list[Any], None, None]:
    """ADBC infers each column's type from the first batch and refuses a later value of another
    type (a column NULL in its first rows, text later): a first row of typed constants pins the
    types, and is dropped."""
    import adbc_driver_manager
    from arro3.core import Array, DataType, RecordBatch

    pins = ", ".join(f"{_PIN.get(t, chr(39) * 2)} AS {quote(c)}" for c, t in zip(fetched, types, strict=True))
    arrow_types = [arrow_type(t) for t in types]
    statement = adbc_driver_manager.AdbcStatement(adbc.connection)
    try:
        statement.set_options(**{"adbc.sqlite.query.batch_rows": str(ADBC_BATCH_ROWS)})
        # UNION ALL yields its arms in order; the second is ordered by the table's clustered key
        statement.set_sql_query(f"SELECT {pins} UNION ALL SELECT * FROM ({sql})")
        statement.bind(
            RecordBatch.from_pydict({str(i): Array([p], DataType.string()) for i, p in enumerate(params)})
        )
        stream, _ = statement.execute_query()
        try:
            first = True
            for batch in stream_batches(stream.address):
                if first:
                    batch, first = batch.slice(1, batch.num_rows - 1), False
                if batch.num_rows:
                    yield [
                        col if col.type == t else col.cast(t)
                        for col, t in zip(batch.columns, arrow_types, strict=True)
                    ]
        finally:
            stream.release()  # before its statement: closing a statement under a live stream crashes
    finally:
        statement.close()


_PIN = {"float64": "0.0", "int64": "0", "bool": "0"}


def dbapi_fetch(
    db: peewee.Database, queries: Sequence[Query], name: str
) -> Generator[tuple[int, list[Any]], None, None]:
    """(query number, Arrow columns) of each batch of each query in turn, through the DB-API cursor."""
    from arro3.core import Array

    for number, (sql, params, _, types) in enumerate(queries):
        arrow_types = [arrow_type(t) for t in types]
        for rows in _fetch_rows(db, sql, params, name):
            columns = zip(*rows, strict=True)
            yield number, [Array(list(col), t) for col, t in zip(columns, arrow_types, strict=True)]


def _fetch_rows(
    db: peewee.Database, sql: str, params: list[Any], name: str
) -> Iterator[list[tuple[Any, ...]]]:
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
