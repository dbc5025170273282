"""Where a unit keeps its files: one data dir per unit (``PIO_DATA_DIR``, default ``~/.pioreactor``)."""

from __future__ import annotations

import os
from pathlib import Path

DATA_DIR_ENV = "PIO_DATA_DIR"
SUBDIRS = ("calibrations", "plugins", "storage", "logs", "run")


def data_dir(create: bool = True) -> Path:
    path = Path(os.environ.get(DATA_DIR_ENV) or Path.home() / ".pioreactor").expanduser()
    if create and not (path / "run").is_dir():
        for sub in SUBDIRS:
            (path / sub).mkdir(parents=True, exist_ok=True)
    return path


def sub_dir(name: str) -> Path:
    path = data_dir() / name
    path.mkdir(parents=True, exist_ok=True)
    return path
