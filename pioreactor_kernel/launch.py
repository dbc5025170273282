"""Starting a job process: what ``pio run <job>`` does once its options are parsed.

Two front doors share it. The click command built by ``cli.job_command`` parses any command
line and reports bad input; entry.py's fast path handles the common case — a job the
start-up index knows, with only ``--option value`` pairs of declared settings, all valid —
without importing click at all (about a third of a job's start-up). Anything the fast path
is unsure of (``--help``, an unknown option, a value that does not parse) goes to click, so
errors read the same whichever door a command line came through.
"""

from __future__ import annotations

import signal
import sys
from typing import Any, NoReturn

from ._lazy import defer_startup_imports

defer_startup_imports()  # before logging, pathlib and paho import what a job never uses
import logging  # noqa: E402

# click.BOOL's words, so that both doors accept the same booleans
_TRUE = frozenset(("1", "true", "t", "yes", "y", "on"))
_FALSE = frozenset(("0", "false", "f", "no", "n", "off"))


class LaunchError(Exception):
    """A job could not start for a reason its user can act on (one line, no traceback)."""


def cli_settings(job_class: Any) -> list[Any]:
    """The settings ``pio run <job>`` takes as options: ``cli_settings()`` or the settable ones."""
    if hasattr(job_class, "cli_settings"):
        return list(job_class.cli_settings())
    return [s for s in job_class.published_settings if s.settable]


def option_value(setting: Any, raw: str) -> Any:
    """The value click's option type would give for ``raw`` (before ``Setting.parse``); ValueError if none."""
    if setting.choices:
        if raw not in [str(c) for c in setting.choices]:
            raise ValueError(raw)
        return raw
    if setting.datatype == "float":
        return float(raw)
    if setting.datatype == "integer":
        return int(raw)
    if setting.datatype == "boolean":
        word = raw.strip().lower()
        if word in _TRUE or word in _FALSE:
            return word in _TRUE
        raise ValueError(raw)
    return raw


def parse_simple(settings: list[Any], args: list[str]) -> dict[str, Any] | None:
    """Keyword arguments from ``--name value`` / ``--name=value`` pairs, or None for anything else."""
    by_option = {f"--{s.name.replace('_', '-')}": s for s in settings}
    kwargs: dict[str, Any] = {}
    i = 0
    while i < len(args):
        arg = args[i]
        option, eq, raw = arg.partition("=")
        setting = by_option.get(option)
        if setting is None:
            return None
        if not eq:
            if i + 1 >= len(args):
                return None
            raw = args[i + 1]
            i += 1
        i += 1
        try:
            kwargs[setting.name] = setting.parse(option_value(setting, raw))
        except ValueError:  # InvalidSetting included: click words the error
            return None
    for setting in settings:  # click passes every option's default
        if setting.name not in kwargs and setting.default is not None:
            try:
                kwargs[setting.name] = setting.parse(setting.default)
            except ValueError:
                return None
    return kwargs


def run(name: str, job_class: Any, kwargs: dict[str, Any]) -> NoReturn:
    """Start the job, serve until it stops (signal or ``$state/set``), then leave at once."""
    from .hardware.protocols import HardwareError
    from .mqtt import BrokerUnavailable
    from .registry import JobAlreadyRunning

    # a SIGINT/SIGTERM while the job is starting stops it cleanly once it exists
    started: list[Any] = []
    stop_requested = False

    def stop_early(signum: int, frame: Any) -> None:
        nonlocal stop_requested
        stop_requested = True
        if started:
            started[0].clean_up()

    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, stop_early)
    try:
        job = job_class(**kwargs)
        started.append(job)
    except (JobAlreadyRunning, BrokerUnavailable, HardwareError, ValueError) as e:
        # what a user can act on (a busy channel, a refused value): one line, not a traceback
        logging.getLogger("pioreactor").debug("%s failed to start", name, exc_info=True)
        raise LaunchError(str(e)) from None
    if stop_requested:
        job.clean_up()
    enable_gc()
    job.block_until_disconnected()
    exit_now()


def enable_gc() -> None:
    """The cyclic collector back on (entry.main turns it off for the start-up), with everything
    made until now frozen: modules, classes and functions are never scanned again."""
    import gc

    if not gc.isenabled():
        gc.freeze()
        gc.enable()


def fast_run(target: str, name: str, args: list[str]) -> bool:
    """Run a job from entry.py without click; False (nothing done) when click must handle ``args``."""
    from .registrations import import_target

    try:
        job_class = import_target(target)
    except Exception:  # noqa: BLE001 - the click path reports it
        return False
    kwargs = parse_simple(cli_settings(job_class), args)
    if kwargs is None:
        return False
    try:
        run(name, job_class, kwargs)
    except LaunchError as e:
        sys.stderr.write(f"Error: {e}\n")
        sys.stderr.flush()
        exit_now(1)
    return True  # pragma: no cover - run() does not return


def exit_now(code: int = 0) -> NoReturn:
    """Leave without tearing the interpreter down (70-100 ms here for a job's few hundred modules).

    Called once the job is fully stopped: hardware released, ``disconnected`` acknowledged by
    the broker, the registry lock freed. Log handlers and standard streams are flushed first;
    atexit handlers are run explicitly.
    """
    import atexit
    import contextlib
    import os

    atexit._run_exitfuncs()
    logging.shutdown()
    for stream in (sys.stdout, sys.stderr):
        with contextlib.suppress(Exception):
            stream.flush()
    os._exit(code)
