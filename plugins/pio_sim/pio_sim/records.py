"""``Record``: plain data classes for the simulator's parameters and state, cheap to define.

``dataclasses`` writes and compiles an ``__init__``, ``__repr__`` and ``__eq__`` for every class
at import; for :class:`~pio_sim.physics.Params` (some fifty fields) that is most of the import
time of the sim backend, which every job of a simulated unit pays at start-up. A ``Record``
takes its fields from the class's annotations and its defaults from the class body, and shares
one generic ``__init__``: keyword arguments only, mutable defaults copied per instance.
"""

from __future__ import annotations

from typing import Any, ClassVar

_MISSING = object()


def _copied(value: Any) -> Any:
    """A deep copy of nested dicts and lists (what records hold); anything else as it is."""
    if isinstance(value, dict):
        return {k: _copied(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_copied(v) for v in value]
    return value


class Record:
    _fields: ClassVar[tuple[str, ...]] = ()
    _defaults: ClassVar[dict[str, Any]] = {}

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        annotations = cls.__dict__.get("__annotations__", {})
        cls._fields = tuple(n for n, kind in annotations.items() if not str(kind).startswith("ClassVar"))
        cls._defaults = {n: cls.__dict__[n] for n in cls._fields if n in cls.__dict__}

    def __init__(self, **values: Any) -> None:
        for name in self._fields:
            value = values.pop(name, _MISSING)
            if value is _MISSING:
                value = self._defaults.get(name, _MISSING)
                if value is _MISSING:
                    raise TypeError(f"{type(self).__name__}: missing {name!r}")
                if isinstance(value, dict | list):
                    value = value.copy()
            object.__setattr__(self, name, value)
        if values:
            raise TypeError(f"{type(self).__name__}: unknown field(s) {', '.join(sorted(values))}")

    @classmethod
    def field_names(cls) -> tuple[str, ...]:
        return cls._fields

    def to_dict(self) -> dict[str, Any]:
        """The fields as a dict (containers copied, as ``dataclasses.asdict`` does)."""
        return {n: _copied(v) for n, v in self._items()}

    def _items(self) -> list[tuple[str, Any]]:
        return [(n, getattr(self, n)) for n in self._fields]

    def __eq__(self, other: object) -> bool:
        return type(other) is type(self) and self._items() == other._items()  # type: ignore[attr-defined]

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        return f"{type(self).__name__}({', '.join(f'{n}={v!r}' for n, v in self._items())})"
