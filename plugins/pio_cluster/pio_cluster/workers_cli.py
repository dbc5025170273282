"""``pio workers discover|add|remove|list|status|activate|deactivate``: the leader's inventory."""

from __future__ import annotations

import json
import sys
from typing import Any

import click

from .inventory import Inventory, InventoryError


def _inventory() -> Inventory:
    try:
        return Inventory()
    except InventoryError as e:
        raise click.ClickException(str(e)) from None


@click.group()
def workers() -> None:
    """The leader's inventory of workers (stored in the leader's database)."""


@workers.command()
@click.option("--timeout", "timeout_s", type=click.FloatRange(0.5, 60), default=3.0, show_default=True,
              help="Seconds to listen for units [s]")
@click.option("--add", "add_found", is_flag=True, help="Add every discovered worker to the inventory")
@click.option("--json", "as_json", is_flag=True)
def discover(timeout_s: float, add_found: bool, as_json: bool) -> None:
    """List the units advertising themselves with zeroconf (and name conflicts)."""
    from pioreactor_kernel.config import get_config

    from .discovery import browse, interfaces_from

    setting = get_config().get("cluster", "zeroconf_interfaces")
    try:
        found = browse(timeout_s, interfaces_from(setting))
    except (OSError, ValueError, RuntimeError) as e:
        raise click.ClickException(f"cannot listen for zeroconf on {setting!r} ([cluster] zeroconf_interfaces): "
                                   f"{type(e).__name__}: {e}") from None
    inventory = _inventory()
    known = {w.unit for w in inventory.workers()}
    for f in found:
        if as_json:
            click.echo(json.dumps({"name": f.name, "role": f.role, "version": f.version, "addresses": f.addresses,
                                   "port": f.port, "in_inventory": f.name in known, "conflict": f.conflict}))
            continue
        mark = "in inventory" if f.name in known else "new"
        click.echo(f"{f.name:<20} {f.role:<7} {f.version:<10} {','.join(f.addresses):<32} {mark}")
        if f.conflict:
            click.echo(click.style(f"{'':<20} CONFLICT: {f.conflict}", fg="red"))
    if not found and not as_json:
        click.echo(f"no units answered within {timeout_s:g} s")
    if add_found:
        for f in found:
            if f.role == "worker" and f.name not in known and not f.conflict:
                inventory.add(f.name, ",".join(f.addresses))
                click.echo(f"added {f.name}")
    if any(f.conflict for f in found):
        sys.exit(1)


@workers.command()
@click.argument("unit")
@click.option("--address", default=None, help="Its address (informative; commands go through the broker)")
def add(unit: str, address: str | None) -> None:
    """Add UNIT to the inventory (active)."""
    inventory = _inventory()
    try:
        new = inventory.add(unit, address)
    except ValueError as e:
        raise click.BadParameter(str(e)) from None
    click.echo(f"{'added' if new else 'updated'} {unit} (active) in {inventory.where}")


@workers.command()
@click.argument("unit")
def remove(unit: str) -> None:
    """Remove UNIT from the inventory."""
    if not _inventory().remove(unit):
        raise click.ClickException(f"{unit} is not in the inventory")
    click.echo(f"removed {unit}")


@workers.command()
@click.argument("unit")
def activate(unit: str) -> None:
    """Mark UNIT active: `pios ... --all` includes it."""
    if not _inventory().set_active(unit, True):
        raise click.ClickException(f"{unit} is not in the inventory")
    click.echo(f"{unit} is active")


@workers.command()
@click.argument("unit")
def deactivate(unit: str) -> None:
    """Mark UNIT inactive: it stays in the inventory, `pios ... --all` leaves it out."""
    if not _inventory().set_active(unit, False):
        raise click.ClickException(f"{unit} is not in the inventory")
    click.echo(f"{unit} is inactive")


@workers.command(name="list")
@click.option("--json", "as_json", is_flag=True)
def list_workers(as_json: bool) -> None:
    """Every worker of the inventory, active or not."""
    rows = _inventory().workers()
    for w in rows:
        if as_json:
            click.echo(json.dumps({"unit": w.unit, "address": w.address, "active": bool(w.active),
                                   "added_at": w.added_at, "last_seen_at": w.last_seen_at}))
        else:
            click.echo(f"{w.unit:<20} {'active' if w.active else 'inactive':<9} {w.address or '-':<24} "
                       f"added {w.added_at}  last seen {w.last_seen_at or 'never'}")
    if not rows and not as_json:
        click.echo("no workers: `pio workers add <unit>` or `pio workers discover --add`")


@workers.command()
@click.option("--timeout", "timeout_s", type=click.FloatRange(0.5, 600), default=5.0, show_default=True,
              help="Seconds to wait for every agent [s]")
@click.option("--json", "as_json", is_flag=True)
def status(timeout_s: float, as_json: bool) -> None:
    """Every worker: reachable, jobs running, versions, clock offset to the leader."""
    from .client import ClusterClient, ClusterError

    inventory = _inventory()
    rows = inventory.workers()
    if not rows:
        raise click.ClickException("no workers in the inventory")
    try:
        with ClusterClient() as cluster:
            results = {r.unit: r for r in cluster.send([w.unit for w in rows], "status", {}, timeout_s)}
    except ClusterError as e:
        raise click.ClickException(str(e)) from None
    for w in rows:
        r = results[w.unit]
        if r.ok:
            inventory.seen(w.unit)
        line = _status_line(w, r)
        click.echo(json.dumps(line) if as_json else _format(line))
    if not all(results[w.unit].ok for w in rows if w.active):
        sys.exit(1)


def _status_line(worker: Any, r: Any) -> dict[str, Any]:
    data = r.data or {}
    running = [j["job"] for j in data.get("running", []) if j.get("job") != "agent"]
    plugins = {p["dist"] or p["name"]: p["version"] for p in data.get("plugins", []) if p.get("status") == "loaded"}
    return {"unit": worker.unit, "active": bool(worker.active), "reachable": r.ok, "detail": "" if r.ok else r.detail,
            "jobs": running, "kernel": data.get("kernel"), "plugins": plugins,
            "clock_offset_s": None if r.clock_offset_s is None else round(r.clock_offset_s, 3),
            "round_trip_s": None if r.elapsed_s is None else round(r.elapsed_s, 3)}


def _format(line: dict[str, Any]) -> str:
    head = f"{line['unit']:<20} {'active' if line['active'] else 'inactive':<9} "
    if not line["reachable"]:
        return head + click.style("unreachable", fg="yellow") + f"  {line['detail']}"
    plugins = ", ".join(f"{k} {v}" for k, v in sorted(line["plugins"].items()))
    return (head + click.style("reachable", fg="green") + f"  jobs: {', '.join(line['jobs']) or 'none'}; "
            f"kernel {line['kernel']}; clock offset {line['clock_offset_s']:+.3f} s "
            f"(round trip {line['round_trip_s']:.3f} s); plugins: {plugins}")
