"""Registrations of the cluster plugin: import paths only, so that `pio --help` stays fast."""

from __future__ import annotations

from typing import Any

from pioreactor_kernel.plugins import hookimpl


@hookimpl
def register_jobs(register: Any) -> None:
    register("agent", "pio_cluster.agent:Agent", help="Take commands from the leader (started with the unit)",
             service=True)


@hookimpl
def register_tables(register: Any) -> None:
    register("cluster", "pio_cluster.inventory:tables")


@hookimpl
def register_services(register: Any) -> None:
    """What other plugins use of pio-cluster (docs/cluster.md, "Services"): the signatures are the contract."""
    register("cluster.send", "pio_cluster.client:send",
             help="send(units, action, args, timeout_s=30.0) -> [UnitResult]: a signed command to units' agents "
             "and their answers; ClusterError (RuntimeError) if nothing can be sent")
    register("cluster.workers", "pio_cluster.inventory:list_workers",
             help="list_workers() -> [{unit, address, active, added_at, last_seen_at}]: the leader's inventory")


@hookimpl
def register_commands(cli: Any) -> None:
    cli.add_lazy_command("workers", "pio_cluster.workers_cli:workers",
                         help="The leader's inventory of workers: discover, add, remove, list, status")
    cli.add_lazy_command("leader", "pio_cluster.updown:leader",
                         help="Bring the leader's services up or down (broker, mqtt_to_db, agent, ui)")
    cli.add_lazy_command("worker", "pio_cluster.updown:worker",
                         help="Bring this worker up or down (agent, [worker] start_jobs)")


@hookimpl
def config_defaults() -> dict[str, dict[str, str]]:
    from pio_cluster.names import DEFAULTS

    return {section: dict(values) for section, values in DEFAULTS.items()}
