"""Channel ownership: one process per channel at a time, correct after ``kill -9``.

An owner holds an exclusive ``flock`` on ``run/hardware/<kind>-<channel>.lock`` and writes
its record (pid, owner, since) into it. The kernel drops the lock when the process dies, so a
killed owner never blocks the next one. The watchdog probes the same lock to tell a dead
owner from a live one, holding it for a few milliseconds; ``acquire`` waits that out.
"""

# No ``from __future__ import annotations`` here: with it, NamedTuple compiles every field's
# annotation string when the class is defined (~0.2 ms a field, at every job's start-up).

import fcntl
import json
import os
import sys
import time
from pathlib import Path
from typing import NamedTuple

from ..paths import data_dir
from ..timestamps import current_utc_timestamp
from .protocols import HardwareError

LOCK_DIR = "run/hardware"


class ChannelBusy(HardwareError):
    """Another live process holds the channel; the message names it."""


class Holder(NamedTuple):
    pid: int
    owner: str
    since: str


def lock_dir(directory: Path | None = None) -> Path:
    path = (directory or data_dir()) / LOCK_DIR
    path.mkdir(parents=True, exist_ok=True)
    return path


def channel_key(kind: str, channel: str) -> str:
    return f"{kind}-{channel}"


def default_owner() -> str:
    """A readable name for this process: ``PIO_JOB_NAME``, else its command line."""
    name = os.environ.get("PIO_JOB_NAME")
    if name:
        return name
    argv = [os.path.basename(sys.argv[0] or "python"), *sys.argv[1:4]]
    return " ".join(argv)[:80]


class ChannelLock:
    """Held while a device is open; ``release()`` or process death frees the channel."""

    def __init__(self, key: str, fd: int, holder: Holder):
        self.key, self._fd, self.holder = key, fd, holder

    @property
    def held(self) -> bool:
        return self._fd >= 0

    def release(self) -> None:
        if self._fd >= 0:
            try:
                os.ftruncate(self._fd, 0)
            finally:
                os.close(self._fd)
                self._fd = -1


def acquire(kind: str, channel: str, *, owner: str | None = None, role: str = "",
            directory: Path | None = None, wait_s: float = 0.5) -> ChannelLock:
    """Claim a channel for this process, or raise :class:`ChannelBusy` naming the holder."""
    key = channel_key(kind, channel)
    path = lock_dir(directory) / f"{key}.lock"
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    deadline = time.monotonic() + wait_s
    while True:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            break
        except BlockingIOError:
            holder = _read_fd(fd)
            # no record, or a dead pid's record: the watchdog is probing the lock; wait that out
            if (holder is None or not pid_alive(holder.pid)) and time.monotonic() < deadline:
                time.sleep(0.01)
                continue
            os.close(fd)
            what = f"{kind.upper()} channel {channel}" + (f" ({role})" if role else "")
            if holder is None:
                raise ChannelBusy(f"{what} is busy (held by a process that left no record); try again") from None
            todo = ("this process has it open already: close that device first" if holder.pid == os.getpid()
                    else "stop that job first, e.g. `pio kill <job>`")
            raise ChannelBusy(f"{what} is held by pid {holder.pid} ({holder.owner}) since {holder.since}; {todo}") from None
    holder = Holder(os.getpid(), owner or default_owner(), current_utc_timestamp())
    os.ftruncate(fd, 0)
    os.pwrite(fd, json.dumps(holder._asdict()).encode(), 0)
    return ChannelLock(key, fd, holder)


def holder_of(kind: str, channel: str, directory: Path | None = None) -> Holder | None:
    """Who holds the channel now, or None when it is free."""
    path = lock_dir(directory) / f"{channel_key(kind, channel)}.lock"
    if not path.exists():
        return None
    fd = os.open(path, os.O_RDONLY)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
        except BlockingIOError:
            return _read_fd(fd) or Holder(-1, "unknown", "")
        fcntl.flock(fd, fcntl.LOCK_UN)
        return None
    finally:
        os.close(fd)


def probe_dead(key: str, directory: Path | None = None) -> int | None:
    """For the watchdog: if the channel's owner is gone, take the lock and return its fd, else None.

    The caller switches the output off and then closes the fd, so that no new owner can drive
    the channel in between.
    """
    path = lock_dir(directory) / f"{key}.lock"
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        os.close(fd)
        return None
    return fd


def pid_alive(pid: int) -> bool:
    """True if ``pid`` runs (a zombie does not count: it holds no locks)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            return f.read().rsplit(b")", 1)[-1].split()[0] != b"Z"
    except (OSError, IndexError):
        return True


def _read_fd(fd: int) -> Holder | None:
    data = os.pread(fd, 4096, 0)
    try:
        return Holder(**json.loads(data))
    except (ValueError, TypeError):
        return None
