"""The analog input's optional programmable gain, through the kernel's ``ADC`` device."""

from __future__ import annotations

import pytest

from pioreactor_kernel import hardware
from pioreactor_kernel.hardware.protocols import ADS1115_FULL_SCALES_V, AnalogInput, ProgrammableGainInput

GAIN_BACKEND = """
from pioreactor_kernel.plugins import hookimpl


@hookimpl
def register_hardware(register):
    register("gainhw", "pio_local_plugin_gainhw:create", help="an ADC with ranges")


class _PGA:
    full_scale_ranges_v = (0.256, 4.096, 1.024)  # in any order: the kernel sorts them

    def __init__(self):
        self.full_scale_v = 4.096
        self.volts = 0.3

    def set_full_scale_v(self, volts):
        assert volts in self.full_scale_ranges_v, volts
        self.full_scale_v = volts

    def read_voltage(self):
        return min(self.volts, self.full_scale_v)

    def close(self):
        pass


class GainBackend:
    name = "gainhw"
    exclusive_kinds = frozenset()

    def __init__(self, **kwargs):
        pass

    def analog_input(self, channel):
        return _PGA()

    def close(self):
        pass


def create(**kwargs):
    return GainBackend(**kwargs)
"""


@pytest.fixture
def gain_unit(unit_on_backend):
    with unit_on_backend("gainhw", GAIN_BACKEND) as directory:
        yield directory


def test_a_fixed_range_input_says_so(hw_unit):
    with hardware.open_analog_input("2", owner="t") as adc:
        assert isinstance(adc, AnalogInput)
        assert adc.full_scale_ranges_v == () and adc.full_scale_v is None
        with pytest.raises(hardware.HardwareError, match="fixed range"):
            adc.set_full_scale_v(4.096)
        assert adc.read_voltage() == 0.5


def test_a_programmable_input_switches_range_through_the_device(gain_unit):
    with hardware.open_analog_input("2", owner="t") as adc:
        assert isinstance(adc, ProgrammableGainInput)
        assert adc.full_scale_ranges_v == (4.096, 1.024, 0.256)
        assert adc.full_scale_v == 4.096 and adc.read_voltage() == 0.3
        adc.set_full_scale_v(0.256 * (1 + 1e-9))  # a float that means the range is taken as the range
        assert adc.full_scale_v == 0.256 and adc.read_voltage() == 0.256
        for bad in (2.0, float("nan"), "1.024", True):
            with pytest.raises(ValueError, match="not one of its ranges"):
                adc.set_full_scale_v(bad)  # type: ignore[arg-type]
        assert adc.full_scale_v == 0.256
    with pytest.raises(hardware.HardwareError, match="closed"):
        adc.set_full_scale_v(4.096)


def test_the_ads1115_ranges_are_its_datasheet_ones():
    assert tuple(4.096 / g for g in (2 / 3, 1, 2, 4, 8, 16)) == ADS1115_FULL_SCALES_V
