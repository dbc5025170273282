"""Output leases: an output is on only while its owner keeps renewing a short lease.

One SQLite table per unit (``run/hardware/leases.sqlite``), one row per output that is on:
owner pid and token, the value it drives, and a deadline on the system-wide monotonic clock.
A keeper thread in the owner renews its rows every ``lease_s / 4``; an expired lease cannot
be renewed, only re-armed by an explicit ``set``. The watchdog switches off any output whose
owner is dead (its channel lock is free) or whose lease expired (the owner hangs), and marks
the row ``revoked``. Arming a lease and driving the output happen inside one write transaction,
as do the watchdog's check and switch-off, so the two never interleave.
"""

# No ``from __future__ import annotations`` here: with it, NamedTuple compiles every field's
# annotation string when the class is defined (~0.2 ms a field, at every job's start-up).

import logging
import os
import sqlite3
import threading
import time
from collections.abc import Callable
from contextlib import AbstractContextManager
from pathlib import Path
from typing import NamedTuple

from ..sqlite_state import immediate, open_shared
from .ownership import lock_dir

logger = logging.getLogger("pioreactor.hardware")

ON, REVOKED = "on", "revoked"
DEFAULT_LEASE_S = 1.0

_SCHEMA = """
CREATE TABLE IF NOT EXISTS lease (
    key TEXT PRIMARY KEY, kind TEXT NOT NULL, channel TEXT NOT NULL, role TEXT NOT NULL,
    pid INTEGER NOT NULL, token TEXT NOT NULL, owner TEXT NOT NULL,
    value REAL NOT NULL, deadline REAL NOT NULL, state TEXT NOT NULL, changed_at REAL NOT NULL
)
"""


class Lease(NamedTuple):
    key: str
    kind: str
    channel: str
    role: str
    pid: int
    token: str
    owner: str
    value: float
    deadline: float
    state: str
    changed_at: float


def now() -> float:
    """CLOCK_MONOTONIC: one clock for every process of the machine, immune to wall-clock steps."""
    return time.monotonic()


class LeaseStore:
    """The unit's lease table. One instance per thread (SQLite connections are not shared)."""

    def __init__(self, directory: Path | None = None):
        # synchronous=OFF: after a power cut every output is off anyway
        self.conn = open_shared(lock_dir(directory) / "leases.sqlite", timeout_s=5.0, synchronous="OFF",
                                schema=_SCHEMA)

    def transaction(self) -> AbstractContextManager[sqlite3.Connection]:
        """An exclusive write transaction: the owner's arm+drive and the watchdog's check+off."""
        return immediate(self.conn)

    def arm(self, key: str, kind: str, channel: str, role: str, token: str, owner: str,
            value: float, lease_s: float) -> None:
        """Call inside ``transaction()``: the output is on at ``value`` until ``now + lease_s``."""
        t = now()
        self.conn.execute(
            "INSERT OR REPLACE INTO lease VALUES (?,?,?,?,?,?,?,?,?,?,?)",
            (key, kind, channel, role, os.getpid(), token, owner, value, t + lease_s, ON, t),
        )

    def drop(self, key: str, token: str) -> None:
        """Call inside ``transaction()``: the output is off (or the owner closed it)."""
        self.conn.execute("DELETE FROM lease WHERE key=? AND token=?", (key, token))

    def renew(self, token: str, lease_s: float) -> list[str]:
        """Extend every live lease of ``token``; return the keys the watchdog revoked meanwhile."""
        t = now()
        self.conn.execute("UPDATE lease SET deadline=? WHERE token=? AND state=? AND deadline>=?",
                          (t + lease_s, token, ON, t))
        rows = self.conn.execute("SELECT key FROM lease WHERE token=? AND state=?", (token, REVOKED)).fetchall()
        return [r[0] for r in rows]

    def leases(self, state: str | None = None) -> list[Lease]:
        if state is None:
            rows = self.conn.execute("SELECT * FROM lease").fetchall()
        else:
            rows = self.conn.execute("SELECT * FROM lease WHERE state=?", (state,)).fetchall()
        return [Lease(*row) for row in rows]

    def get(self, key: str) -> Lease | None:
        row = self.conn.execute("SELECT * FROM lease WHERE key=?", (key,)).fetchone()
        return Lease(*row) if row else None

    def revoke(self, key: str, token: str) -> None:
        self.conn.execute("UPDATE lease SET state=?, value=0, changed_at=? WHERE key=? AND token=?",
                          (REVOKED, now(), key, token))

    def close(self) -> None:
        self.conn.close()


class LeaseKeeper:
    """The owner's side: one daemon thread per process and data dir renewing this process's leases."""

    def __init__(self, directory: Path, lease_s: float):
        self.directory, self.lease_s = directory, lease_s
        self.token = f"{os.getpid()}-{os.urandom(6).hex()}"  # not secrets: it maps OpenSSL (~3 MB) for nothing
        self._on_revoked: dict[str, Callable[[], None]] = {}
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._pid = os.getpid()

    def watch(self, key: str, on_revoked: Callable[[], None]) -> None:
        with self._lock:
            self._on_revoked[key] = on_revoked
            if self._thread is None or not self._thread.is_alive():
                self._thread = threading.Thread(target=self._run, name="pio-lease-keeper", daemon=True)
                self._thread.start()

    def unwatch(self, key: str) -> None:
        with self._lock:
            self._on_revoked.pop(key, None)

    def _run(self) -> None:
        store = LeaseStore(self.directory)
        interval_s = self.lease_s / 4
        try:
            while not self._stop.wait(interval_s):
                try:
                    revoked = store.renew(self.token, self.lease_s)
                except sqlite3.Error as e:  # a busy database: the next tick retries, well within the lease
                    logger.warning("renewing output leases failed: %s", e)
                    continue
                for key in revoked:
                    with self._lock:
                        callback = self._on_revoked.get(key)
                    if callback is not None:
                        callback()
                from .watchdog import ensure_running

                try:
                    ensure_running(self.directory, wait_s=0)
                except Exception as e:  # noqa: BLE001 - logged; the next tick tries again
                    logger.error("the hardware watchdog is not running and cannot be started: %s", e)
        finally:
            store.close()

    def stop(self) -> None:
        self._stop.set()
