"""Messages to rows: route each topic to its parsers, batch the rows, commit a batch at once.

The routing of a topic is computed once and cached. A payload that does not parse, or is too
large, is refused: counted, and logged once per topic per minute. A batch that the database
rejects is retried row by row so that one bad row costs only itself; a database that is down
raises :class:`DatabaseUnavailable`, and the caller must not acknowledge the batch's messages.
"""

from __future__ import annotations

import hashlib
import logging
import time
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import peewee
from paho.mqtt.client import topic_matches_sub
from pioreactor_kernel.names import LATEST_EXPERIMENT_TOPIC, Topic, parse_topic
from pioreactor_kernel.timestamps import current_utc_timestamp

from .experiments import Experiment
from .storage import Inserter, LastValue, Parser, TableSet

_db_errors: Any = getattr(peewee, "__exception_wrapper__")  # noqa: B009 - turns driver errors into peewee's classes
_ROW_ERRORS = (peewee.IntegrityError, peewee.DataError, peewee.ProgrammingError, ValueError, TypeError)
_EMPTY = hashlib.blake2b(b"", digest_size=16).hexdigest()


class DatabaseUnavailable(RuntimeError):
    pass


class Refusals:
    """Counts refused messages; logs the first of each topic, then at most once a minute per topic."""

    def __init__(self, logger: logging.Logger, interval_s: float = 60.0) -> None:
        self.logger, self.interval_s = logger, interval_s
        self.count = 0
        self.by_topic: Counter[str] = Counter()
        self._last_logged: dict[str, float] = {}
        self._unlogged: Counter[str] = Counter()

    def add(self, topic: str, why: str) -> None:
        self.count += 1
        self.by_topic[topic] += 1
        now = time.monotonic()
        last = self._last_logged.get(topic)
        if last is not None and now - last < self.interval_s:
            self._unlogged[topic] += 1
            return
        if len(self._last_logged) > 10_000:  # a flood of distinct garbage topics must not grow memory
            self._last_logged = {t: s for t, s in self._last_logged.items() if now - s < self.interval_s}
            self.by_topic = Counter(dict(self.by_topic.most_common(1000)))
        self._last_logged[topic] = now
        more = self._unlogged.pop(topic, 0)
        self.logger.warning(
            "refused a message on %s: %s%s",
            topic,
            why[:300],
            f" ({more} more refused there since the last report)" if more else "",
        )


class BatchWriter:
    """Accumulates rows from messages (``add``) and stores them in one transaction (``flush``)."""

    MAX_CACHED_TOPICS = 100_000

    def __init__(
        self,
        db: peewee.Database,
        table_sets: Sequence[TableSet],
        *,
        max_payload_bytes: int = 256 * 1024,
        logger: logging.Logger | None = None,
    ) -> None:
        self.db = db
        self.logger = logger or logging.getLogger("pioreactor.mqtt_to_db")
        self.max_payload_bytes = max_payload_bytes
        self.refusals = Refusals(self.logger)
        self._parsers: list[tuple[str, Parser]] = [(f, p) for ts in table_sets for f, p in ts.parsers.items()]
        self._inserters: dict[type[peewee.Model], Inserter] = {}
        self._pending: dict[Inserter, list[tuple[Any, ...]]] = {}
        for ts in table_sets:
            db.bind(ts.models)
            for model in ts.models:
                inserter = self._inserters[model] = Inserter(db, model)
                self._pending[inserter] = []
        db.bind([LastValue, Experiment])
        self._routes: dict[bytes, tuple[tuple[Any, ...], ...]] = {}
        self._last_values = self._load_last_values()
        self._state_changes: dict[str, str] = {}
        self._known_experiments = {e.experiment for e in Experiment.select(Experiment.experiment)}
        self._new_experiments: dict[str, str] = {}
        self.received = self.stored = self.duplicates = self.unrouted = 0
        self.pending_rows = 0

    # ------------------------------------------------------------------ messages
    def add(self, topic: bytes, payload: bytes) -> None:
        """Turn one message into pending rows; never raises for a bad message."""
        self.add_many(topic, [payload])

    def add_many(self, topic: bytes, payloads: list[bytes]) -> None:
        """Turn messages of one topic (in arrival order) into pending rows; never raises for a bad message.

        A parser with ``parse_many`` reads them all in one call; if that fails (a bad payload among
        them), they are read one by one, so that only the bad ones are refused.
        """
        self.received += len(payloads)
        routes = self._routes.get(topic)
        if routes is None:
            routes = self._route(topic)
        if not routes:
            self.unrouted += len(payloads)
            return
        if max(map(len, payloads)) > self.max_payload_bytes:
            payloads = self._refuse_oversized(topic, payloads)
            if not payloads:
                return
        for parsed_topic, parser, inserter, pending, state_key in routes:
            if state_key is None and parser.parse_many is not None and b"" not in payloads:
                try:
                    pending.extend(parser.parse_many(parsed_topic, payloads))
                    self.pending_rows += len(payloads)
                    continue
                except Exception:  # noqa: BLE001, S112 - one of them is bad: read them one by one
                    pass
            for payload in payloads:
                if state_key is not None:
                    digest = hashlib.blake2b(payload, digest_size=16).hexdigest() if payload else _EMPTY
                    if self._last_values.get(state_key) == digest:
                        continue
                    self._last_values[state_key] = self._state_changes[state_key] = digest
                if not payload:
                    continue  # a retained value cleared: nothing to store
                try:
                    value = parser.parse(parsed_topic, payload)
                    if value is None:
                        continue
                    if type(value) is tuple and len(value) == inserter.width:
                        pending.append(value)
                    elif type(value) is list:
                        pending.extend([inserter.row(v) for v in value])
                    else:
                        pending.append(inserter.row(value))
                except Exception as e:  # noqa: BLE001 - any parser failure is the payload's fault
                    self.refusals.add(topic.decode(errors="replace"), f"{type(e).__name__}: {e}")
                    continue
                self.pending_rows += 1

    def _refuse_oversized(self, topic: bytes, payloads: list[bytes]) -> list[bytes]:
        kept = []
        for payload in payloads:
            if len(payload) > self.max_payload_bytes:
                self.refusals.add(
                    topic.decode(errors="replace"),
                    f"payload of {len(payload)} bytes is over "
                    f"[leader] max_payload_bytes = {self.max_payload_bytes}",
                )
            else:
                kept.append(payload)
        return kept

    def _route(self, raw_topic: bytes) -> tuple[tuple[Any, ...], ...]:
        if len(self._routes) >= self.MAX_CACHED_TOPICS:
            self._routes.clear()
        topic = raw_topic.decode(errors="replace")
        matches = [p for f, p in self._parsers if not p.fallback and topic_matches_sub(f, topic)]
        if not matches:
            matches = [p for f, p in self._parsers if p.fallback and topic_matches_sub(f, topic)]
        parsed = parse_topic(topic) or Topic("", "", None, tuple(topic.split("/")))
        routes = tuple(
            (
                parsed,
                p,
                self._inserters[p.model],
                self._pending[self._inserters[p.model]],
                topic if p.changes_only else None,
            )
            for p in matches
        )
        self._routes[raw_topic] = routes
        experiment = parsed.experiment
        if (
            routes
            and experiment
            and not experiment.startswith("$")
            and experiment not in self._known_experiments
            and topic != LATEST_EXPERIMENT_TOPIC
        ):
            self._known_experiments.add(experiment)
            self._new_experiments[experiment] = topic
        return routes

    # ------------------------------------------------------------------ commits
    def take(self) -> Batch:
        """Hand over the pending rows (to be stored by :meth:`store`, possibly in another thread)."""
        batch = Batch(
            [(ins, rows[:]) for ins, rows in self._pending.items() if rows],
            self._state_changes,
            self._new_experiments,
            self.pending_rows,
        )
        for _, rows in self._pending.items():
            rows.clear()
        self._state_changes, self._new_experiments, self.pending_rows = {}, {}, 0
        return batch

    def flush(self) -> int:
        """Store every pending row in one transaction; returns how many rows were new."""
        return self.store(self.take())

    def discard(self) -> None:
        """Forget the pending rows (their messages were not acknowledged: they come back)."""
        self.take()

    def store(self, batch: Batch) -> int:
        """Store ``batch`` in one transaction; returns how many rows were new (duplicates are skipped)."""
        if batch.empty:
            return 0
        attempted = sum(len(rows) for _, rows in batch.rows)
        refused = 0
        try:
            try:
                new = 0
                with _db_errors, self.db.atomic():
                    cursor = self.db.cursor()
                    for inserter, rows in batch.rows:
                        new += inserter.insert(cursor, rows)
                    self._store_bookkeeping(batch)
            except _ROW_ERRORS as e:
                self.logger.warning(
                    "the database refused a batch (%s: %s); storing it row by row",
                    type(e).__name__,
                    str(e)[:200],
                )
                new, refused = self._store_row_by_row(batch)
        except (peewee.DatabaseError, peewee.InterfaceError) as e:  # the database failed: locked, full, gone
            self._drop_connection()
            raise DatabaseUnavailable(f"{type(e).__name__}: {e}") from e
        self.stored += new
        self.duplicates += attempted - new - refused
        return new

    def recover(self) -> None:
        """After :class:`DatabaseUnavailable`: reload what the database holds (raises while it is still down)."""
        self._drop_connection()
        with _db_errors:
            self._last_values = self._load_last_values()
            self._known_experiments = {e.experiment for e in Experiment.select(Experiment.experiment)}
        self._routes.clear()

    def _store_row_by_row(self, batch: Batch) -> tuple[int, int]:
        new = refused = 0
        with _db_errors, self.db.atomic():
            cursor = self.db.cursor()
            for inserter, rows in batch.rows:
                for row in rows:
                    try:
                        with _db_errors, self.db.atomic():
                            new += inserter.insert(cursor, [row])
                    except _ROW_ERRORS as e:
                        refused += 1
                        self.refusals.add(
                            inserter.model._meta.table_name, f"row refused by the database: {e}"
                        )
            self._store_bookkeeping(batch)
        return new, refused

    def _store_bookkeeping(self, batch: Batch) -> None:
        if batch.state_changes:
            rows = [{"topic": t, "digest": d} for t, d in batch.state_changes.items()]
            for start in range(0, len(rows), 500):
                (
                    LastValue.insert_many(rows[start : start + 500])
                    .on_conflict(conflict_target=[LastValue.topic], preserve=[LastValue.digest])
                    .execute()
                )
        if batch.new_experiments:
            now = current_utc_timestamp()
            Experiment.insert_many(
                [
                    {"experiment": e, "created_at": now, "description": f"first seen on {t}"}
                    for e, t in batch.new_experiments.items()
                ]
            ).on_conflict_ignore().execute()

    def _drop_connection(self) -> None:
        """Forget this thread's connection (a server that went away leaves it dead): the next use reconnects."""
        try:
            self.db.close()
        except Exception:  # noqa: BLE001 - closing a broken connection may fail in many ways; it is gone either way
            getattr(self.db, "_state").reset()  # noqa: B009

    def _load_last_values(self) -> dict[str, str]:
        return {r.topic: r.digest for r in LastValue.select().iterator()}


@dataclass
class Batch:
    rows: list[tuple[Inserter, list[tuple[Any, ...]]]]
    state_changes: dict[str, str]
    new_experiments: dict[str, str]
    messages: int = 0

    @property
    def empty(self) -> bool:
        return not self.rows and not self.state_changes and not self.new_experiments
