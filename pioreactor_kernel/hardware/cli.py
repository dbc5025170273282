"""``pio hardware``: who holds which channel, which outputs are on, and the watchdog."""

from __future__ import annotations

import json
import time

import click


@click.group()
def hardware() -> None:
    """Show this unit's hardware: channel holders, outputs on, the watchdog."""


@hardware.command()
@click.option("--json", "as_json", is_flag=True, help="Print as JSON")
def status(as_json: bool) -> None:
    """Channel holders, outputs on (with lease time left) and the watchdog's pid."""
    from ..paths import data_dir
    from .context import backend_name, load_config
    from .leases import LeaseStore, now
    from .ownership import holder_of, lock_dir
    from .watchdog import watchdog_pid

    directory = data_dir()
    holders = []
    for path in sorted(lock_dir(directory).glob("*-*.lock")):
        kind, _, channel = path.stem.partition("-")
        holder = holder_of(kind, channel, directory)
        if holder is not None:
            holders.append({"kind": kind, "channel": channel, "pid": holder.pid, "owner": holder.owner,
                            "since": holder.since})
    store = LeaseStore(directory)
    try:
        t = now()
        outputs = [{"kind": lease.kind, "channel": lease.channel, "role": lease.role, "value": lease.value,
                    "pid": lease.pid, "owner": lease.owner, "state": lease.state,
                    "lease_left_s": round(lease.deadline - t, 3)} for lease in store.leases()]
    finally:
        store.close()
    report = {"backend": backend_name(load_config(directory)), "watchdog_pid": watchdog_pid(directory),
              "holders": holders, "outputs": outputs, "at": time.time()}
    if as_json:
        click.echo(json.dumps(report, indent=2))
        return
    click.echo(f"backend {report['backend']}; watchdog " +
               (f"pid {report['watchdog_pid']}" if report["watchdog_pid"] else "not running (starts with the first output)"))
    click.echo("channels held:" if holders else "channels held: none")
    for h in holders:
        click.echo(f"  {h['kind']:<4} {h['channel']:<9} pid {h['pid']:<7} {h['owner']}  since {h['since']}")
    click.echo("outputs on:" if outputs else "outputs on: none")
    for o in outputs:
        click.echo(f"  {o['kind']:<4} {o['channel']:<3} {o['role'] or '-':<10} {o['value']:g} %  {o['state']}"
                   f"  lease {o['lease_left_s']:+.2f} s  pid {o['pid']} ({o['owner']})")
