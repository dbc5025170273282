"""`pio logs`: this unit's log file (as the kernel's), or a search of the cluster's stored logs."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

import click
from pioreactor_kernel.builtin.cli_mqtt import logs as file_logs
from pioreactor_kernel.names import LOG_LEVELS

_DURATION = re.compile(r"(\d+(?:\.\d+)?)\s*([smhdw])")
_SECONDS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}


def since_timestamp(value: str, now: datetime | None = None) -> str:
    """``2h``, ``30m``, ``1d12h`` ago, or an ISO-8601 time, as a stored (canonical UTC) timestamp."""
    from .stream_parsers import canonical_timestamp

    text = value.strip().lower()
    parts = _DURATION.findall(text)
    if parts and "".join(f"{n}{u}" for n, u in parts) == text.replace(" ", ""):
        seconds = sum(float(n) * _SECONDS[u] for n, u in parts)
        return ((now or datetime.now(UTC)) - timedelta(seconds=seconds)).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    try:
        return canonical_timestamp(value.strip())
    except ValueError:
        raise click.BadParameter(f"{value!r}: expected a duration like 30m, 2h, 1d or an ISO-8601 time") from None


def search(experiment: str | None = None, level: str | None = None, since: str | None = None,
           units: tuple[str, ...] = (), text: str | None = None, limit: int = 200) -> list:
    """Stored log records matching every given filter, oldest first (the newest ``limit``)."""
    from .streams import LogRecord

    query = LogRecord.select()
    if experiment:
        query = query.where(LogRecord.experiment == experiment)
    if level:
        wanted = LOG_LEVELS[LOG_LEVELS.index(level.upper()):]
        query = query.where(LogRecord.level.in_(wanted))
    if since:
        query = query.where(LogRecord.timestamp >= since)
    if units:
        query = query.where(LogRecord.pioreactor_unit.in_(list(units)))
    if text:
        from peewee import SQL, NodeList, fn

        escaped = text.lower().replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
        # the pattern is a bound parameter; ESCAPE makes % and _ in the text literal on both databases
        query = query.where(NodeList((fn.LOWER(LogRecord.message), SQL("LIKE"), f"%{escaped}%", SQL("ESCAPE '\\'"))))
    rows = list(query.order_by(LogRecord.timestamp.desc(), LogRecord.fingerprint.desc()).limit(limit))
    return rows[::-1]


@click.command()
@click.option("-f", "--follow", is_flag=True, help="Keep printing new lines of this unit's log file")
@click.option("-n", "--lines", default=50, show_default=True, help="How many lines (or stored records) to show")
@click.option("--experiment", default=None, help="Search the stored logs of this experiment")
@click.option("--level", type=click.Choice(LOG_LEVELS, case_sensitive=False), default=None,
              help="Only records at this level or above")
@click.option("--since", default=None, help="Only records newer than this: 30m, 2h, 1d, or an ISO-8601 time")
@click.option("--unit", "units", multiple=True, help="Only these units (repeatable)")
@click.option("--search", "text", default=None, help="Only records whose message contains this text")
@click.pass_context
def logs(ctx: click.Context, follow: bool, lines: int, experiment: str | None, level: str | None,
         since: str | None, units: tuple[str, ...], text: str | None) -> None:
    """Show this unit's log file; with --experiment, --level, --since, --unit or --search, search the
    logs of the whole cluster stored in the leader's database."""
    if not any((experiment, level, since, units, text)):
        ctx.invoke(file_logs, follow=follow, lines=lines)
        return
    from .storage import StorageError, open_leader_database

    try:
        open_leader_database()
    except StorageError as e:
        raise click.ClickException(str(e)) from None
    for r in search(experiment, level, since_timestamp(since) if since else None, units, text, lines):
        click.echo(f"{r.timestamp} {r.level:<8} [{r.pioreactor_unit} {r.experiment} {r.task}] {r.message}")
