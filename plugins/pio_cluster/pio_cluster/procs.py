"""Starting and stopping this unit's jobs as detached processes: argument lists, never a shell.

A job runs as ``python -m pioreactor_kernel run <job> --<option>=<value> ...`` in its own
session (it outlives whoever started it). Its output goes to ``logs/<job>.out`` (opened for
appending, truncated at each start and kept under :data:`MAX_OUT_BYTES`), so that the reason a
job failed to start can be reported back.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Mapping
from pathlib import Path

from pioreactor_kernel import names, registry
from pioreactor_kernel.mqtt import Message, MQTTClient
from pioreactor_kernel.paths import sub_dir
from pioreactor_kernel.registry import JobRecord

MAX_OUT_BYTES = 2_000_000


def pio_argv(*args: str) -> list[str]:
    """The argument list that runs ``pio <args>`` with this interpreter."""
    return [sys.executable, "-m", "pioreactor_kernel", *args]


def out_file(job: str) -> Path:
    return sub_dir("logs") / f"{job}.out"


def spawn(job: str, options: list[str] | None = None, *, env: Mapping[str, str] | None = None,
          argv: list[str] | None = None) -> subprocess.Popen[bytes]:
    """Start ``pio run <job> <options>`` (or ``argv``) detached, output to ``logs/<job>.out``."""
    path = out_file(job)
    with path.open("wb"):
        pass  # truncate: the file tells about this start only
    with path.open("ab") as out:
        return subprocess.Popen(argv or pio_argv("run", job, *(options or [])), stdin=subprocess.DEVNULL,
                                stdout=out, stderr=subprocess.STDOUT, start_new_session=True, close_fds=True,
                                env={**os.environ, **(env or {})})


def tail(path: Path, max_chars: int = 600) -> str:
    """The last lines of a job's output, for an error message."""
    try:
        with path.open("rb") as f:
            f.seek(max(0, path.stat().st_size - max_chars))
            text = f.read().decode("utf-8", errors="replace")
    except OSError:
        return ""
    lines = [line for line in text.strip().splitlines() if line.strip()]
    errors = [line for line in lines if "Error" in line or " ERROR " in line]
    return (errors[-1] if errors else lines[-1] if lines else "").strip()[-max_chars:]


def cap_output(job: str) -> None:
    """Keep a long-running job's output file small (the rotating log file has everything)."""
    path = out_file(job)
    try:
        if path.stat().st_size > MAX_OUT_BYTES:
            os.truncate(path, 0)  # the job appends (O_APPEND): it carries on at the new end
    except OSError:
        pass


class StateWatcher:
    """Keeps the retained ``$state`` of every job of one unit: ``{(experiment, job): state}``."""

    def __init__(self, client: MQTTClient, unit: str):
        self.states: dict[tuple[str, str], tuple[str, int]] = {}  # (state, sequence number of its message)
        self.sequence = 0
        self._changed = threading.Condition()
        client.subscribe(names.job_topic(unit, "+", "+", names.STATE), self._on_state)

    def _on_state(self, message: Message) -> None:
        parts = message.topic.split("/")
        with self._changed:
            self.sequence += 1
            self.states[(parts[2], parts[3])] = (message.payload.decode("utf-8", errors="replace"), self.sequence)
            self._changed.notify_all()

    def state(self, experiment: str, job: str, newer_than: int = 0) -> str | None:
        """The job's state, if published after message number ``newer_than`` (stale retained ones are not)."""
        state, sequence = self.states.get((experiment, job), (None, 0))
        return state if sequence > newer_than else None

    def wait(self, predicate: Callable[[], bool], timeout_s: float) -> bool:
        deadline = time.monotonic() + timeout_s
        with self._changed:
            while not predicate():
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    return False
                self._changed.wait(min(remaining, 0.05))
        return True


def wait_ready(proc: subprocess.Popen[bytes], job: str, watcher: StateWatcher, timeout_s: float,
               ) -> tuple[bool, str, JobRecord | None]:
    """Wait until the job ``proc`` runs is ``ready``; ``(ok, detail, record)``.

    Call it right after starting ``proc``: only states published after that count (a ``ready``
    retained from an earlier run that died uncleanly is not this run's).
    """
    record: list[JobRecord] = []
    since = watcher.sequence

    def settled() -> bool:
        if proc.poll() is not None:
            return True
        if not record:
            found = registry.read(job)
            if found is None or found.pid != proc.pid:
                return False
            record.append(found)
        return watcher.state(record[0].experiment, job, since) == names.READY

    watcher.wait(settled, timeout_s)
    rec = record[0] if record else None
    if proc.poll() is not None:
        reason = tail(out_file(job)) or f"exit status {proc.returncode}"
        return False, f"{job} exited at start (status {proc.returncode}): {reason}", rec
    if rec is None or watcher.state(rec.experiment, job, since) != names.READY:
        return False, f"{job} (pid {proc.pid}) is not ready after {timeout_s:g} s; it is left running", rec
    return True, f"{job} ready (pid {proc.pid}, experiment {rec.experiment})", rec


def stop(job: str, timeout_s: float = 10.0) -> str:
    """SIGTERM the job (it stops cleanly), SIGKILL after ``timeout_s``; says what happened."""
    record = registry.read(job)
    if record is None:
        return f"{job}: not running"
    try:
        os.kill(record.pid, signal.SIGTERM)
    except ProcessLookupError:
        return f"{job}: not running"
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        current = registry.read(job)
        if current is None or current.pid != record.pid:
            return f"{job}: stopped (pid {record.pid})"
        time.sleep(0.02)
    try:
        os.kill(record.pid, signal.SIGKILL)
    except ProcessLookupError:
        return f"{job}: stopped (pid {record.pid})"
    return f"{job}: did not stop within {timeout_s:g} s; killed (pid {record.pid})"
