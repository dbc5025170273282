"""What growth_rate_calculating remembers between runs, and which OD channels feed it.

Saved as JSON at ``storage/growth_rate/<experiment>.json`` in the data dir: the estimator's
full state (``GrowthRateEstimator.to_dict``), the time origin, the vial volume, the channels
and the normalisation of ``od_filtered``. A restart resumes from it; ``--start-fresh`` ignores it.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import quote

from . import names

STATE_VERSION = 1


@dataclass
class SavedState:
    estimator: Any  # GrowthRateEstimator
    time_scale: float
    volume_ml: float
    origin_epoch: float | None = None  # estimator time 0, wall-clock epoch seconds
    last_reading_epoch: float | None = None
    signature: str | None = None  # which channels and calibrations the OD input comes from
    channels: list[str] = field(default_factory=list)
    factor: float | None = None  # the combined OD that od_filtered calls 1.0
    factor_samples: list[float] = field(default_factory=list)

    @classmethod
    def fresh(cls, time_scale: float, volume_ml: float, overrides: dict[str, Any]) -> SavedState:
        from .estimator import GrowthRateEstimator

        return cls(GrowthRateEstimator(**overrides), time_scale, volume_ml)

    def scale_factor_samples(self, factor: float) -> None:
        """A dilution before the normalisation is settled: its samples were taken before it."""
        if self.factor is None:
            self.factor_samples = [s * factor for s in self.factor_samples]

    def to_dict(self) -> dict[str, Any]:
        return {
            "version": STATE_VERSION, "estimator": self.estimator.to_dict(), "time_scale": self.time_scale,
            "volume_ml": self.volume_ml, "origin_epoch": self.origin_epoch,
            "last_reading_epoch": self.last_reading_epoch, "signature": self.signature, "channels": self.channels,
            "factor": self.factor, "factor_samples": self.factor_samples,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> SavedState:
        from .estimator import GrowthRateEstimator

        if data.get("version") != STATE_VERSION:
            raise ValueError(f"state version {data.get('version')!r}, expected {STATE_VERSION}")
        return cls(
            estimator=GrowthRateEstimator.from_dict(data["estimator"]), time_scale=float(data["time_scale"]),
            volume_ml=float(data["volume_ml"]), origin_epoch=data["origin_epoch"],
            last_reading_epoch=data["last_reading_epoch"], signature=data["signature"],
            channels=[str(c) for c in data["channels"]], factor=data["factor"],
            factor_samples=[float(v) for v in data["factor_samples"]],
        )


class StateFile:
    def __init__(self, experiment: str):
        from pioreactor_kernel.paths import sub_dir

        directory = sub_dir("storage") / "growth_rate"
        directory.mkdir(exist_ok=True)
        self.path: Path = directory / f"{quote(experiment, safe='')}.json"

    def load(self, logger: logging.Logger) -> SavedState | None:
        try:
            return SavedState.from_dict(json.loads(self.path.read_text()))
        except FileNotFoundError:
            return None
        except (ValueError, KeyError, TypeError) as e:
            logger.warning("cannot resume from %s (%s): starting afresh", self.path, e)
            return None

    def save(self, state: SavedState) -> None:
        tmp = self.path.with_suffix(".tmp")
        tmp.write_text(json.dumps(state.to_dict()))
        tmp.replace(self.path)

    def delete(self) -> None:
        self.path.unlink(missing_ok=True)


def input_signature(channels: list[str], ods: dict[str, Any]) -> str:
    """e.g. ``2:raw`` or ``2:od90-20261124``: a change means the input's units changed."""
    parts = []
    for ch in channels:
        r = ods[ch]
        parts.append(f"{ch}:{(r.calibration_name or 'calibrated') if r.calibrated else 'raw'}")
    return ",".join(parts)


def pick_channels(setting: str, available: dict[str, tuple[str, bool]]) -> list[str]:
    """The channels to estimate from: ``setting`` is ``auto`` or a comma list; ``available`` maps
    channel -> (angle, calibrated). Raw transmission (180°) falls as the culture grows: it needs a calibration."""
    if setting.lower() != "auto":
        wanted = [c.strip() for c in setting.split(",") if c.strip()]
        missing = [c for c in wanted if c not in available]
        if missing:
            raise ValueError(f"[{names.GROWTH_SECTION}] channels: {', '.join(missing)} not in od_reading's "
                             f"readings (have: {', '.join(sorted(available)) or 'none'})")
        raw_180 = [c for c in wanted if available[c][0] == names.TRANSMISSION_ANGLE and not available[c][1]]
        if raw_180:
            raise ValueError(f"channel {', '.join(raw_180)} is uncalibrated 180° transmission, which falls as "
                             "the culture grows: calibrate it (`pio calibrate od --angle 180`) or use a scatter channel")
        return wanted
    scatter = [c for c, (a, _) in sorted(available.items()) if a in names.SCATTER_ANGLES]
    if scatter:
        return scatter
    calibrated = [c for c, (_, cal) in sorted(available.items()) if cal]
    if calibrated:
        return calibrated
    raise ValueError("no OD channel to estimate from: od_reading publishes no scatter channel (45/90/135) "
                     "and no calibrated one; map one in [hardware.photodiodes] or calibrate the 180° channel")
