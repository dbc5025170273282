"""The unit's hardware watchdog: switches off every output whose owner died or hangs.

One per data dir (an exclusive ``flock`` on ``run/hardware/watchdog.lock``), started on demand
by the first process that drives an output above zero, and restarted by any owner's lease
keeper if it is gone. Every ``[hardware] watchdog_poll_s`` (0.1 s) it looks at the outputs that
are on (``leases``):

- owner dead (its channel lock is free: ``kill -9``, crash): switch off, forget the lease;
- lease expired (the owner hangs: SIGSTOP, a deadlock, swap): switch off, mark it ``revoked``.
  For a channel the backend cannot drive while the owner lives (``exclusive_kinds``, e.g. a
  GPIO line claimed by the owner on the Pi), the hung owner is ended with SIGKILL first.

It switches outputs off through the unit's own backend. It exits on SIGTERM, when the data dir
is removed, or after ``[hardware] watchdog_idle_exit_s`` (300 s) without any output on.

Run by hand: ``python -m pioreactor_kernel.hardware.watchdog`` (``PIO_DATA_DIR`` selects the unit).
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import logging
import os
import signal
import sys
import threading
import time
from pathlib import Path
from typing import Any

from ..paths import DATA_DIR_ENV, data_dir
from .leases import ON, Lease, LeaseStore, now
from .ownership import lock_dir, pid_alive, probe_dead
from .protocols import HardwareError

logger = logging.getLogger("pioreactor.hardware.watchdog")

LOCK_FILE = "watchdog.lock"
LOG_FILE = "watchdog.log"
DEFAULT_POLL_S = 0.1
DEFAULT_IDLE_EXIT_S = 300.0


def is_running(directory: Path | None = None) -> bool:
    path = lock_dir(directory) / LOCK_FILE
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
    except BlockingIOError:
        return True
    else:
        fcntl.flock(fd, fcntl.LOCK_UN)
        return False
    finally:
        os.close(fd)


def watchdog_pid(directory: Path | None = None) -> int | None:
    """The running watchdog's pid, or None."""
    if not is_running(directory):
        return None
    try:
        return int(json.loads((lock_dir(directory) / LOCK_FILE).read_text())["pid"])
    except (OSError, ValueError, KeyError, TypeError):
        return None


def ensure_running(directory: Path | None = None, wait_s: float = 10.0) -> None:
    """Start the unit's watchdog unless it runs; with ``wait_s`` > 0, wait until it does."""
    directory = directory or data_dir()
    if is_running(directory):
        return
    _spawn(directory)
    deadline = time.monotonic() + wait_s
    while wait_s > 0:
        if is_running(directory):
            return
        if time.monotonic() > deadline:
            raise HardwareError(f"the hardware watchdog did not start within {wait_s:g} s, so no output may be "
                                f"switched on; see {directory / 'logs' / LOG_FILE}")
        time.sleep(0.02)


def stop(directory: Path | None = None, timeout_s: float = 5.0) -> None:
    """Stop the unit's watchdog (tests, uninstall). Outputs that are on stay unwatched until it restarts."""
    pid = watchdog_pid(directory)
    if pid is None:
        return
    try:
        os.kill(pid, signal.SIGTERM)
    except ProcessLookupError:
        return
    deadline = time.monotonic() + timeout_s
    while is_running(directory) and time.monotonic() < deadline:
        time.sleep(0.02)


def _spawn(directory: Path) -> None:
    import subprocess  # only the job that finds no watchdog running pays for it

    (directory / "logs").mkdir(parents=True, exist_ok=True)
    with open(directory / "logs" / LOG_FILE, "ab") as log:
        proc = subprocess.Popen(
            [sys.executable, "-m", "pioreactor_kernel.hardware.watchdog"],
            env={**os.environ, DATA_DIR_ENV: str(directory)},
            stdin=subprocess.DEVNULL, stdout=log, stderr=log, close_fds=True, start_new_session=True,
        )
    # reap it if it exits before we do (no zombie); it outlives us otherwise
    threading.Thread(target=proc.wait, name="pio-watchdog-reaper", daemon=True).start()


class Watchdog:
    def __init__(self, directory: Path):
        from .context import load_config
        from .hwmap import HardwareMap

        self.directory = directory
        self.config = load_config(directory)
        self.map = HardwareMap.from_config(self.config)
        self.poll_s = self.config.getfloat("hardware", "watchdog_poll_s", DEFAULT_POLL_S) or DEFAULT_POLL_S
        self.idle_exit_s = self.config.getfloat("hardware", "watchdog_idle_exit_s", DEFAULT_IDLE_EXIT_S)
        self.store = LeaseStore(directory)
        self._backend: Any = None
        self._killed: dict[str, float] = {}

    @property
    def backend(self) -> Any:
        if self._backend is None:
            from .context import open_backend

            self._backend = open_backend(self.config, self.directory, self.map)
        return self._backend

    def run(self, stop: threading.Event) -> None:
        logger.info("watchdog started (pid %d) for %s", os.getpid(), self.directory)
        self.backend  # noqa: B018 - open it now, not when the first output must be switched off
        idle_since = time.monotonic()
        while not stop.wait(self.poll_s):
            if not (self.directory / "run").is_dir():
                logger.info("data dir %s is gone: exiting", self.directory)
                return
            try:
                busy = self.tick()
            except Exception:
                logger.exception("watchdog tick failed; retrying")
                busy = True
            if busy:
                idle_since = time.monotonic()
            elif self.idle_exit_s and time.monotonic() - idle_since > self.idle_exit_s:
                logger.info("no output on for %g s: exiting", self.idle_exit_s)
                return

    def tick(self) -> bool:
        """One pass; True if any output is on."""
        leases = self.store.leases(ON)
        for lease in leases:
            fd = probe_dead(lease.key, self.directory)
            if fd is not None:
                try:
                    self._switch_off(lease, dead=True)
                finally:
                    os.close(fd)
            elif lease.deadline < now():
                self._hung(lease)
        return bool(leases)

    def _hung(self, lease: Lease) -> None:
        if lease.kind in getattr(self.backend, "exclusive_kinds", frozenset()):
            # the owner holds the line; only its death frees it. The next tick finds it dead.
            if pid_alive(lease.pid) and self._killed.get(lease.key) != lease.deadline:
                logger.error("%s channel %s (%s): owner pid %d (%s) hangs with the output at %g %%: killing it",
                             lease.kind, lease.channel, lease.role, lease.pid, lease.owner, lease.value)
                self._killed[lease.key] = lease.deadline
                with contextlib.suppress(ProcessLookupError):
                    os.kill(lease.pid, signal.SIGKILL)
            return
        self._switch_off(lease, dead=False)

    def _switch_off(self, lease: Lease, dead: bool) -> None:
        with self.store.transaction():
            current = self.store.get(lease.key)
            if current is None or current.token != lease.token or current.state != ON:
                return
            if not dead and current.deadline >= now():
                return  # re-armed by its owner meanwhile
            off = self.backend.pwm(lease.channel) if lease.kind == "pwm" else self.backend.led(lease.channel)
            try:
                if lease.kind == "pwm":
                    off.set_duty(0.0)
                else:
                    off.set_intensity(0.0)
            finally:
                off.close()
            if dead:
                self.store.drop(lease.key, lease.token)
            else:
                self.store.revoke(lease.key, lease.token)
        why = "its owner is gone" if dead else "its owner stopped renewing its lease (hung?)"
        logger.warning("switched off %s channel %s (%s), left at %g %% by pid %d (%s): %s",
                       lease.kind, lease.channel, lease.role, lease.value, lease.pid, lease.owner, why)


def main() -> int:
    logging.basicConfig(level=logging.INFO, stream=sys.stderr,
                        format="%(asctime)s [watchdog %(process)d] %(levelname)s %(message)s")
    directory = data_dir().resolve()
    fd = os.open(lock_dir(directory) / LOCK_FILE, os.O_RDWR | os.O_CREAT, 0o644)
    deadline = time.monotonic() + 1.0
    while True:  # others probe this lock for microseconds: retry briefly before giving up
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            break
        except BlockingIOError:
            if time.monotonic() > deadline:
                return 0  # another watchdog runs
            time.sleep(0.01)
    os.ftruncate(fd, 0)
    os.pwrite(fd, json.dumps({"pid": os.getpid()}).encode(), 0)
    stop = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: stop.set())
    try:
        Watchdog(directory).run(stop)
    finally:
        os.ftruncate(fd, 0)
        os.close(fd)
    return 0


if __name__ == "__main__":
    sys.exit(main())
