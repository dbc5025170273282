"""A repeating timer for job loops: drift-free, pausable, stoppable without waiting out its interval."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from typing import Any

logger = logging.getLogger("pioreactor.timing")


class RepeatedTimer:
    """Call ``function`` every ``interval_s`` seconds in a daemon thread.

    Ticks are scheduled on a fixed grid (no drift from the function's own run time); a tick
    that overruns skips the missed slots. An exception is logged and the timer goes on.
    """

    def __init__(self, interval_s: float, function: Callable[..., Any], *, run_immediately: bool = False,
                 name: str | None = None, args: tuple[Any, ...] = ()):
        if not interval_s > 0:
            raise ValueError(f"interval must be positive, got {interval_s!r}")
        self.interval_s = interval_s
        self.function, self.args = function, args
        self.run_immediately = run_immediately
        self._stop = threading.Event()
        self._paused = threading.Event()
        self._thread = threading.Thread(target=self._run, name=name or f"timer-{getattr(function, '__name__', '')}",
                                        daemon=True)

    def start(self) -> RepeatedTimer:
        self._thread.start()
        return self

    def _run(self) -> None:
        next_tick = time.monotonic() + (0 if self.run_immediately else self.interval_s)
        while not self._stop.wait(max(0.0, next_tick - time.monotonic())):
            if not self._paused.is_set():
                try:
                    self.function(*self.args)
                except Exception:
                    logger.exception("timer %s failed", self._thread.name)
            now = time.monotonic()
            next_tick += self.interval_s
            if next_tick < now:  # overran: skip missed slots, keep the grid
                next_tick += ((now - next_tick) // self.interval_s + 1) * self.interval_s

    def pause(self) -> None:
        self._paused.set()

    def unpause(self) -> None:
        self._paused.clear()

    def cancel(self, join_timeout_s: float = 1.0) -> None:
        self._stop.set()
        if self._thread.is_alive() and threading.current_thread() is not self._thread:
            self._thread.join(join_timeout_s)

    @property
    def is_alive(self) -> bool:
        return self._thread.is_alive()
