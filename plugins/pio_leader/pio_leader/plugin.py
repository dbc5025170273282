"""Registrations of the leader plugin: import paths only, so that `pio --help` stays fast."""

from __future__ import annotations

from typing import Any

from pioreactor_kernel.plugins import hookimpl


@hookimpl
def register_jobs(register: Any) -> None:
    register(
        "mqtt_to_db",
        "pio_leader.writer:MQTTToDB",
        help="Store what the cluster publishes in the leader's database (persistent session)",
        service=True,
    )


@hookimpl
def register_tables(register: Any) -> None:
    register("core_streams", "pio_leader.streams:tables")


@hookimpl
def register_services(register: Any) -> None:
    """What other plugins use of pio-leader (docs/leader-storage.md, "Services"): the signatures are the contract."""
    register(
        "leader.database",
        "pio_leader.storage:leader_database",
        help="leader_database(tables=None, *, plugin='') -> LeaderDatabase(db, where, postgres): "
        "the leader's database with its schema in place; StorageError (RuntimeError) if it cannot be used",
    )
    register(
        "leader.experiments",
        "pio_leader.experiments",
        help="Module: create, get, list_all, assign, unassign, add_note, notes, set_metadata, switch, current; "
        "ExperimentInfo, ExperimentError (ValueError); inside the leader.database's connection",
    )
    register(
        "leader.export",
        "pio_leader.export",
        help="Module: datasets() -> {name: Dataset}, count_rows(db, dataset, experiment, start, end, units), "
        "export_experiment(db, datasets, experiment, output, *, fmt, start, end, units, progress) -> manifest",
    )


@hookimpl
def register_commands(cli: Any) -> None:
    cli.add_lazy_command(
        "experiments",
        "pio_leader.experiments_cli:experiments",
        help="Create, list and switch experiments; assign units; notes and metadata",
    )
    cli.add_lazy_command(
        "export",
        "pio_leader.export_cli:export",
        help="Export an experiment's datasets to a zip of CSV or Parquet files",
    )
    cli.add_lazy_command(
        "logs",
        "pio_leader.logs_cli:logs",
        replace=True,
        help="Show this unit's log file, or search the stored logs of the cluster",
    )
    cli.add_lazy_command(
        "db migrate",
        "pio_leader.storage:migrate_command",
        help="Create or upgrade the leader's database schema",
    )


@hookimpl
def config_defaults() -> dict[str, dict[str, str]]:
    return {
        "leader": {
            "database_url": "",  # empty: SQLite at <data dir>/storage/pioreactor.sqlite
            "max_payload_bytes": "262144",
            "mqtt_client_id": "",  # empty: mqtt_to_db-<unit>
        },
    }
