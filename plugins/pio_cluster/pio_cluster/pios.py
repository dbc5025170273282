"""``pios``: commands from the leader to many units, each unit's answer printed.

Every command waits for each unit's answer (up to ``--timeout``, default ``[cluster]
command_timeout_s``), prints one line per unit (``ok``, ``failed`` with the reason, or
``unreachable``) and exits 1 when any unit did not succeed (2 when nothing could be sent).
Without ``--units`` a command goes to every active worker of the inventory (``--all``).
"""

from __future__ import annotations

import json
import sys
import time
from collections.abc import Callable
from typing import Any

import click

from .client import ClusterClient, ClusterError, UnitResult, summary

CONTEXT = {"help_option_names": ["-h", "--help"]}


def _targets(func: Callable[..., Any]) -> Callable[..., Any]:
    func = click.option("--json", "as_json", is_flag=True, help="One JSON object per unit")(func)
    func = click.option("--timeout", "timeout_s", type=click.FloatRange(0.5, 3600), default=None,
                        help="Seconds to wait for every answer [default: [cluster] command_timeout_s]")(func)
    func = click.option("--all", "all_units", is_flag=True, help="Every active worker of the inventory (the default)")(func)
    func = click.option("--units", "-u", "units", multiple=True, metavar="U1,U2",
                        help="Only these units (comma-separated; repeatable)")(func)
    return func


def resolve_units(units: tuple[str, ...], all_units: bool) -> list[str]:
    named = [u.strip() for item in units for u in item.split(",") if u.strip()]
    if named and all_units:
        raise click.UsageError("give --units or --all, not both")
    if named:
        from pioreactor_kernel.names import validate_name

        try:
            return [validate_name("unit", u) for u in named]
        except ValueError as e:
            raise click.BadParameter(str(e), param_hint="--units") from None
    from .inventory import Inventory, InventoryError

    try:
        inventory = Inventory()
    except InventoryError as e:
        raise click.ClickException(str(e)) from None
    active = inventory.active_units()
    inventory.close()
    if not active:
        raise click.ClickException("no active workers in the inventory: add some with `pio workers add <unit>` "
                                   "(or `pio workers discover --add`), or name them with --units")
    return active


def dispatch(units: tuple[str, ...], all_units: bool, action: str, args: Any, timeout_s: float | None,
             as_json: bool, default_timeout_key: str = "command_timeout_s") -> None:
    from pioreactor_kernel.config import get_config

    targets = resolve_units(units, all_units)
    if timeout_s is None:
        timeout_s = get_config().getfloat("cluster", default_timeout_key, 30.0) or 30.0
    started = time.monotonic()
    try:
        with ClusterClient() as cluster:
            results = cluster.send(targets, action, args, timeout_s)
    except ClusterError as e:
        click.echo(f"Error: {e}", err=True)
        sys.exit(2)
    report(results, as_json, time.monotonic() - started)
    if not all(r.ok for r in results):
        sys.exit(1)


def report(results: list[UnitResult], as_json: bool, elapsed_s: float) -> None:
    if as_json:
        for r in results:
            click.echo(json.dumps({"unit": r.unit, "status": r.status, "detail": r.detail, "elapsed_s": r.elapsed_s,
                                   "clock_offset_s": r.clock_offset_s, "data": r.data}))
        return
    width = max([len(r.unit) for r in results] + [4])
    colours = {"ok": "green", "failed": "red", "unreachable": "yellow"}
    for r in results:
        status = click.style(f"{r.status:<12}", fg=colours[r.status])
        click.echo(f"{r.unit:<{width}}  {status} {r.detail}")
    click.echo(f"{summary(results)} in {elapsed_s:.2f} s")


def parse_job_options(extra: list[str]) -> dict[str, Any]:
    """``--target-rpm 400 --flag --x=1`` -> ``{"target_rpm": "400", "flag": True, "x": "1"}``."""
    options: dict[str, Any] = {}
    i = 0
    while i < len(extra):
        token = extra[i]
        if not token.startswith("--") or len(token) < 3:
            raise click.UsageError(f"unexpected argument {token!r}: job options are --name value")
        name, eq, value = token[2:].partition("=")
        if not eq:
            following = extra[i + 1] if i + 1 < len(extra) else None
            if following is None or (following.startswith("--") and len(following) > 2):
                value = True  # a flag
            else:
                value, i = following, i + 1
        options[name.replace("-", "_")] = value
        i += 1
    return options


@click.group(context_settings=CONTEXT)
def pios() -> None:
    """Commands from the leader to the cluster's units (see docs/cluster.md)."""


@pios.command(context_settings={**CONTEXT, "ignore_unknown_options": True, "allow_extra_args": True})
@click.argument("job")
@click.option("--experiment", default=None, help="Run it in this experiment [default: the unit's current one]")
@_targets
@click.pass_context
def run(ctx: click.Context, job: str, experiment: str | None, units: tuple[str, ...], all_units: bool,
        timeout_s: float | None, as_json: bool) -> None:
    """Start JOB on the units, with its options (e.g. `pios run stirring --target-rpm 400 --units u1,u2`)."""
    args: dict[str, Any] = {"job": job, "options": parse_job_options(list(ctx.args))}
    if experiment:
        args["experiment"] = experiment
    dispatch(units, all_units, "run", args, timeout_s, as_json)


@pios.command()
@click.argument("jobs", nargs=-1)
@click.option("--all-jobs", is_flag=True, help="Stop every job (not the agent, mqtt_to_db or ui)")
@click.option("--experiment", default=None, help="Only jobs of this experiment")
@_targets
def kill(jobs: tuple[str, ...], all_jobs: bool, experiment: str | None, units: tuple[str, ...], all_units: bool,
         timeout_s: float | None, as_json: bool) -> None:
    """Stop JOBS (or --all-jobs) on the units."""
    if not jobs and not all_jobs:
        raise click.UsageError("name the jobs to stop, or pass --all-jobs")
    args: dict[str, Any] = {"jobs": list(jobs), "all": all_jobs}
    if experiment:
        args["experiment"] = experiment
    dispatch(units, all_units, "kill", args, timeout_s, as_json)


@pios.command(name="set")
@click.argument("job")
@click.argument("setting")
@click.argument("value")
@_targets
def set_setting(job: str, setting: str, value: str, units: tuple[str, ...], all_units: bool,
                timeout_s: float | None, as_json: bool) -> None:
    """Change SETTING of the running JOB to VALUE (checked against the job's declaration)."""
    dispatch(units, all_units, "set", {"job": job, "setting": setting.replace("-", "_"), "value": value},
             timeout_s, as_json)


@pios.command(name="sync-config")
@click.option("--shared/--no-shared", default=True, show_default=True, help="Send the leader's config.ini")
@_targets
def sync_config(shared: bool, units: tuple[str, ...], all_units: bool, timeout_s: float | None, as_json: bool) -> None:
    """Send the leader's config.ini (and config_<unit>.ini, if any, as the unit's unit_config.ini).

    The [cluster] secret is never sent (each unit keeps its own); [cluster] leader_name is set to
    this leader in what is sent, so a synced unit cannot lose its leader.
    """
    from pioreactor_kernel.identity import unit_name
    from pioreactor_kernel.paths import data_dir

    from .configtext import with_key, without_secret

    directory = data_dir()
    shared_path = directory / "config.ini"
    shared_text = None
    if shared:
        text = shared_path.read_text(encoding="utf-8") if shared_path.exists() else ""
        shared_text = with_key(without_secret(text), "leader_name", unit_name())

    def args_for(unit: str) -> dict[str, Any]:
        unit_path = directory / f"config_{unit}.ini"
        unit_text = without_secret(unit_path.read_text(encoding="utf-8")) if unit_path.exists() else None
        return {"shared": shared_text, "unit": unit_text}

    dispatch(units, all_units, "config", args_for, timeout_s, as_json)


@pios.command()
@_targets
def status(units: tuple[str, ...], all_units: bool, timeout_s: float | None, as_json: bool) -> None:
    """Each unit's agent: versions, running jobs, clock offset to the leader."""
    dispatch(units, all_units, "status", {}, timeout_s, as_json)


@pios.group()
def plugins() -> None:
    """Install or uninstall plugins on the units (pip, argument lists only)."""


@plugins.command()
@click.argument("packages", nargs=-1, required=True)
@_targets
def install(packages: tuple[str, ...], units: tuple[str, ...], all_units: bool, timeout_s: float | None,
            as_json: bool) -> None:
    """Install PACKAGES (requirement strings or https URLs) on the units."""
    dispatch(units, all_units, "install", {"packages": list(packages)}, timeout_s, as_json, "plugin_install_timeout_s")


@plugins.command()
@click.argument("packages", nargs=-1, required=True)
@_targets
def uninstall(packages: tuple[str, ...], units: tuple[str, ...], all_units: bool, timeout_s: float | None,
              as_json: bool) -> None:
    """Uninstall PACKAGES on the units."""
    dispatch(units, all_units, "uninstall", {"packages": list(packages)}, timeout_s, as_json, "plugin_install_timeout_s")


def main() -> None:
    from pioreactor_kernel.config import ConfigError

    try:
        pios(prog_name="pios")
    except ConfigError as e:
        click.echo(f"Error: {e}", err=True)
        sys.exit(2)
