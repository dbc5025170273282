"""The physical map: which channel is the heater, which pump is media, what each photodiode sees.

Config sections (``channel = role``, as in the Pioreactor's ``[PWM]`` and ``[leds]``)::

    [hardware.pwm]            [hardware.leds]      [hardware.photodiodes]
    1 = stirring              A = ir               1 = REF
    2 = media                 B =                  2 = 90
    3 = alt_media             C =
    4 = waste                 D =
    5 = heater

A section present in config replaces the default channel by channel; ``5 =`` unassigns a channel.
Roles are the lab's words; channels are the board's labels.
"""

# No ``from __future__ import annotations`` here: with it, NamedTuple compiles every field's
# annotation string when the class is defined (~0.2 ms a field, at every job's start-up).

from collections.abc import Mapping
from typing import TYPE_CHECKING, NamedTuple

from .protocols import HardwareError

if TYPE_CHECKING:
    from ..config import Config

PWM_SECTION = "hardware.pwm"
LED_SECTION = "hardware.leds"
PHOTODIODE_SECTION = "hardware.photodiodes"

# roles the other plugins rely on
STIRRING, MEDIA, ALT_MEDIA, WASTE, HEATER = "stirring", "media", "alt_media", "waste", "heater"
IR_LED = "ir"
PUMPS = (MEDIA, ALT_MEDIA, WASTE)
TACHOMETER = "stirring"
VIAL_TEMPERATURE = "vial"

DEFAULT_MAP: dict[str, dict[str, str]] = {
    PWM_SECTION: {"1": STIRRING, "2": MEDIA, "3": ALT_MEDIA, "4": WASTE, "5": HEATER},
    LED_SECTION: {"A": IR_LED, "B": "", "C": "", "D": ""},
    PHOTODIODE_SECTION: {"1": "REF", "2": "90", "3": "", "4": ""},
}
"""The defaults (a Pioreactor 20 ml board); also offered as ``config_defaults`` by the backends."""


class HardwareMap(NamedTuple):
    pwm: Mapping[str, str]  # channel -> role
    leds: Mapping[str, str]  # channel -> role
    photodiodes: Mapping[str, str]  # ADC channel -> angle ("90", "180", "45", "REF")

    @classmethod
    def from_config(cls, config: "Config | None" = None) -> "HardwareMap":
        sections = {}
        for section, default in DEFAULT_MAP.items():
            merged = dict(default)
            if config is not None:
                merged.update(config.section(section))
            if section == LED_SECTION:
                merged = {k.upper(): v for k, v in merged.items()}
            sections[section] = {k: v.strip() for k, v in merged.items() if v and v.strip()}
        return cls(sections[PWM_SECTION], sections[LED_SECTION], sections[PHOTODIODE_SECTION])

    def pwm_channel(self, role_or_channel: str) -> str:
        """``"heater"`` -> ``"5"``; a channel number is returned as is."""
        return _resolve(self.pwm, role_or_channel, "PWM", PWM_SECTION)

    def led_channel(self, role_or_channel: str) -> str:
        """``"ir"`` -> ``"A"``; a channel letter is returned as is (upper-cased)."""
        value = role_or_channel.upper() if len(role_or_channel) == 1 else role_or_channel
        return _resolve(self.leds, value, "LED", LED_SECTION, known=("A", "B", "C", "D"))

    def role_of(self, kind: str, channel: str) -> str:
        table = {"pwm": self.pwm, "led": self.leds, "adc": self.photodiodes}.get(kind, {})
        return table.get(channel, "")

    def photodiode_channels(self) -> dict[str, str]:
        """ADC channel -> angle, for the channels in use."""
        return dict(self.photodiodes)


def _resolve(table: Mapping[str, str], key: str, what: str, section: str, known: tuple[str, ...] = ()) -> str:
    if key in table or key in known or key.isdigit():
        return key
    for channel, role in table.items():
        if role == key:
            return channel
    roles = ", ".join(f"{r} (channel {c})" for c, r in table.items()) or "none"
    raise HardwareError(f"no {what} channel has the role {key!r}; mapped roles: {roles}. "
                        f"Assign one in [{section}], e.g. `pio config set {section}.<channel> {key}`")
