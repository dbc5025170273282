"""Experiments on the leader: create, list, switch the current one, assign units, notes, metadata.

The current experiment is the retained ``pioreactor/latest_experiment/experiment`` topic (every
unit reads it); the database keeps the experiments' records. An experiment first seen on the
wire (data published under a name nobody created) is recorded too, so none goes unlisted.

This module is pio-leader's ``leader.experiments`` service (see docs/leader-storage.md): its
public functions, :class:`ExperimentInfo` and :class:`ExperimentError` are the contract. They
read and write through the models bound by ``leader.database`` (``leader_database()``): call
them inside ``with db.connection_context():`` of that database.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import peewee
from peewee import TextField
from pioreactor_kernel.names import LATEST_EXPERIMENT_TOPIC, Topic, validate_name
from pioreactor_kernel.timestamps import current_utc_timestamp


class ExperimentError(ValueError):
    """A request about experiments that cannot be done; the message says why and what to do."""


class Experiment(peewee.Model):
    experiment = TextField(primary_key=True)
    created_at = TextField()
    description = TextField(default="")

    class Meta:
        table_name = "experiments"


class ExperimentUnit(peewee.Model):
    experiment = TextField()
    pioreactor_unit = TextField()
    assigned_at = TextField()

    class Meta:
        table_name = "experiment_units"
        indexes = ((("experiment", "pioreactor_unit"), True),)


class ExperimentNote(peewee.Model):
    experiment = TextField()
    timestamp = TextField()
    note = TextField()
    pioreactor_unit = TextField(null=True)

    class Meta:
        table_name = "experiment_notes"
        indexes = ((("experiment", "timestamp"), False),)


class ExperimentMetadata(peewee.Model):
    experiment = TextField()
    key = TextField()
    value = TextField()
    updated_at = TextField()

    class Meta:
        table_name = "experiment_metadata"
        indexes = ((("experiment", "key"), True),)


EXPERIMENT_MODELS: list[type[peewee.Model]] = [Experiment, ExperimentUnit, ExperimentNote, ExperimentMetadata]


@dataclass
class ExperimentInfo:
    name: str
    created_at: str
    description: str
    units: list[str] = field(default_factory=list)
    metadata: dict[str, str] = field(default_factory=dict)


def parse_latest_experiment(topic: Topic, payload: bytes) -> tuple[str, str, str] | None:
    """Row for ``experiments`` from the retained current-experiment topic (plain name or JSON)."""
    text = payload.decode().strip()
    if text.startswith("{"):
        import json

        text = str(json.loads(text).get("experiment") or "")
    return (validate_name("experiment", text), current_utc_timestamp(), "") if text else None


def create(name: str, description: str = "") -> ExperimentInfo:
    name = validate_name("experiment", name)
    if name.startswith("$"):
        raise ExperimentError(f"experiment names cannot start with '$' ({name!r} is reserved for the wire)")
    created = current_utc_timestamp()
    # the row count, not the last row id (which on SQLite is that of the connection's last insert anywhere)
    inserted = (Experiment.insert(experiment=name, created_at=created, description=description)
                .on_conflict_ignore().as_rowcount().execute())
    if not inserted and Experiment.get_or_none(Experiment.experiment == name) is not None:
        raise ExperimentError(f"experiment {name!r} already exists: `pio experiments switch {name}` makes it current")
    return ExperimentInfo(name, created, description)


def get(name: str) -> ExperimentInfo:
    row = Experiment.get_or_none(Experiment.experiment == name)
    if row is None:
        raise ExperimentError(f"no experiment {name!r}: `pio experiments create {name}` creates it")
    units = [u.pioreactor_unit for u in ExperimentUnit.select().where(ExperimentUnit.experiment == name)
             .order_by(ExperimentUnit.pioreactor_unit)]
    metadata = {m.key: m.value for m in ExperimentMetadata.select().where(ExperimentMetadata.experiment == name)
                .order_by(ExperimentMetadata.key)}
    return ExperimentInfo(row.experiment, row.created_at, row.description, units, metadata)


def list_all() -> list[ExperimentInfo]:
    units: dict[str, list[str]] = {}
    for u in ExperimentUnit.select().order_by(ExperimentUnit.pioreactor_unit):
        units.setdefault(u.experiment, []).append(u.pioreactor_unit)
    return [ExperimentInfo(e.experiment, e.created_at, e.description, units.get(e.experiment, []))
            for e in Experiment.select().order_by(Experiment.created_at.desc(), Experiment.experiment)]


def assign(name: str, units: list[str]) -> None:
    get(name)
    now = current_utc_timestamp()
    rows = [{"experiment": name, "pioreactor_unit": validate_name("unit", u), "assigned_at": now} for u in units]
    if rows:
        ExperimentUnit.insert_many(rows).on_conflict_ignore().execute()


def unassign(name: str, units: list[str]) -> int:
    return ExperimentUnit.delete().where((ExperimentUnit.experiment == name)
                                         & ExperimentUnit.pioreactor_unit.in_(units)).execute()


def add_note(name: str, note: str, unit: str | None = None) -> str:
    get(name)
    stamp = current_utc_timestamp()
    ExperimentNote.create(experiment=name, timestamp=stamp, note=note, pioreactor_unit=unit)
    return stamp


def notes(name: str) -> list[ExperimentNote]:
    return list(ExperimentNote.select().where(ExperimentNote.experiment == name).order_by(ExperimentNote.timestamp))


def set_metadata(name: str, key: str, value: str) -> None:
    get(name)
    (ExperimentMetadata.insert(experiment=name, key=key, value=value, updated_at=current_utc_timestamp())
     .on_conflict(conflict_target=[ExperimentMetadata.experiment, ExperimentMetadata.key],
                  update={ExperimentMetadata.value: value, ExperimentMetadata.updated_at: current_utc_timestamp()})
     .execute())


def switch(name: str, *, publish: bool = True) -> None:
    """Make ``name`` the current experiment: the retained topic every unit reads."""
    get(name)
    if publish:
        from pioreactor_kernel.mqtt import publish_once

        publish_once(LATEST_EXPERIMENT_TOPIC, name, retain=True)


def current() -> str | None:
    """The retained current experiment, or None when none is set."""
    from pioreactor_kernel.mqtt import MQTTClient, retained_value

    client = MQTTClient().connect(5)
    try:
        raw = retained_value(client, LATEST_EXPERIMENT_TOPIC)
    finally:
        client.disconnect()
    if not raw:
        return None
    parsed = parse_latest_experiment(Topic("", "", None, ()), raw)
    return parsed[0] if parsed else None
