"""The unit's registry of running jobs, correct after ``kill -9`` by construction.

A running job holds an exclusive ``flock`` on ``run/<job>.lock`` for its whole life and
writes its record (pid, job, experiment, start time) into that file. The kernel releases a
lock when its process dies, however it dies, so a dead pid is never "running" and a new job
starts at once: there is nothing to purge by hand. A hung process (SIGSTOP) still holds its
lock, and is still listed.
"""

# No ``from __future__ import annotations`` here: with it, NamedTuple compiles every field's
# annotation string when the class is defined (~0.2 ms a field, at every job's start-up).

import fcntl
import json
import os
from pathlib import Path
from typing import NamedTuple

from .paths import sub_dir
from .timestamps import current_utc_timestamp


class JobAlreadyRunning(RuntimeError):
    pass


class JobRecord(NamedTuple):
    job: str
    pid: int
    unit: str
    experiment: str
    started_at: str


class JobLock:
    """Held by a running job; ``release()`` (or process death) frees the name."""

    def __init__(self, record: JobRecord, fd: int, path: Path):
        self.record, self._fd, self.path = record, fd, path

    def release(self) -> None:
        if self._fd >= 0:
            try:
                os.ftruncate(self._fd, 0)
            finally:
                os.close(self._fd)
                self._fd = -1


def _lock_path(job: str) -> Path:
    return sub_dir("run") / f"{job}.lock"


def acquire(job: str, unit: str, experiment: str) -> JobLock:
    """Claim ``job`` for this process; raises ``JobAlreadyRunning`` naming the holder."""
    path = _lock_path(job)
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        os.close(fd)
        holder = read(job)
        who = f"pid {holder.pid}, experiment {holder.experiment!r}, since {holder.started_at}" if holder else "unknown pid"
        raise JobAlreadyRunning(f"{job} is already running on unit {unit} ({who}); stop it with `pio kill {job}`") from None
    record = JobRecord(job, os.getpid(), unit, experiment, current_utc_timestamp())
    os.ftruncate(fd, 0)
    os.pwrite(fd, json.dumps(record._asdict()).encode(), 0)
    return JobLock(record, fd, path)


def read(job: str) -> JobRecord | None:
    """The record of ``job`` if it is running (its lock is held), else None."""
    path = _lock_path(job)
    if not path.exists():
        return None
    fd = os.open(path, os.O_RDONLY)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
        except BlockingIOError:
            data = os.pread(fd, 4096, 0)
            try:
                return JobRecord(**json.loads(data))
            except (ValueError, TypeError):
                return None  # the holder is between open and write: running, record not yet readable
        fcntl.flock(fd, fcntl.LOCK_UN)
        return None
    finally:
        os.close(fd)


def running_jobs() -> list[JobRecord]:
    records = (read(path.stem) for path in sorted(sub_dir("run").glob("*.lock")))
    return [r for r in records if r is not None]
