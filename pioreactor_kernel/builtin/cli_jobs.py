"""`pio run`, `pio kill`, `pio jobs`."""

from __future__ import annotations

import os
import signal
import time

import click

from pioreactor_kernel import registry
from pioreactor_kernel.cli import RunGroup


@click.group(cls=RunGroup, context_settings={"help_option_names": ["-h", "--help"]})
def run() -> None:
    """Run a job or action on this unit. `pio run <job> --help` shows its options."""


@click.command()
@click.argument("job_names", nargs=-1)
@click.option("--all", "all_jobs", is_flag=True, help="Stop every job running on this unit (services excepted)")
@click.option("--include-services", is_flag=True, help="With --all, also stop the unit's services (agent, database writer, UI)")
@click.option("--timeout", "timeout_s", default=5.0, show_default=True, help="Seconds to wait for a clean stop [s]")
def kill(job_names: tuple[str, ...], all_jobs: bool, include_services: bool, timeout_s: float) -> None:
    """Stop jobs cleanly (SIGTERM; SIGKILL after the timeout)."""
    if not job_names and not all_jobs:
        raise click.UsageError("name the jobs to stop, or pass --all")
    if all_jobs:
        from pioreactor_kernel.plugins import plugin_manager

        jobs = plugin_manager().jobs
        records = [r for r in registry.running_jobs()
                   if include_services or not (r.job in jobs and jobs[r.job].extra.get("service"))]
    else:
        records = [r for n in job_names if (r := registry.read(n))]
    missing = [n for n in job_names if not registry.read(n)]
    for name in missing:
        click.echo(f"{name}: not running")
    for record in records:
        try:
            os.kill(record.pid, signal.SIGTERM)
        except ProcessLookupError:
            continue
    deadline = time.monotonic() + timeout_s
    for record in records:
        while registry.read(record.job) and time.monotonic() < deadline:
            time.sleep(0.01)
        if registry.read(record.job):
            os.kill(record.pid, signal.SIGKILL)
            click.echo(f"{record.job}: did not stop within {timeout_s:g} s; killed (pid {record.pid})")
        else:
            click.echo(f"{record.job}: stopped (pid {record.pid})")


@click.command()
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output")
def jobs(as_json: bool) -> None:
    """List the jobs running on this unit."""
    records = registry.running_jobs()
    if as_json:
        import json
        click.echo(json.dumps([r._asdict() for r in records]))
        return
    if not records:
        click.echo("no jobs running")
        return
    click.echo(f"{'job':<28}{'pid':>8}  {'experiment':<24}started")
    for r in records:
        click.echo(f"{r.job:<28}{r.pid:>8}  {r.experiment:<24}{r.started_at}")
