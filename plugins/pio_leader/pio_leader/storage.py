"""The leader's database: open it, create and migrate every registered table set, insert rows.

SQLite in the data dir (``storage/pioreactor.sqlite``, WAL) is the default; ``[leader]
database_url = postgresql://user:password@host:port/name`` selects PostgreSQL with the same
schema and queries. Table sets come from the kernel's ``register_tables`` hook; each has a
schema version (1 + its number of migrations) kept in ``schema_versions``, so a database made
by an older version is migrated when a newer one opens it.
"""

from __future__ import annotations

import itertools
import logging
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, NamedTuple

import click
import peewee
from pioreactor_kernel.config import get_config
from pioreactor_kernel.names import Topic
from pioreactor_kernel.timestamps import current_utc_timestamp

logger = logging.getLogger("pioreactor.leader.storage")

SQLITE_FILE = "pioreactor.sqlite"
SQLITE_PRAGMAS = {
    "journal_mode": "wal",
    "synchronous": "normal",
    "busy_timeout": 30_000,
    "cache_size": -16_000,
}
Migration = Callable[[peewee.Database, Any], None]
_IDENTIFIER = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


class StorageError(RuntimeError):
    """The database cannot be opened or its schema is not one this version can use."""


@dataclass
class Parser:
    """How messages on one topic filter become rows of ``model``.

    ``parse(topic, payload)`` returns a row (a dict of column values, or a tuple in the order of
    the model's columns without ``id``), a list of rows, or None; it raises on a payload it
    cannot read. ``changes_only`` (state streams: retained settings) stores a row only when the
    payload differs from the last one stored for that topic. ``fallback`` parsers take only the
    topics no other parser takes.

    ``parse_many(topic, payloads)`` (optional, event streams only) reads many payloads of one topic
    at once: it returns exactly one tuple row per payload, in order, or raises, and then the writer
    calls ``parse`` on each payload to refuse only the bad ones. It must accept exactly what
    ``parse`` accepts; it exists for speed (one decoder call per batch instead of one per message).
    """

    model: type[peewee.Model]
    parse: Callable[[Topic, bytes], Any]
    changes_only: bool = False
    fallback: bool = False
    parse_many: Callable[[Topic, list[bytes]], list[tuple[Any, ...]]] | None = None


@dataclass
class TableSet:
    name: str
    models: list[type[peewee.Model]]
    parsers: dict[str, Parser]
    migrations: list[Migration] = field(default_factory=list)
    plugin: str = ""

    @property
    def version(self) -> int:
        return 1 + len(self.migrations)


class SchemaVersion(peewee.Model):
    table_set = peewee.TextField(primary_key=True)
    version = peewee.IntegerField()
    updated_at = peewee.TextField()

    class Meta:
        table_name = "schema_versions"


# ---------------------------------------------------------------------------- opening
def database_url() -> str:
    from pioreactor_kernel.paths import sub_dir

    url = (get_config().get("leader", "database_url") or "").strip()
    return url or f"sqlite:///{sub_dir('storage') / SQLITE_FILE}"


def open_database(url: str | None = None) -> peewee.Database:
    """A peewee database for ``url`` (default: from config). Connections open lazily, one per thread."""
    url = url or database_url()
    if url.startswith("sqlite:///"):
        return peewee.SqliteDatabase(url[len("sqlite:///") :], pragmas=SQLITE_PRAGMAS)
    if url.startswith(("postgres://", "postgresql://")):
        try:
            import psycopg2  # noqa: F401
        except ImportError:
            raise StorageError(
                "[leader] database_url names PostgreSQL but its driver is missing: "
                "`pip install 'pio-leader[postgres]'` (psycopg2-binary)"
            ) from None
        from playhouse.db_url import connect

        return connect(url)
    raise StorageError(
        f"[leader] database_url = {url!r}: expected sqlite:///<path> or postgresql://user@host:port/name"
    )


def is_postgres(db: peewee.Database) -> bool:
    return isinstance(db, peewee.PostgresqlDatabase)


def quote(name: str) -> str:
    if not _IDENTIFIER.fullmatch(name):
        raise StorageError(f"{name!r} is not a plain SQL identifier (letters, digits, underscores)")
    return f'"{name}"'


# ---------------------------------------------------------------------------- table sets
def load_table_sets() -> list[TableSet]:
    """Every table set registered through ``register_tables``; a broken one is logged and skipped."""
    from pioreactor_kernel.plugins import plugin_manager

    sets = []
    for name, reg in sorted(plugin_manager().registrations["tables"].items()):
        try:
            sets.append(table_set_from(name, reg.load()(), plugin=reg.plugin))
        except Exception as e:  # noqa: BLE001 - one plugin's tables must not stop the others'
            logger.error(
                "table set %s of plugin %s cannot be used: %s: %s", name, reg.plugin, type(e).__name__, e
            )
    return sets


def table_set_from(name: str, result: Any, plugin: str = "") -> TableSet:
    """Normalise what a ``register_tables`` target returned: ``(models, parsers[, migrations])``."""
    if isinstance(result, TableSet):
        return result
    models, parsers, *rest = result
    table_set = TableSet(
        name,
        list(models),
        {f: as_parser(p) for f, p in dict(parsers).items()},
        list(rest[0]) if rest else [],
        plugin,
    )
    for model in table_set.models:
        quote(model._meta.table_name)
        for f in model._meta.sorted_fields:
            quote(f.column_name)
    return table_set


def as_parser(spec: Any) -> Parser:
    """A :class:`Parser`, an object with ``model`` and ``parse``, or ``(model, parse[, options])``."""
    if isinstance(spec, Parser):
        return spec
    if hasattr(spec, "model") and hasattr(spec, "parse"):
        return Parser(
            spec.model,
            spec.parse,
            bool(getattr(spec, "changes_only", False)),
            bool(getattr(spec, "fallback", False)),
            getattr(spec, "parse_many", None),
        )
    model, parse, *options = spec
    return Parser(model, parse, **(options[0] if options else {}))


def ensure_schema(db: peewee.Database, table_sets: Sequence[TableSet]) -> dict[str, tuple[int | None, int]]:
    """Create missing tables and run pending migrations; returns ``{set: (old version, new version)}``."""
    from playhouse.migrate import SchemaMigrator

    changes: dict[str, tuple[int | None, int]] = {}
    db.bind([SchemaVersion])
    with db.atomic():
        db.create_tables([SchemaVersion], safe=True)
    migrator = SchemaMigrator.from_database(db)
    for table_set in table_sets:
        db.bind(table_set.models)
        for model in table_set.models:
            model._meta.without_rowid = bool(getattr(model, "clustered", False)) and isinstance(
                db, peewee.SqliteDatabase
            )
        with db.atomic():
            row = SchemaVersion.get_or_none(SchemaVersion.table_set == table_set.name)
            current = row.version if row else (1 if any(m.table_exists() for m in table_set.models) else None)
            if current is not None and current > table_set.version:
                raise StorageError(
                    f"the database's table set {table_set.name!r} is at schema version {current}, newer than "
                    f"this software's {table_set.version}: upgrade plugin {table_set.plugin or table_set.name}"
                )
            for version in range(current or table_set.version, table_set.version):
                logger.info("migrating table set %s to schema version %d", table_set.name, version + 1)
                table_set.migrations[version - 1](db, migrator)
            db.create_tables(table_set.models, safe=True)
            (
                SchemaVersion.insert(
                    table_set=table_set.name, version=table_set.version, updated_at=current_utc_timestamp()
                )
                .on_conflict(
                    conflict_target=[SchemaVersion.table_set],
                    update={
                        SchemaVersion.version: table_set.version,
                        SchemaVersion.updated_at: current_utc_timestamp(),
                    },
                )
                .execute()
            )
        changes[table_set.name] = (current, table_set.version)
    return changes


def open_leader_database(url: str | None = None) -> tuple[peewee.Database, list[TableSet]]:
    """Open the configured database with every registered table set's schema in place."""
    db = open_database(url)
    table_sets = load_table_sets()
    ensure_schema(db, table_sets)
    return db, table_sets


# ---------------------------------------------------------------------------- the leader.database service
class LeaderDatabase(NamedTuple):
    """What the ``leader.database`` service returns."""

    db: peewee.Database  # connections open lazily, one per thread: ``with db.connection_context(): ...``
    where: str  # the database's URL, its password hidden
    postgres: bool  # PostgreSQL (bound parameters are %s) rather than SQLite (?)


def leader_database(tables: Mapping[str, Any] | None = None, *, plugin: str = "") -> LeaderDatabase:
    """The ``leader.database`` service: the leader's database (``[leader] database_url``), schema in place.

    ``tables=None``: every registered table set is created or migrated and bound (what
    ``mqtt_to_db`` stores, and the experiments' tables the ``leader.experiments`` functions use).
    ``tables={name: (models, parsers[, migrations])}`` (what a ``register_tables`` target returns):
    only those sets, their models bound to this database; for a plugin that keeps its own tables
    in the leader's database (``plugin`` names it in schema errors).

    Raises :class:`StorageError` (a ``RuntimeError``) with the reason when the database cannot be
    opened or its schema cannot be used.
    """
    url = database_url()
    where = _without_password(url)
    try:
        if tables is None:
            db, _ = open_leader_database(url)
        else:
            db = open_database(url)
            ensure_schema(db, [table_set_from(name, result, plugin=plugin) for name, result in tables.items()])
    except peewee.DatabaseError as e:
        raise StorageError(f"the leader's database ({where}): {type(e).__name__}: {e}") from e
    return LeaderDatabase(db, where, is_postgres(db))


def _without_password(url: str) -> str:
    from urllib.parse import urlsplit, urlunsplit

    parts = urlsplit(url)
    if parts.password is None:
        return url
    netloc = f"{parts.username}:***@{parts.netloc.rpartition('@')[2]}"
    return urlunsplit(parts._replace(netloc=netloc))


# ---------------------------------------------------------------------------- inserting
class Inserter:
    """``INSERT ... ON CONFLICT DO NOTHING`` for one model; every value is a bound parameter."""

    PAGE = 1000

    def __init__(self, db: peewee.Database, model: type[peewee.Model]):
        fields = [f for f in model._meta.sorted_fields if not isinstance(f, peewee.AutoField)]
        self.model = model
        self.columns = [f.column_name for f in fields]
        self.width = len(self.columns)
        self._defaults = [f.default for f in fields]
        self.postgres = is_postgres(db)
        head = f"INSERT INTO {quote(model._meta.table_name)} ({', '.join(map(quote, self.columns))}) VALUES "
        tail = " ON CONFLICT DO NOTHING"
        one = "(" + ", ".join([db.param] * len(self.columns)) + ")"
        self.sql = head + one + tail
        # SQLite: many rows per statement (at most 999 parameters, the oldest limit) cost about 20 %
        # less than a statement per row through executemany
        self._rows_per_statement = max(1, 999 // len(self.columns))
        self._many_sql = head + ", ".join([one] * self._rows_per_statement) + tail
        self._values_sql = head + "%s" + tail  # psycopg2's execute_values expands the %s

    def row(self, value: Any) -> tuple[Any, ...]:
        if isinstance(value, tuple):
            if len(value) != len(self.columns):
                raise ValueError(
                    f"a row for {self.model._meta.table_name} needs {len(self.columns)} values, got {len(value)}"
                )
            return value
        if isinstance(value, dict):
            unknown = set(value) - set(self.columns)
            if unknown:
                raise ValueError(f"{self.model._meta.table_name} has no column(s) {sorted(unknown)}")
            return tuple(
                value[c] if c in value else (d() if callable(d) else d)
                for c, d in zip(self.columns, self._defaults, strict=True)
            )
        raise TypeError(f"a parser returned {type(value).__name__}, expected a dict or tuple row")

    def insert(self, cursor: Any, rows: Sequence[tuple[Any, ...]]) -> int:
        """Insert ``rows``; returns how many were new (duplicates of stored rows are skipped)."""
        if not self.postgres:
            k = self._rows_per_statement
            whole = len(rows) - len(rows) % k
            stored = 0
            for start in range(0, whole, k):
                cursor.execute(self._many_sql, list(itertools.chain.from_iterable(rows[start : start + k])))
                stored += cursor.rowcount
            if whole < len(rows):
                cursor.executemany(self.sql, rows[whole:])
                stored += cursor.rowcount
            return stored
        from psycopg2.extras import execute_values

        stored = 0
        for start in range(0, len(rows), self.PAGE):
            execute_values(cursor, self._values_sql, rows[start : start + self.PAGE], page_size=self.PAGE)
            stored += cursor.rowcount
        return stored


def chunks(rows: Iterable[Any], size: int) -> Iterable[list[Any]]:
    batch: list[Any] = []
    for row in rows:
        batch.append(row)
        if len(batch) >= size:
            yield batch
            batch = []
    if batch:
        yield batch


# ---------------------------------------------------------------------------- CLI
@click.command()
@click.option(
    "--url", default=None, help="Database URL (default: [leader] database_url, else SQLite in the data dir)"
)
def migrate_command(url: str | None) -> None:
    """Create the leader's tables, or upgrade a database made by an older version."""
    try:
        db = open_database(url)
        changes = ensure_schema(db, load_table_sets())
    except (StorageError, peewee.DatabaseError) as e:
        raise click.ClickException(str(e)) from None
    for name, (old, new) in changes.items():
        click.echo(
            f"{name}: "
            + ("created at" if old is None else "up to date at" if old == new else f"{old} ->")
            + f" schema version {new}"
        )


class LastValue(peewee.Model):
    """What the writer last stored for each state topic (``changes_only`` parsers), kept with the rows."""

    topic = peewee.TextField(primary_key=True)
    digest = peewee.TextField()

    class Meta:
        table_name = "leader_last_values"
