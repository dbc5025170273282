"""The vial's tracked liquid: volume and alt-media fraction per experiment, kept on disk and on MQTT.

Kept in ``storage/dosing.sqlite`` in the unit's data dir, so it survives restarts and is shared
by every process that doses (the pump actions, the automation job): each dosing event is
applied inside one write transaction. Each change is also published, retained, at
``pioreactor/<unit>/<exp>/bioreactor/current_volume_ml`` and ``.../alt_media_fraction``
(plain numbers, as the Pioreactor does). Unknown experiments start from ``[bioreactor]``
``initial_volume_ml`` and ``initial_alt_media_fraction``.
"""

from __future__ import annotations

import math
import sqlite3
from contextlib import AbstractContextManager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pioreactor_kernel.sqlite_state import immediate, open_shared

from . import names

SCHEMA = "CREATE TABLE IF NOT EXISTS bioreactor (experiment TEXT, key TEXT, value REAL, PRIMARY KEY (experiment, key))"
VARIABLES = (names.CURRENT_VOLUME_ML, names.ALT_MEDIA_FRACTION)


@dataclass(frozen=True)
class VialLimits:
    """From ``[bioreactor]``: the efflux tube's level, the vial's capacity, the starting values."""

    max_working_volume_ml: float = 14.0
    max_volume_ml: float = 20.0
    initial_volume_ml: float = 14.0
    initial_alt_media_fraction: float = 0.0

    @classmethod
    def from_config(cls, config: Any = None) -> VialLimits:
        if config is None:
            from pioreactor_kernel.config import get_config

            config = get_config()
        section = names.BIOREACTOR_SECTION
        d = cls()
        limits = cls(*(config.getfloat(section, key, getattr(d, key)) for key in
                       ("max_working_volume_ml", "max_volume_ml", "initial_volume_ml", "initial_alt_media_fraction")))
        if not (0 < limits.max_working_volume_ml <= limits.max_volume_ml and all(map(math.isfinite, (
                limits.max_working_volume_ml, limits.max_volume_ml, limits.initial_volume_ml)))):
            raise ValueError(f"[bioreactor] needs 0 < max_working_volume_ml ({limits.max_working_volume_ml}) "
                             f"<= max_volume_ml ({limits.max_volume_ml})")
        if not 0 <= limits.initial_volume_ml <= limits.max_volume_ml:
            raise ValueError(f"[bioreactor] initial_volume_ml = {limits.initial_volume_ml} is outside "
                             f"0..max_volume_ml ({limits.max_volume_ml})")
        if not 0 <= limits.initial_alt_media_fraction <= 1:
            raise ValueError(f"[bioreactor] initial_alt_media_fraction = {limits.initial_alt_media_fraction} "
                             f"is outside 0..1")
        return limits


@dataclass(frozen=True)
class VialState:
    current_volume_ml: float
    alt_media_fraction: float


def after_event(state: VialState, event: str, volume_ml: float, limits: VialLimits) -> VialState:
    """The vial after one dosing event: additions mix in; waste stops at the efflux tube."""
    v, f = state.current_volume_ml, state.alt_media_fraction
    if event in ("add_media", "add_alt_media"):
        total = v + volume_ml
        if total <= 0:
            return state
        alt = volume_ml if event == "add_alt_media" else 0.0
        fraction = min(1.0, max(0.0, (f * v + alt) / total))
        return VialState(total, fraction)
    if event == "remove_waste":
        if v <= limits.max_working_volume_ml:
            return state  # below the tube, the waste pump moves air
        return VialState(max(v - volume_ml, limits.max_working_volume_ml), f)
    raise ValueError(f"unknown dosing event {event!r}")


class VialStore:
    """The unit's tracked vial (``storage/dosing.sqlite``); one instance per thread or process."""

    def __init__(self, data_dir: Path | None = None, limits: VialLimits | None = None):
        from pioreactor_kernel.paths import data_dir as default_data_dir

        directory = data_dir or default_data_dir()
        self.limits = limits or VialLimits.from_config()
        self.conn = open_shared(directory / "storage" / "dosing.sqlite", synchronous="FULL", schema=SCHEMA)

    def _transaction(self) -> AbstractContextManager[sqlite3.Connection]:
        return immediate(self.conn)

    def _read(self, experiment: str) -> VialState:
        rows = dict(self.conn.execute("SELECT key, value FROM bioreactor WHERE experiment = ?", (experiment,)).fetchall())
        return VialState(float(rows.get(names.CURRENT_VOLUME_ML, self.limits.initial_volume_ml)),
                         float(rows.get(names.ALT_MEDIA_FRACTION, self.limits.initial_alt_media_fraction)))

    def _write(self, experiment: str, state: VialState) -> None:
        self.conn.executemany("INSERT OR REPLACE INTO bioreactor VALUES (?, ?, ?)", [
            (experiment, names.CURRENT_VOLUME_ML, state.current_volume_ml),
            (experiment, names.ALT_MEDIA_FRACTION, state.alt_media_fraction),
        ])

    def get(self, experiment: str) -> VialState:
        return self._read(experiment)

    def apply(self, experiment: str, event: str, volume_ml: float) -> VialState:
        """Apply a dosing event atomically (other processes may dose at the same time)."""
        with self._transaction():
            state = after_event(self._read(experiment), event, volume_ml, self.limits)
            self._write(experiment, state)
        return state

    def set(self, experiment: str, current_volume_ml: float | None = None,
            alt_media_fraction: float | None = None) -> VialState:
        """Correct the tracked values by hand (a refill, a sample taken); checked against the limits."""
        for name, value, hi in ((names.CURRENT_VOLUME_ML, current_volume_ml, self.limits.max_volume_ml),
                                (names.ALT_MEDIA_FRACTION, alt_media_fraction, 1.0)):
            if value is not None and not (math.isfinite(value) and 0 <= value <= hi):
                raise ValueError(f"{name} = {value!r} is outside 0..{hi:g}")
        with self._transaction():
            old = self._read(experiment)
            state = VialState(old.current_volume_ml if current_volume_ml is None else float(current_volume_ml),
                              old.alt_media_fraction if alt_media_fraction is None else float(alt_media_fraction))
            self._write(experiment, state)
        return state

    def close(self) -> None:
        self.conn.close()


def publish_state(client: Any, unit: str, experiment: str, state: VialState) -> None:
    """Publish the vial's values, retained, at ``.../bioreactor/<variable>`` (plain numbers)."""
    from pioreactor_kernel.names import unit_topic

    for name, value in ((names.CURRENT_VOLUME_ML, state.current_volume_ml),
                        (names.ALT_MEDIA_FRACTION, state.alt_media_fraction)):
        client.publish(unit_topic(unit, experiment, names.BIOREACTOR, name), str(round(value, 6)), qos=1, retain=True)
