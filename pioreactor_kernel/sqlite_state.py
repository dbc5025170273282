"""Small SQLite files that several processes of a unit share: leases, the virtual vial, volumes.

``open_shared(path)`` gives an autocommit connection in WAL mode (readers never wait for the
writer) that any thread of the process may use, with a busy timeout; ``immediate(conn)`` is a
write transaction that takes the database's write lock at once (``BEGIN IMMEDIATE``), so a
read-modify-write cannot interleave with another process's, and rolls back on any exception.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path


def open_shared(path: Path, *, timeout_s: float = 10.0, synchronous: str = "NORMAL", schema: str = "") -> sqlite3.Connection:
    """Connect to ``path`` (its folder created): WAL, ``synchronous`` (OFF, NORMAL or FULL), ``schema`` run once."""
    if synchronous not in ("OFF", "NORMAL", "FULL"):
        raise ValueError(f"synchronous must be OFF, NORMAL or FULL, not {synchronous!r}")
    path.parent.mkdir(parents=True, exist_ok=True)
    conn = sqlite3.connect(path, timeout=timeout_s, isolation_level=None, check_same_thread=False)
    if not _in_wal_mode(path):  # the mode is kept in the file; setting it again costs ~0.5 ms a start
        conn.execute("PRAGMA journal_mode=WAL")
    conn.execute(f"PRAGMA synchronous={synchronous}")
    if schema:
        conn.executescript(schema)
    return conn


def _in_wal_mode(path: Path) -> bool:
    """Whether the database file's header says WAL (bytes 18 and 19, write and read versions, are 2)."""
    try:
        with open(path, "rb") as f:
            header = f.read(20)
    except OSError:
        return False
    return len(header) == 20 and header.startswith(b"SQLite format 3\x00") and header[18:20] == b"\x02\x02"


@contextmanager
def immediate(conn: sqlite3.Connection) -> Iterator[sqlite3.Connection]:
    """``BEGIN IMMEDIATE`` ... ``COMMIT``; ``ROLLBACK`` if the block raises (anything, KeyboardInterrupt too)."""
    conn.execute("BEGIN IMMEDIATE")
    try:
        yield conn
    except BaseException:
        conn.execute("ROLLBACK")
        raise
    conn.execute("COMMIT")
