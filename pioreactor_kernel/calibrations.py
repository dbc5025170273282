"""The calibration store: named, typed calibrations per device, one active per device.

Stored as JSON in the data dir: ``calibrations/<device>/<name>.json``, the active one named in
``calibrations/<device>/active``. A calibration records the measured pairs and the fitted
curve (``curve_type`` ``poly``: coefficients, highest power first; ``monotone``: knots for
piecewise-linear interpolation), so any process can evaluate it without the plugin that made it.
"""

from __future__ import annotations

import bisect
import json
import os
import re
from pathlib import Path
from typing import Any

from .paths import sub_dir
from .timestamps import current_utc_timestamp

_NAME = re.compile(r"^[A-Za-z0-9_.\-]{1,100}$")


class CalibrationError(ValueError):
    pass


_FIELDS: dict[str, tuple[type, Any]] = {
    # name: (type, default; ... = required)
    "device": (str, ...),  # e.g. "stirring", "od90", "media_pump"
    "name": (str, ...),
    "calibration_type": (str, ...),  # e.g. "stirring", "od", "pump"
    "x": (str, ...),  # what the curve takes, e.g. "duty_cycle"
    "y": (str, ...),  # what it gives, e.g. "rpm"
    "x_unit": (str, ""),
    "y_unit": (str, ""),
    "recorded_x": (list, list),
    "recorded_y": (list, list),
    "curve_type": (str, "poly"),  # poly | monotone
    "curve_data": (list, list),
    "created_at": (str, current_utc_timestamp),
    "meta": (dict, dict),
}


def _number(v: Any) -> bool:
    return isinstance(v, int | float) and not isinstance(v, bool)


class Calibration:
    """One calibration: measured pairs and a fitted curve. Keyword-only; types checked on creation.

    A plain class with JSON (de)serialisation rather than a schema library: every job that
    reads its device's calibration imports this module, so it costs nothing to import.
    """

    __slots__ = tuple(_FIELDS)
    device: str
    name: str
    calibration_type: str
    x: str
    y: str
    x_unit: str
    y_unit: str
    recorded_x: list[float]
    recorded_y: list[float]
    curve_type: str
    curve_data: list[float | list[float]]
    created_at: str
    meta: dict[str, Any]

    def __init__(self, **fields: Any) -> None:
        unknown = set(fields) - set(_FIELDS)
        if unknown:
            raise CalibrationError(f"unknown calibration field(s): {', '.join(sorted(unknown))}")
        for key, (kind, default) in _FIELDS.items():
            if key in fields:
                value = fields[key]
            elif default is ...:
                raise CalibrationError(f"a calibration needs {key!r}")
            else:
                value = default() if callable(default) else default
            if not isinstance(value, kind):
                raise CalibrationError(f"calibration field {key!r}: expected {kind.__name__}, got {value!r:.60}")
            object.__setattr__(self, key, value)
        for key in ("recorded_x", "recorded_y"):
            if not all(_number(v) for v in getattr(self, key)):
                raise CalibrationError(f"calibration field {key!r}: expected a list of numbers")
        if not all(_number(v) or (isinstance(v, list) and all(_number(w) for w in v)) for v in self.curve_data):
            raise CalibrationError("calibration field 'curve_data': expected numbers or lists of numbers")

    def to_dict(self) -> dict[str, Any]:
        return {key: getattr(self, key) for key in _FIELDS}

    @classmethod
    def from_json(cls, data: bytes | str) -> Calibration:
        try:
            fields = json.loads(data)
        except ValueError as e:
            raise CalibrationError(f"not JSON: {e}") from None
        if not isinstance(fields, dict):
            raise CalibrationError("expected a JSON object")
        return cls(**fields)

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), indent=2, allow_nan=False) + "\n"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Calibration) and self.to_dict() == other.to_dict()

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        return f"Calibration({', '.join(f'{k}={v!r}' for k, v in self.to_dict().items())})"

    def predict(self, x: float) -> float:
        """y for x on the fitted curve (extrapolates a poly; clamps a monotone at its ends)."""
        if self.curve_type == "poly":
            y = 0.0
            for c in self.curve_data:
                y = y * x + float(c)  # type: ignore[arg-type]
            return y
        if self.curve_type == "monotone":
            xs, ys = self.curve_data
            assert isinstance(xs, list) and isinstance(ys, list), "a monotone curve is [[x knots], [y knots]]"
            return _interp(x, xs, ys)
        raise CalibrationError(f"unknown curve type {self.curve_type!r}")

    def in_range(self, x: float) -> bool:
        return bool(self.recorded_x) and min(self.recorded_x) <= x <= max(self.recorded_x)


def _interp(x: float, xs: list[float], ys: list[float]) -> float:
    if x <= xs[0]:
        return ys[0]
    if x >= xs[-1]:
        return ys[-1]
    i = bisect.bisect_right(xs, x)
    x0, x1, y0, y1 = xs[i - 1], xs[i], ys[i - 1], ys[i]
    return y0 + (y1 - y0) * (x - x0) / (x1 - x0)


def _check(kind: str, value: str) -> str:
    if not _NAME.match(value):
        raise CalibrationError(f"invalid {kind} {value!r}: use letters, digits, '_', '-', '.' (at most 100)")
    return value


def _device_dir(device: str) -> Path:
    path = sub_dir("calibrations") / _check("device", device)
    path.mkdir(exist_ok=True)
    return path


def save(calibration: Calibration, *, activate: bool = True) -> Path:
    _check("name", calibration.name)
    path = _device_dir(calibration.device) / f"{calibration.name}.json"
    tmp = path.with_suffix(".tmp")
    tmp.write_text(calibration.to_json())
    tmp.replace(path)
    if activate:
        set_active(calibration.device, calibration.name)
    return path


def load(device: str, name: str) -> Calibration:
    path = _device_dir(device) / f"{_check('name', name)}.json"
    if not path.exists():
        names = ", ".join(list_names(device)) or "none"
        raise CalibrationError(f"no calibration {name!r} for device {device!r} (known: {names})")
    try:
        return Calibration.from_json(path.read_bytes())
    except CalibrationError as e:
        raise CalibrationError(f"{path} is not a valid calibration: {e}") from None


def list_names(device: str) -> list[str]:
    return sorted(p.stem for p in _device_dir(device).glob("*.json"))


def devices() -> list[str]:
    return sorted(p.name for p in sub_dir("calibrations").iterdir() if p.is_dir())


def active_name(device: str) -> str | None:
    marker = _device_dir(device) / "active"
    name = marker.read_text().strip() if marker.exists() else ""
    return name if name and (marker.parent / f"{name}.json").exists() else None


def active(device: str) -> Calibration | None:
    """The device's active calibration, or None."""
    name = active_name(device)
    return load(device, name) if name else None


def set_active(device: str, name: str) -> None:
    load(device, name)  # raises if it does not exist
    marker = _device_dir(device) / "active"
    tmp = marker.with_suffix(".tmp")
    tmp.write_text(name + "\n")
    os.replace(tmp, marker)


def delete(device: str, name: str) -> None:
    path = _device_dir(device) / f"{_check('name', name)}.json"
    if not path.exists():
        raise CalibrationError(f"no calibration {name!r} for device {device!r}")
    if active_name(device) == name:
        (path.parent / "active").unlink(missing_ok=True)
    path.unlink()
