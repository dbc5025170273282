"""`pio export`: the command; :mod:`pio_leader.export` does the work (and serves the web UI too)."""

from __future__ import annotations

import sys
from pathlib import Path

import click


def _without_unneeded_libraries() -> None:
    """In this process, exporting from SQLite: keep peewee from loading PostgreSQL's driver (libpq
    and OpenSSL), and hashlib from loading OpenSSL (its built-in hashes serve): 9.5 MB less memory.

    Only in a process that has not loaded peewee yet (a `pio export`, not a caller that imported
    the leader's modules, which may want PostgreSQL later), and when the database is SQLite.
    """
    from pioreactor_kernel.config import get_config

    url = (get_config().get("leader", "database_url") or "").strip()
    if "peewee" in sys.modules or url.startswith(("postgres://", "postgresql://")):
        return
    sys.modules.setdefault("psycopg2", None)  # type: ignore[arg-type]  # peewee goes without it
    if "hashlib" not in sys.modules:
        sys.modules.setdefault("_hashlib", None)  # type: ignore[arg-type]  # hashlib uses its built-in hashes


@click.command()
@click.option("--experiment", required=True, help="The experiment to export")
@click.option(
    "--datasets", "dataset_names", default="", help="Comma-separated datasets (default: all); see --list"
)
@click.option("--format", "fmt", type=click.Choice(["csv", "parquet"]), default="csv", show_default=True)
@click.option(
    "-o",
    "--output",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="The zip to write (default: <experiment>-<time>.zip here)",
)
@click.option("--start", default=None, help="Only rows at or after this time (ISO-8601, or 2h/1d ago)")
@click.option("--end", default=None, help="Only rows before this time (ISO-8601, or 2h/1d ago)")
@click.option("--unit", "units", multiple=True, help="Only these units (repeatable)")
@click.option("--list", "list_only", is_flag=True, help="List the datasets that can be exported and exit")
def export(
    experiment: str,
    dataset_names: str,
    fmt: str,
    output: Path | None,
    start: str | None,
    end: str | None,
    units: tuple[str, ...],
    list_only: bool,
) -> None:
    """Export an experiment's datasets to one zip (CSV or Parquet files and a manifest.json)."""
    _without_unneeded_libraries()
    from pioreactor_kernel.timestamps import current_utc_timestamp

    from .export import ExportError, count_rows, datasets, export_experiment, small_page_cache
    from .logs_cli import since_timestamp
    from .storage import StorageError, open_leader_database

    try:
        db, table_sets = open_leader_database()
    except StorageError as e:
        raise click.ClickException(str(e)) from None
    available = datasets(table_sets)
    if list_only:
        for name, ds in sorted(available.items()):
            click.echo(f"{name}: {', '.join(ds.columns)}")
        return
    wanted = [n.strip() for n in dataset_names.split(",") if n.strip()] or sorted(available)
    unknown = [n for n in wanted if n not in available]
    if unknown:
        raise ExportError(
            f"no dataset {', '.join(map(repr, unknown))}; datasets: {', '.join(sorted(available))}"
        )
    start_ts, end_ts = (since_timestamp(start) if start else None), (since_timestamp(end) if end else None)
    chosen = [available[n] for n in wanted]
    output = output or Path(f"{experiment}-{current_utc_timestamp()[:19].replace(':', '')}.zip")
    small_page_cache(db)
    total = sum(count_rows(db, ds, experiment, start_ts, end_ts, units) for ds in chosen)
    with click.progressbar(length=total, label=f"exporting {total:,} rows", file=sys.stderr) as bar:
        manifest = export_experiment(
            db,
            chosen,
            experiment,
            output,
            fmt=fmt,
            start=start_ts,
            end=end_ts,
            units=units,
            progress=bar.update,
        )
    for d in manifest["datasets"]:
        click.echo(
            f"{d['name']}: {d['rows']:,} rows"
            + (f" ({d['time_range'][0]} .. {d['time_range'][1]})" if d["rows"] else "")
        )
    click.echo(f"wrote {output}")
