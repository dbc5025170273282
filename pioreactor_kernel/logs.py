"""Logging to stderr, a rotating file in the data dir, and MQTT (the JSON log dialect)."""

from __future__ import annotations

import json
import logging
import os
import sys
from typing import TYPE_CHECKING

from .names import log_topic
from .timestamps import current_utc_timestamp

if TYPE_CHECKING:
    from .mqtt import MQTTClient

NOTICE = 25
logging.addLevelName(NOTICE, "NOTICE")
LOG_FILE = "pioreactor.log"
_FORMAT = "%(asctime)s [%(name)s] %(levelname)s %(message)s"


class MQTTLogHandler(logging.Handler):
    """Publishes ``{"message","level","task","source","timestamp"}`` to ``.../logs/<source>``."""

    def __init__(self, client: MQTTClient, unit: str, experiment: str, task: str, source: str = "app"):
        super().__init__()
        self.client, self.task, self.source = client, task, source
        self.topic = log_topic(unit, experiment, source)

    def emit(self, record: logging.LogRecord) -> None:
        try:
            payload = json.dumps({
                "message": self.format(record) if record.exc_info else record.getMessage(),
                "level": record.levelname,
                "task": self.task,
                "source": self.source,
                "timestamp": current_utc_timestamp(),
            })
            self.client.publish(self.topic, payload, qos=1)
        except Exception:  # noqa: BLE001 - logging must never raise into the caller
            self.handleError(record)


class RotatingFileHandler(logging.FileHandler):
    """A log file rotated at ``max_bytes`` into ``<file>.1`` ... ``<file>.<backups>``.

    What ``logging.handlers.RotatingFileHandler`` does, without importing that module, which
    brings ``queue``, ``copy`` and the classes of a dozen other handlers: ~3 ms of every job's
    start-up. Several processes append to the same file; one that rotates it leaves the others
    writing into ``<file>.1`` until they rotate too, as with the standard handler.
    """

    def __init__(self, path: str | os.PathLike[str], max_bytes: int, backups: int) -> None:
        super().__init__(path, encoding="utf-8")
        self.max_bytes, self.backups = max_bytes, backups

    def emit(self, record: logging.LogRecord) -> None:
        try:
            if self.stream is not None and self.stream.tell() >= self.max_bytes > 0:
                self._rotate()
        except Exception:  # noqa: BLE001 - logging must never raise into the caller
            self.handleError(record)
            return
        super().emit(record)

    def _rotate(self) -> None:
        if self.stream is not None:
            self.stream.close()
        self.stream = None
        base = self.baseFilename
        for i in range(self.backups - 1, 0, -1):
            if os.path.exists(f"{base}.{i}"):
                os.replace(f"{base}.{i}", f"{base}.{i + 1}")
        if self.backups > 0:
            os.replace(base, f"{base}.1")
        else:
            os.truncate(base, 0)
        self.stream = self._open()


_configured = False


def setup_logging(level: str | int | None = None, *, to_file: bool = True) -> None:
    """Configure the root ``pioreactor`` logger once per process: stderr and the rotating file."""
    global _configured
    root = logging.getLogger("pioreactor")
    if level is not None:
        root.setLevel(level if isinstance(level, int) else level.upper())
    if _configured:
        return
    _configured = True
    if level is None:
        root.setLevel(logging.INFO)
    root.propagate = False
    if os.environ.get("PIO_LOG_STDERR", "1") != "0":  # detached services log to the file and MQTT only
        stderr = logging.StreamHandler(sys.stderr)
        stderr.setFormatter(logging.Formatter("%(asctime)s [%(name)s] %(levelname)s %(message)s", "%H:%M:%S"))
        root.addHandler(stderr)
    if to_file:
        try:
            from .config import get_config
            from .paths import sub_dir

            config = get_config()
            handler = RotatingFileHandler(
                sub_dir("logs") / LOG_FILE,
                max_bytes=int((config.getfloat("logging", "max_file_mb", 10) or 10) * 1_000_000),
                backups=config.getint("logging", "backups", 5) or 5,
            )
            handler.setFormatter(logging.Formatter(_FORMAT))
            root.addHandler(handler)
        except Exception as e:  # noqa: BLE001 - a read-only disk must not stop a job
            root.warning("not logging to a file: %s", e)


def job_logger(job_name: str) -> logging.Logger:
    return logging.getLogger(f"pioreactor.{job_name}")
