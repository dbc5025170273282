"""One declaration per published setting: from it come ``$properties``, ``/set`` validation,
``pio run <job> --help`` and the UI's editable fields.

Validation refuses what the Pioreactor silently coerces: NaN, infinities, values outside the
declared range, and strings that are not of the declared type.
"""

from __future__ import annotations

import json
import math
from typing import Any

TYPES: dict[str, type] = {"float": float, "integer": int, "boolean": bool, "string": str, "json": object}


class InvalidSetting(ValueError):
    """A value refused for a setting; the message says which and why."""


_FIELDS = ("name", "datatype", "unit", "settable", "minimum", "maximum", "choices", "default", "description",
           "persist")


class Setting:
    """An immutable declaration; ``replace(**changes)`` gives a changed copy.

    A plain class (not a dataclass): every job module declares several at import, and a job's
    start-up should not pay for generating methods.
    """

    __slots__ = _FIELDS
    name: str
    datatype: str  # float | integer | boolean | string | json
    unit: str | None
    settable: bool
    minimum: float | None
    maximum: float | None
    choices: tuple[str, ...] | None
    default: Any
    description: str
    persist: bool  # kept retained after the job ends (e.g. a vial's volume)

    def __init__(self, name: str, datatype: str = "float", unit: str | None = None, settable: bool = False,
                 minimum: float | None = None, maximum: float | None = None, choices: tuple[str, ...] | None = None,
                 default: Any = None, description: str = "", persist: bool = False) -> None:
        if datatype not in TYPES:
            raise ValueError(f"setting {name}: unknown datatype {datatype!r} (one of {', '.join(TYPES)})")
        values = (name, datatype, unit, settable, minimum, maximum, choices, default, description, persist)
        for key, value in zip(_FIELDS, values, strict=True):
            object.__setattr__(self, key, value)

    def __setattr__(self, key: str, value: Any) -> None:
        raise AttributeError(f"a Setting is immutable: use setting.replace({key}=...)")

    def replace(self, **changes: Any) -> Setting:
        return Setting(**{**self._asdict(), **changes})

    def _asdict(self) -> dict[str, Any]:
        return {key: getattr(self, key) for key in _FIELDS}

    def _key(self) -> tuple[Any, ...]:
        return tuple(getattr(self, key) for key in _FIELDS)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Setting) and self._key() == other._key()

    def __hash__(self) -> int:
        return hash(self._key())

    def __repr__(self) -> str:
        return f"Setting({', '.join(f'{k}={v!r}' for k, v in self._asdict().items())})"

    def parse(self, raw: Any) -> Any:
        """Turn a wire payload (bytes/str) or a Python value into a checked value of the declared type."""
        if isinstance(raw, bytes | bytearray):
            try:
                raw = raw.decode("utf-8")
            except UnicodeDecodeError:
                raise InvalidSetting(f"{self.name}: payload is not UTF-8 text") from None
        value = self._coerce(raw)
        self.check(value)
        return value

    def _coerce(self, raw: Any) -> Any:
        kind = self.datatype
        if kind == "string":
            if not isinstance(raw, str):
                raise InvalidSetting(f"{self.name}: expected text, got {raw!r}")
            return raw
        if kind == "json":
            if isinstance(raw, str):
                try:
                    return json.loads(raw)
                except ValueError:
                    raise InvalidSetting(f"{self.name}: {raw!r} is not valid JSON") from None
            return raw
        if kind == "boolean":
            if isinstance(raw, bool):
                return raw
            text = str(raw).strip().lower()
            if text in ("1", "true", "yes", "on"):
                return True
            if text in ("0", "false", "no", "off"):
                return False
            raise InvalidSetting(f"{self.name}: {raw!r} is not a boolean (true/false, 1/0)")
        if isinstance(raw, bool):
            raise InvalidSetting(f"{self.name}: expected a number, got a boolean")
        if isinstance(raw, str):
            text = raw.strip()
            try:
                number = float(text)
            except ValueError:
                raise InvalidSetting(f"{self.name}: {raw!r} is not a number") from None
        elif isinstance(raw, int | float):
            number = float(raw)
        else:
            raise InvalidSetting(f"{self.name}: expected a number, got {type(raw).__name__}")
        if not math.isfinite(number):
            raise InvalidSetting(f"{self.name}: {raw!r} is not a finite number")
        if kind == "integer":
            if number != int(number):
                raise InvalidSetting(f"{self.name}: {raw!r} is not a whole number")
            return int(number)
        return number

    def check(self, value: Any) -> None:
        if self.choices is not None and value not in self.choices:
            raise InvalidSetting(f"{self.name}: {value!r} is not one of {', '.join(map(str, self.choices))}")
        if isinstance(value, int | float) and not isinstance(value, bool):
            if isinstance(value, float) and not math.isfinite(value):
                raise InvalidSetting(f"{self.name}: {value!r} is not a finite number")
            unit = f" {self.unit}" if self.unit else ""
            if self.minimum is not None and value < self.minimum:
                raise InvalidSetting(f"{self.name}: {value}{unit} is below the minimum {self.minimum}{unit}")
            if self.maximum is not None and value > self.maximum:
                raise InvalidSetting(f"{self.name}: {value}{unit} is above the maximum {self.maximum}{unit}")

    def to_wire(self, value: Any) -> str:
        if value is None:
            return ""
        if self.datatype == "json" or isinstance(value, dict | list):
            return json.dumps(value)
        if isinstance(value, bool):
            return "1" if value else "0"
        return str(value)

    def describe(self) -> dict[str, Any]:
        """JSON-able declaration (for ``$settings``, the UI and ``--help``)."""
        out: dict[str, Any] = {"name": self.name, "datatype": self.datatype, "settable": self.settable}
        for key in ("unit", "minimum", "maximum", "default", "description"):
            value = getattr(self, key)
            if value not in (None, ""):
                out[key] = value
        if self.choices is not None:
            out["choices"] = list(self.choices)
        return out

    def help_text(self) -> str:
        parts = [self.description] if self.description else []
        if self.unit:
            parts.append(f"[{self.unit}]")
        if self.minimum is not None or self.maximum is not None:
            lo = "" if self.minimum is None else f"{self.minimum:g}"
            hi = "" if self.maximum is None else f"{self.maximum:g}"
            parts.append(f"range {lo}..{hi}")
        if self.choices:
            parts.append("one of " + "|".join(self.choices))
        return " ".join(parts)
