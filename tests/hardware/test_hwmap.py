from __future__ import annotations

import pytest

from pioreactor_kernel.config import Config
from pioreactor_kernel.hardware import DEFAULT_MAP, HardwareError, HardwareMap


def config(**sections):
    return Config([("defaults", {}), ("test", sections)])


def test_default_map_is_a_pioreactor_board():
    m = HardwareMap.from_config(config())
    assert [m.pwm_channel(r) for r in ("stirring", "media", "alt_media", "waste", "heater")] == list("12345")
    assert m.led_channel("ir") == "A"
    assert m.photodiode_channels() == {"1": "REF", "2": "90"}
    assert set(DEFAULT_MAP) == {"hardware.pwm", "hardware.leds", "hardware.photodiodes"}


def test_config_moves_and_unassigns_channels():
    m = HardwareMap.from_config(config(**{"hardware.pwm": {"5": "", "3": "heater"}, "hardware.leds": {"a": "", "b": "ir"},
                                          "hardware.photodiodes": {"3": "180"}}))
    assert m.pwm_channel("heater") == "3"
    assert m.led_channel("ir") == "B"
    assert m.role_of("pwm", "5") == ""
    assert m.photodiode_channels() == {"1": "REF", "2": "90", "3": "180"}


def test_channels_pass_through_and_led_letters_are_case_insensitive():
    m = HardwareMap.from_config(config())
    assert m.pwm_channel("4") == "4"
    assert m.led_channel("c") == "C"


def test_an_unmapped_role_is_refused_with_the_roles_that_exist():
    m = HardwareMap.from_config(config(**{"hardware.pwm": {"3": ""}}))
    with pytest.raises(HardwareError, match=r"no PWM channel has the role 'alt_media'.*heater \(channel 5\).*hardware.pwm"):
        m.pwm_channel("alt_media")
