"""The leader's database as the UI reads it (pio-leader's storage), or its absence, said plainly.

The UI works without pio-leader (live views only); pages that need history say how to get it.
Reads go through short-lived connections so the web server's many threads leave none open.
pio-leader is reached only through the services it registers (``leader.database``,
``leader.experiments``, ``leader.export``), never by importing it: another plugin offering the
same names would do.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Sequence
from typing import Any

from pioreactor_kernel.services import has_service, service

logger = logging.getLogger("pioreactor.ui.store")
MISSING = ("pio-leader is not installed (or is disabled): history, experiments and export need the leader's "
           "database (install pio-leader and run `pio run mqtt_to_db`)")


def leader_service(name: str) -> Any:
    """pio-leader's service ``name`` (docs/leader-storage.md); :class:`StoreUnavailable` (HTTP 503) without it."""
    if not has_service(name):
        raise StoreUnavailable(f"{MISSING}: no plugin offers the service {name!r}")
    return service(name)


class Store:
    def __init__(self) -> None:
        self.db: Any = None
        self.error: str | None = None
        self.postgres = False
        self._lock = threading.Lock()
        self._tables: set[str] = set()
        if not has_service("leader.database"):
            self.error = MISSING
            return
        try:
            opened = service("leader.database")()  # every registered table set's schema in place
            self.db, self.postgres = opened.db, opened.postgres
            self.db.close()
        except Exception as e:  # noqa: BLE001 - a broken database must not stop the live UI
            self.error = f"the leader's database cannot be opened: {type(e).__name__}: {e}"
            logger.error("%s", self.error)
            self.db = None

    @property
    def available(self) -> bool:
        return self.db is not None

    def rows(self, sql: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        """Run one read; every value is a bound parameter. Raises when the database is unavailable."""
        return self.rows_each(sql, [params])[0]

    def rows_each(self, sql: str, params_list: Sequence[Sequence[Any]]) -> list[list[tuple[Any, ...]]]:
        """The same read once per parameter list, on one connection (opening one costs more than an indexed read)."""
        if self.db is None:
            raise StoreUnavailable(self.error or MISSING)
        if self.postgres:
            sql = sql.replace("?", "%s")
        with self.db.connection_context():
            return [list(self.db.execute_sql(sql, tuple(params)).fetchall()) for params in params_list]

    def table_exists(self, table: str) -> bool:
        if self.db is None:
            return False
        if table in self._tables:  # tables are created, never dropped, while the UI runs
            return True
        with self.db.connection_context():
            found = bool(self.db.table_exists(table))
        if found:
            self._tables.add(table)
        return found

    def epoch_expr(self, column: str = "timestamp") -> str:
        if self.postgres:
            return f"extract(epoch from CAST({column} AS timestamptz))"
        return f"((julianday({column}) - 2440587.5) * 86400.0)"

    def number_expr(self, column: str, json_key: str | None) -> str:
        """SQL for the number held in a text column (plain, or one key of a JSON object)."""
        if json_key is None:
            return f"CAST({column} AS DOUBLE PRECISION)" if self.postgres else f"CAST({column} AS REAL)"
        if not json_key.isidentifier():
            raise ValueError(f"json key {json_key!r} must be a plain name")
        if self.postgres:
            return f"CAST(CAST({column} AS json)->>'{json_key}' AS DOUBLE PRECISION)"
        return f"CAST(json_extract({column}, '$.{json_key}') AS REAL)"


class StoreUnavailable(RuntimeError):
    pass
