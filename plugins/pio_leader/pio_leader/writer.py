"""Job ``mqtt_to_db``: store what the cluster publishes in the leader's database, losing nothing.

The writer holds a persistent MQTT session (stable client id, session kept by the broker for
14 days) subscribed at QoS 1 to ``pioreactor/#`` and to any other filter a plugin's parsers
name. A message is acknowledged only after the transaction holding its rows has committed,
so a crash, a ``kill -9`` or a broker restart loses nothing: what was not acknowledged is
redelivered, and redelivered rows are absorbed by each table's unique key (event streams) or
by the last-value check (state streams). ``sleeping`` disconnects the session: the broker
queues for it until the job is ``ready`` again.
"""

from __future__ import annotations

import queue
import threading
import time
from typing import Any

import click
import peewee
from pioreactor_kernel.config import get_config
from pioreactor_kernel.job import BackgroundJob
from pioreactor_kernel.names import UNIVERSAL_EXPERIMENT
from pioreactor_kernel.settings import Setting

from .batcher import Batch, BatchWriter, DatabaseUnavailable
from .session import ConnectionLost, PersistentSession
from .storage import StorageError, open_leader_database


def subscriptions(filters: list[str]) -> list[str]:
    """``pioreactor/#`` plus the filters outside it: overlapping filters would deliver copies."""
    return ["pioreactor/#", *sorted({f for f in filters if f != "pioreactor/#" and not f.startswith("pioreactor/")})]


class Ingest:
    """Two threads: the reader turns chunks of messages into batches of rows; the committer stores
    each batch in one transaction and only then acknowledges its messages, in arrival order.

    While a batch commits, the reader keeps reading and parsing the next one. The hand-over queue
    is short, so a slow database slows the reader, and the broker queues (nothing is dropped).
    """

    FLUSH_MESSAGES = 4000  # well below the session's receive maximum, or the broker would wait for us
    MAX_BATCH_AGE_S = 0.1
    MIN_BATCH_AGE_S = 0.005
    QUEUED_BATCHES = 2

    def __init__(self, writer: BatchWriter, session: PersistentSession, logger: Any) -> None:
        self.writer, self.session, self.logger = writer, session, logger
        self._stop = threading.Event()
        self._running = threading.Event()
        self._database_down = threading.Event()
        self._committer_idle = threading.Event()
        self._batches: queue.Queue[tuple[Batch, list[bytes], int] | None] = queue.Queue(self.QUEUED_BATCHES)
        self._threads: list[threading.Thread] = []

    def start(self) -> None:
        if not self._threads:
            self._stop.clear()
            self._threads = [threading.Thread(target=self._read, name="mqtt_to_db-reader", daemon=True),
                             threading.Thread(target=self._commit, name="mqtt_to_db-committer", daemon=True)]
            for t in self._threads:
                t.start()

    def stop(self, timeout_s: float = 15.0) -> None:
        """Store and acknowledge what has arrived, then close the session (the broker keeps it)."""
        self._stop.set()
        for t in self._threads:
            t.join(timeout_s)
        self._threads = []

    def wait_until_running(self, timeout_s: float) -> bool:
        return self._running.wait(timeout_s)

    # ------------------------------------------------------------------ the reader
    def _read(self) -> None:
        backoff_s = 0.05
        try:
            while not self._stop.is_set():
                try:
                    if self._database_down.is_set():
                        self._wait_for_database()
                        continue
                    if not self.session.connected:
                        resumed = self.session.connect()
                        self.logger.info("%s the MQTT session %s", "resumed" if resumed else "started",
                                         self.session.client_id)
                        backoff_s = 0.05
                    self._running.set()
                    self._pump()
                except (ConnectionLost, OSError) as e:
                    self._running.clear()
                    if self._database_down.is_set():
                        self.writer.discard()  # not acknowledged: the broker redelivers it
                        continue
                    self._hand_over([])  # keep the rows; their acknowledgements died with the connection
                    self.logger.warning("%s; reconnecting in %.2f s", e, backoff_s)
                    self._stop.wait(backoff_s)
                    backoff_s = min(backoff_s * 2, 2.0)
        finally:
            self._running.clear()
            self._batches.put(None)
            self._threads[1].join() if len(self._threads) > 1 else None
            self.session.close()

    def _pump(self) -> None:
        read, add = self.session.read, self.writer.add
        acks: list[bytes] = []
        first_at, wait_s = 0.0, 0.1
        while not self._stop.is_set():
            messages = read(wait_s)
            if messages:
                first_at = first_at or time.monotonic()
                for topic, payload, puback in messages:
                    add(topic, payload)
                    if puback is not None:
                        acks.append(puback)
            if first_at:
                # Close the batch when it is full or old, or when the socket is empty, the committer idle
                # and the batch worth a commit (5 ms or 500 messages: a commit and a write of PUBACKs per
                # handful of messages would cost more than the messages). Meanwhile keep filling it.
                age_s = time.monotonic() - first_at
                if (len(acks) >= self.FLUSH_MESSAGES or age_s > self.MAX_BATCH_AGE_S
                        or (not messages and self._committer_idle.is_set()
                            and (age_s >= self.MIN_BATCH_AGE_S or len(acks) >= 500))):
                    self._hand_over(acks)
                    acks, first_at, wait_s = [], 0.0, 0.1
                else:
                    wait_s = 0.0 if messages else 0.002
            if self._database_down.is_set():
                raise ConnectionLost("the database is unavailable")
        self._hand_over(acks)

    def _hand_over(self, acks: list[bytes]) -> None:
        batch = self.writer.take()
        if not batch.empty or acks:
            self._batches.put((batch, acks, self.session.generation))

    def _wait_for_database(self) -> None:
        self.session.close(send_disconnect=False)
        while not self._stop.is_set():
            self._stop.wait(1.0)
            try:
                self.writer.recover()
            except (peewee.DatabaseError, peewee.InterfaceError):
                continue
            self.logger.info("the database is back: resuming")
            self._database_down.clear()
            return

    # ------------------------------------------------------------------ the committer
    def _commit(self) -> None:
        while True:
            if self._batches.empty():
                self._committer_idle.set()
            item = self._batches.get()
            self._committer_idle.clear()
            if item is None:
                return
            batch, acks, generation = item
            if self._database_down.is_set():
                continue  # dropped unacknowledged: redelivered once the database is back
            try:
                self.writer.store(batch)
            except DatabaseUnavailable as e:
                self.logger.error("the database is unavailable (%s): not acknowledging; retrying every second", e)
                self._database_down.set()
                self.session.abort()
                continue
            self.session.ack(acks, generation)


class MQTTToDB(BackgroundJob):
    """Store every stream the cluster publishes in the leader's database (SQLite or PostgreSQL)."""

    job_name = "mqtt_to_db"
    published_settings = (
        Setting("database", "string", description="Where the rows go (without password)"),
        Setting("messages_received", "integer", description="Messages received since the job started"),
        Setting("rows_stored", "integer", description="New rows stored since the job started"),
        Setting("messages_refused", "integer", description="Payloads refused (unparsable or too large)"),
    )
    STATS_EVERY_S = 10.0

    def __init__(self, unit: str | None = None, experiment: str | None = None, **kwargs: Any) -> None:
        super().__init__(unit, experiment or UNIVERSAL_EXPERIMENT, **kwargs)
        config = get_config()
        try:
            self.db, table_sets = open_leader_database()
        except (StorageError, peewee.DatabaseError) as e:
            raise click.ClickException(f"cannot open the leader's database: {e}") from None
        self.database = _without_password(self.db)
        self.writer = BatchWriter(self.db, table_sets, logger=self.logger,
                                  max_payload_bytes=config.getint("leader", "max_payload_bytes", 262144) or 262144)
        filters = [f for ts in table_sets for f in ts.parsers]
        client_id = config.get("leader", "mqtt_client_id") or f"mqtt_to_db-{self.unit}"
        self.session = PersistentSession(self._address, client_id, subscriptions(filters))
        self.ingest = Ingest(self.writer, self.session, self.logger)
        self._stats_stop = threading.Event()
        self._stats_thread = threading.Thread(target=self._publish_stats, name="mqtt_to_db-stats", daemon=True)

    def on_ready(self) -> None:
        self.ingest.start()
        if not self._stats_thread.is_alive() and not self._stats_stop.is_set():
            self._stats_thread.start()

    def on_sleeping(self) -> None:
        self.ingest.stop()

    def on_disconnected(self) -> None:
        self._stats_stop.set()
        self.ingest.stop()
        self._update_stats()
        self.db.close()

    def _publish_stats(self) -> None:
        while not self._stats_stop.wait(self.STATS_EVERY_S):
            self._update_stats()

    def _update_stats(self) -> None:
        w = self.writer
        for name, value in (("messages_received", w.received), ("rows_stored", w.stored),
                            ("messages_refused", w.refusals.count)):
            if getattr(self, name, None) != value:
                setattr(self, name, value)


def _without_password(db: peewee.Database) -> str:
    if isinstance(db, peewee.SqliteDatabase):
        return f"sqlite:///{db.database}"
    params = getattr(db, "connect_params", {})
    return f"postgresql://{params.get('user', '')}@{params.get('host', '')}:{params.get('port', '')}/{db.database}"
