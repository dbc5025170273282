"""Logging to stderr, a rotating file in the data dir, and MQTT (the JSON log dialect)."""

from __future__ import annotations

import json
import logging
import os
import sys
from typing import TYPE_CHECKING

from ._lazy import defer_startup_imports
from .names import log_topic
from .timestamps import current_utc_timestamp

defer_startup_imports()  # pickle, that logging.handlers imports for its socket handlers
import logging.handlers  # noqa: E402

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
            handler = logging.handlers.RotatingFileHandler(
                sub_dir("logs") / LOG_FILE,
                maxBytes=int(config.getfloat("logging", "max_file_mb", 10) or 10) * 1_000_000,
                backupCount=config.getint("logging", "backups", 5) or 5,
                encoding="utf-8",
            )
            handler.setFormatter(logging.Formatter(_FORMAT))
            root.addHandler(handler)
        except Exception as e:  # noqa: BLE001 - a read-only disk must not stop a job
            root.warning("not logging to a file: %s", e)


def job_logger(job_name: str) -> logging.Logger:
    return logging.getLogger(f"pioreactor.{job_name}")
