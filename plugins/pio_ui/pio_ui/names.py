"""Names the UI uses on the wire, in config and in its API: defined once, used by reference."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Final

from .defaults import CONFIG_DEFAULTS, SECTION  # noqa: F401 - re-exported

PASSWORD_FILE: Final = "ui_password"
SECRET_FILE: Final = "ui_secret_key"
CONFIG_HISTORY_DIR: Final = "config_history"

ROOM_ALL: Final = "all"


def experiment_room(experiment: str) -> str:
    return f"exp:{experiment}"


@dataclass(frozen=True)
class Series:
    """A chart's data: where its history lives in the leader's database and where live points arrive.

    ``job``/``setting`` name the live topic ``pioreactor/<unit>/<exp>/<job>/<setting>``; ``json_key``
    the number inside a JSON payload (None: the payload is the number). History comes from
    ``table``.``column`` (``split``: a column whose values become separate lines, e.g. OD channels),
    or, when ``table`` is ``settings_history``, from the stored changes of that job setting.
    """

    name: str
    title: str
    unit: str
    job: str
    setting: str
    json_key: str | None
    table: str
    column: str
    split: str | None = None
    step: bool = False
    plugin: str = "ui"
    where: dict[str, str] = field(default_factory=dict)


SETTINGS_HISTORY: Final = "settings_history"

BUILTIN_SERIES: Final = (
    Series("od", "Optical density", "AU", "od_reading", "ods", None, "od_readings", "od_reading", split="channel"),
    Series("od_filtered", "Filtered OD (normalised)", "OD/OD₀", "growth_rate_calculating", "od_filtered", "od_filtered",
           "od_readings_filtered", "normalized_od_reading"),
    Series("growth_rate", "Growth rate", "1/h", "growth_rate_calculating", "growth_rate", "growth_rate",
           "growth_rates", "rate"),
    Series("temperature", "Temperature", "°C", "temperature_automation", "temperature", "temperature",
           "temperature_readings", "temperature_c"),
    Series("rpm", "Stirring", "RPM", "stirring", "measured_rpm", "measured_rpm", "stirring_rates", "measured_rpm"),
    Series("volume", "Vial volume", "mL", "bioreactor", "current_volume_ml", None, SETTINGS_HISTORY, "value",
           step=True),
)

DOSING_EVENTS: Final = "dosing_events"
JOB_STATES_SETTABLE: Final = ("ready", "sleeping", "disconnected")
