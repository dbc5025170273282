"""Topic grammar, states and config keys: every name on the wire is defined here once.

The grammar is the Pioreactor dialect (docs/wire-dialect.md):
``pioreactor/<unit>/<experiment>/<job>/<setting>`` with ``/set`` for change requests.
"""

from __future__ import annotations

from typing import Final

ROOT: Final = "pioreactor"
BROADCAST: Final = "$broadcast"
UNIVERSAL_EXPERIMENT: Final = "$experiment"

# job states (Homie-style, as the Pioreactor uses them)
INIT: Final = "init"
READY: Final = "ready"
SLEEPING: Final = "sleeping"
DISCONNECTED: Final = "disconnected"
LOST: Final = "lost"
STATES: Final = (INIT, READY, SLEEPING, DISCONNECTED, LOST)

STATE: Final = "$state"
PROPERTIES: Final = "$properties"
SETTINGS_SCHEMA: Final = "$settings"  # our extension: JSON declaration of every setting

LATEST_EXPERIMENT_TOPIC: Final = f"{ROOT}/latest_experiment/experiment"
DEFAULT_EXPERIMENT: Final = "default"

LOG_LEVELS: Final = ("DEBUG", "INFO", "NOTICE", "WARNING", "ERROR", "CRITICAL")


def job_topic(unit: str, experiment: str, job: str, *rest: str) -> str:
    """``pioreactor/<unit>/<experiment>/<job>[/<rest>...]``."""
    return "/".join((ROOT, unit, experiment, job, *rest))


def unit_topic(unit: str, experiment: str, *rest: str) -> str:
    """``pioreactor/<unit>/<experiment>[/<rest>...]`` (logs, dosing_events, ...)."""
    return "/".join((ROOT, unit, experiment, *rest))


def log_topic(unit: str, experiment: str, source: str = "app") -> str:
    return unit_topic(unit, experiment, "logs", source)


class Topic:
    """A parsed ``pioreactor/<unit>/<experiment>/<job>/<setting...>`` topic."""

    __slots__ = ("unit", "experiment", "job", "rest")

    def __init__(self, unit: str, experiment: str, job: str | None, rest: tuple[str, ...]):
        self.unit, self.experiment, self.job, self.rest = unit, experiment, job, rest

    @property
    def setting(self) -> str | None:
        return self.rest[0] if self.rest else None

    @property
    def is_set_request(self) -> bool:
        return len(self.rest) >= 2 and self.rest[-1] == "set"

    def __repr__(self) -> str:
        return f"Topic({self.unit!r}, {self.experiment!r}, {self.job!r}, {self.rest!r})"


def parse_topic(topic: str) -> Topic | None:
    """Split a topic of our grammar; None when it is not one."""
    parts = topic.split("/")
    if len(parts) < 3 or parts[0] != ROOT:
        return None
    job = parts[3] if len(parts) > 3 else None
    return Topic(parts[1], parts[2], job, tuple(parts[4:]))


def validate_name(kind: str, value: str) -> str:
    """Unit, experiment and job names become topic levels: refuse what would break the grammar."""
    if not value or any(c in value for c in "/+#\x00") or value != value.strip():
        raise ValueError(f"invalid {kind} name {value!r}: it must be non-empty, without '/', '+', '#' or surrounding spaces")
    return value
