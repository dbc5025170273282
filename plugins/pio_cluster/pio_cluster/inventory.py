"""The leader's inventory of workers, stored in the leader's database.

With pio-leader installed (``[cluster] inventory = auto`` or ``leader``) the tables live in its
database (SQLite or PostgreSQL), created and migrated by its schema machinery (its
``leader.database`` service): this plugin declares them through the kernel's
``register_tables`` hook (target :func:`tables`), so ``pio db migrate`` and ``mqtt_to_db`` know
them too. Without pio-leader (or with ``inventory = local``) they live in
``storage/cluster.sqlite`` in the data dir.

:func:`tables` also gives ``mqtt_to_db`` parsers for the agent's command and reply topics: the
leader's database keeps an audit log of every command and its outcome (never a command's
arguments' contents, which may hold config text).
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from typing import Any

import peewee
from peewee import BooleanField, TextField
from pioreactor_kernel.config import get_config
from pioreactor_kernel.names import Topic, validate_name
from pioreactor_kernel.services import has_service, service
from pioreactor_kernel.timestamps import current_utc_timestamp

from .names import ALL_COMMANDS, ALL_REPLIES, SECTION

logger = logging.getLogger("pioreactor.cluster.inventory")
TABLE_SET = "cluster"
LEADER_DATABASE = "leader.database"  # pio-leader's service (docs/leader-storage.md)
LOCAL_FILE = "cluster.sqlite"


class InventoryError(RuntimeError):
    pass


class Worker(peewee.Model):
    unit = TextField(primary_key=True)
    address = TextField(null=True)
    active = BooleanField(default=True)
    added_at = TextField()
    last_seen_at = TextField(null=True)

    class Meta:
        table_name = "cluster_workers"


class CommandLog(peewee.Model):
    kind = TextField()  # command | reply
    command_id = TextField()
    pioreactor_unit = TextField()
    timestamp = TextField()
    action = TextField()
    ok = BooleanField(null=True)
    detail = TextField(default="")

    class Meta:
        table_name = "cluster_command_log"
        indexes = ((("kind", "command_id", "pioreactor_unit"), True),)


MODELS: list[type[peewee.Model]] = [Worker, CommandLog]
SUMMARY_KEYS = ("job", "jobs", "all", "setting", "value", "packages", "experiment")


def _body(payload: bytes) -> dict[str, Any]:
    body = json.loads(json.loads(payload)["body"])
    if not isinstance(body, dict):
        raise ValueError("the body is not a JSON object")
    return body


def parse_command(topic: Topic, payload: bytes) -> tuple:
    body = _body(payload)
    args = body["args"] if isinstance(body.get("args"), dict) else {}
    summary = json.dumps({k: args[k] for k in SUMMARY_KEYS if k in args})[:500]
    return ("command", str(body["id"])[:64], topic.unit, str(body.get("issued_at", ""))[:40] or current_utc_timestamp(),
            str(body.get("action", ""))[:32], None, summary)


def parse_reply(topic: Topic, payload: bytes) -> tuple:
    body = _body(payload)
    return ("reply", str(body["id"])[:64], topic.unit, str(body.get("timestamp", ""))[:40] or current_utc_timestamp(),
            str(body.get("action", ""))[:32], body.get("ok") is True, str(body.get("detail", ""))[:500])


def tables() -> tuple[list[type[peewee.Model]], dict[str, tuple[type[peewee.Model], Callable[..., tuple]]]]:
    """The ``register_tables`` target: ``(models, {topic filter: (model, parser)})``."""
    return MODELS, {ALL_COMMANDS: (CommandLog, parse_command), ALL_REPLIES: (CommandLog, parse_reply)}


def open_inventory() -> tuple[peewee.Database, str]:
    """The database holding the inventory, with its tables in place, and a description of where."""
    mode = (get_config().get(SECTION, "inventory") or "auto").strip().lower()
    if mode not in ("auto", "leader", "local"):
        raise InventoryError(f"[cluster] inventory = {mode!r}: expected auto, leader or local")
    if mode != "local":
        leader_database = _leader_database()
        if leader_database is not None:
            try:
                opened = leader_database({TABLE_SET: tables()}, plugin="cluster")
            except RuntimeError as e:  # the service's StorageError
                raise InventoryError(f"the leader's database cannot hold the inventory: {e}") from None
            opened.db.bind(MODELS)
            return opened.db, f"the leader's database ({opened.where})"
        if mode == "leader":
            raise InventoryError("[cluster] inventory = leader, but the pio-leader plugin is not installed or is disabled")
    from pioreactor_kernel.paths import sub_dir

    path = sub_dir("storage") / LOCAL_FILE
    db = peewee.SqliteDatabase(str(path), pragmas={"journal_mode": "wal", "busy_timeout": 10_000})
    db.bind(MODELS)
    with db.atomic():
        db.create_tables(MODELS, safe=True)
    return db, str(path)


def _leader_database() -> Callable[..., Any] | None:
    """pio-leader's ``leader.database`` service, or None without it (or when it cannot be imported)."""
    if not has_service(LEADER_DATABASE):
        return None
    try:
        return service(LEADER_DATABASE)
    except ImportError as e:
        logger.warning("the %s service cannot be imported (%s): the inventory stays local", LEADER_DATABASE, e)
        return None


def list_workers() -> list[dict[str, Any]]:
    """The ``cluster.workers`` service: every worker of the inventory, sorted by name.

    Each is ``{"unit", "address", "active", "added_at", "last_seen_at"}`` (``address`` and
    ``last_seen_at`` may be None; timestamps are ISO 8601 UTC). Raises :class:`InventoryError` (a
    ``RuntimeError``) when the inventory cannot be opened.
    """
    inventory = Inventory()
    try:
        return [{"unit": w.unit, "address": w.address, "active": bool(w.active), "added_at": w.added_at,
                 "last_seen_at": w.last_seen_at} for w in inventory.workers()]
    finally:
        inventory.close()


class Inventory:
    """Add, remove, list and (de)activate workers."""

    def __init__(self) -> None:
        self.db, self.where = open_inventory()

    def add(self, unit: str, address: str | None = None) -> bool:
        """True if the unit is new; an existing one gets its address updated and is activated."""
        validate_name("unit", unit)
        with self.db.atomic():
            existing = Worker.get_or_none(Worker.unit == unit)
            if existing is None:
                Worker.create(unit=unit, address=address, active=True, added_at=current_utc_timestamp())
                return True
            Worker.update(active=True, **({"address": address} if address else {})).where(Worker.unit == unit).execute()
            return False

    def remove(self, unit: str) -> bool:
        return bool(Worker.delete().where(Worker.unit == unit).execute())

    def set_active(self, unit: str, active: bool) -> bool:
        return bool(Worker.update(active=active).where(Worker.unit == unit).execute())

    def seen(self, unit: str, address: str | None = None) -> None:
        values: dict[Any, Any] = {Worker.last_seen_at: current_utc_timestamp()}
        if address:
            values[Worker.address] = address
        Worker.update(values).where(Worker.unit == unit).execute()

    def workers(self) -> list[Worker]:
        return list(Worker.select().order_by(Worker.unit))

    def active_units(self) -> list[str]:
        return [w.unit for w in Worker.select(Worker.unit).where(Worker.active == True).order_by(Worker.unit)]  # noqa: E712

    def get(self, unit: str) -> Worker | None:
        return Worker.get_or_none(Worker.unit == unit)

    def close(self) -> None:
        if not self.db.is_closed():
            self.db.close()
