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

import threading
import time
from typing import Any

import click
import peewee
from pioreactor_kernel.config import get_config
from pioreactor_kernel.job import BackgroundJob
from pioreactor_kernel.names import UNIVERSAL_EXPERIMENT
from pioreactor_kernel.settings import Setting

from .batcher import BatchWriter, DatabaseUnavailable
from .session import ConnectionLost, PersistentSession
from .storage import StorageError, open_leader_database


def subscriptions(filters: list[str]) -> list[str]:
    """``pioreactor/#`` plus the filters outside it: overlapping filters would deliver copies."""
    return [
        "pioreactor/#",
        *sorted({f for f in filters if f != "pioreactor/#" and not f.startswith("pioreactor/")}),
    ]


class Ingest:
    """One thread reads messages into the session's inbox and, when a batch is due, turns it into
    rows, stores them in one transaction and only then acknowledges its messages, in arrival order.

    One thread, not a reader and a committer: on a machine the broker shares, a second thread gains
    nothing (the work is Python's, under one lock) and costs much: SQLite releases that lock for
    each row it inserts, and getting it back from a busy reader takes up to a switch interval.
    While a batch commits, the broker keeps sending into the socket's buffer (4 MiB) and can have
    up to the session's receive maximum (10,000) messages unacknowledged, so a commit does not
    stall the broker, and the next read finds many messages at once.

    A batch closes when it holds ``FLUSH_MESSAGES``, or is ``MAX_BATCH_AGE_S`` old, or the socket is
    empty and the batch is worth a commit (``MIN_BATCH_AGE_S`` old or 500 messages): a trickle is
    stored within milliseconds and a flood in large transactions.
    """

    FLUSH_MESSAGES = 5000  # well below the session's receive maximum, or the broker would wait for us
    MAX_BATCH_AGE_S = 0.1
    MIN_BATCH_AGE_S = 0.005
    IDLE_WAIT_S = 0.1
    PACE_S = 0.002
    FULL_READ = 200

    def __init__(self, writer: BatchWriter, session: PersistentSession, logger: Any) -> None:
        self.writer, self.session, self.logger = writer, session, logger
        self._stop = threading.Event()
        self._running = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        if self._thread is None:
            self._stop.clear()
            self._thread = threading.Thread(target=self._run, name="mqtt_to_db-ingest", daemon=True)
            self._thread.start()

    def stop(self, timeout_s: float = 15.0) -> None:
        """Store and acknowledge what has arrived, then close the session (the broker keeps it)."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout_s)
        self._thread = None

    def wait_until_running(self, timeout_s: float) -> bool:
        return self._running.wait(timeout_s)

    def _run(self) -> None:
        backoff_s = 0.05
        try:
            while not self._stop.is_set():
                try:
                    if not self.session.connected:
                        resumed = self.session.connect()
                        self.logger.info(
                            "%s the MQTT session %s",
                            "resumed" if resumed else "started",
                            self.session.client_id,
                        )
                        backoff_s = 0.05
                    self._running.set()
                    self._pump()
                except (ConnectionLost, OSError) as e:
                    self._running.clear()
                    try:
                        self._commit(
                            acknowledge=False
                        )  # keep the rows; their acknowledgements died with the connection
                    except DatabaseUnavailable as db_error:
                        self._database_down(db_error)
                        continue
                    self.logger.warning("%s; reconnecting in %.2f s", e, backoff_s)
                    self._stop.wait(backoff_s)
                    backoff_s = min(backoff_s * 2, 2.0)
                except DatabaseUnavailable as e:
                    self._running.clear()
                    self._database_down(e)
                except Exception:  # a bug: log it, leave the batch to the broker (not acknowledged), go on
                    self._running.clear()
                    self.logger.exception("mqtt_to_db failed; reconnecting in %.2f s", backoff_s)
                    self.writer.discard()
                    self.session.close(send_disconnect=False)
                    self._stop.wait(backoff_s)
                    backoff_s = min(backoff_s * 2, 2.0)
        finally:
            self._running.clear()
            try:
                if self.session.connected:
                    self._commit()
            except DatabaseUnavailable as e:
                self.logger.error(
                    "the database is unavailable (%s): leaving the last messages to the broker", e
                )
            finally:
                self.session.close()

    def _pump(self) -> None:
        read, session = self.session.read, self.session
        first_at, wait_s = 0.0, self.IDLE_WAIT_S
        while not self._stop.is_set():
            arrived = read(wait_s)
            if not session.pending:
                wait_s = self.IDLE_WAIT_S
                continue
            now = time.monotonic()
            first_at = first_at or now
            age_s = now - first_at
            if (
                session.pending >= self.FLUSH_MESSAGES
                or age_s >= self.MAX_BATCH_AGE_S
                or (not arrived and (age_s >= self.MIN_BATCH_AGE_S or session.pending >= 500))
            ):
                self._commit()
                first_at, wait_s = 0.0, 0.0
            elif arrived:
                # let the socket fill rather than read every packet as it comes: reads of a few
                # messages would cost more than the messages
                if arrived < self.FULL_READ:
                    time.sleep(self.PACE_S)
                wait_s = 0.0
            else:
                wait_s = self.MIN_BATCH_AGE_S - age_s

    def _commit(self, acknowledge: bool = True) -> None:
        """Store the inbox in one transaction, then acknowledge it (raises DatabaseUnavailable: not acknowledged)."""
        inbox, packet_ids, generation = self.session.take()
        add_many = self.writer.add_many
        for topic, payloads in inbox.items():
            add_many(topic, payloads)
        try:
            self.writer.flush()
        except DatabaseUnavailable:
            self.writer.discard()
            raise
        if acknowledge:
            self.session.ack(packet_ids, generation)

    def _database_down(self, e: DatabaseUnavailable) -> None:
        """Nothing of the batch was acknowledged: drop the connection (the broker sends it all again
        once we are back) and wait for the database."""
        self.logger.error("the database is unavailable (%s): not acknowledging; retrying every second", e)
        self.session.close(send_disconnect=False)
        while not self._stop.wait(1.0):
            try:
                self.writer.recover()
            except (peewee.DatabaseError, peewee.InterfaceError):
                continue
            self.logger.info("the database is back: resuming")
            return


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
        self.writer = BatchWriter(
            self.db,
            table_sets,
            logger=self.logger,
            max_payload_bytes=config.getint("leader", "max_payload_bytes", 262144) or 262144,
        )
        filters = [f for ts in table_sets for f in ts.parsers]
        client_id = config.get("leader", "mqtt_client_id") or f"mqtt_to_db-{self.unit}"
        self.session = PersistentSession(self._address, client_id, subscriptions(filters))
        self.ingest = Ingest(self.writer, self.session, self.logger)
        self._stats_stop = threading.Event()
        self._stats_thread = threading.Thread(
            target=self._publish_stats, name="mqtt_to_db-stats", daemon=True
        )

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
        for name, value in (
            ("messages_received", w.received),
            ("rows_stored", w.stored),
            ("messages_refused", w.refusals.count),
        ):
            if getattr(self, name, None) != value:
                setattr(self, name, value)


def _without_password(db: peewee.Database) -> str:
    if isinstance(db, peewee.SqliteDatabase):
        return f"sqlite:///{db.database}"
    params = getattr(db, "connect_params", {})
    return f"postgresql://{params.get('user', '')}@{params.get('host', '')}:{params.get('port', '')}/{db.database}"
