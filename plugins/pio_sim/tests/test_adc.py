"""The simulated ADS1115: six ranges, clipping at the range, 16-bit codes, one range per channel."""

from __future__ import annotations

import pytest
from pio_sim.physics import adc_conversion

from pioreactor_kernel import hardware
from pioreactor_kernel.hardware.testing import write_config


def codes(volts: float, full_scale_v: float) -> float:
    return volts / (full_scale_v / 32768)


def test_a_conversion_is_quantised_to_the_range_and_saturates_at_its_top_code():
    assert adc_conversion(0.0123456, 4.096, 16) == pytest.approx(0.0123456, abs=0.5 * 4.096 / 32768)
    assert adc_conversion(0.0123456, 0.256, 16) == pytest.approx(0.0123456, abs=0.5 * 0.256 / 32768)
    assert abs(adc_conversion(0.0123456, 0.256, 16) - 0.0123456) < abs(
        adc_conversion(0.0123456, 4.096, 16) - 0.0123456
    )
    assert adc_conversion(1.0, 0.256, 16) == 0.256 * 32767 / 32768
    assert adc_conversion(-0.01, 0.256, 16) == 0.0


def test_each_photodiode_has_its_own_range_and_a_small_one_resolves_a_dim_signal(unit):
    with (
        hardware.open_analog_input("2", owner="t") as side,
        hardware.open_analog_input("1", owner="t") as ref,
        hardware.open_led("ir", owner="t") as ir,
    ):
        assert side.full_scale_ranges_v == (6.144, 4.096, 2.048, 1.024, 0.512, 0.256)
        assert side.full_scale_v == ref.full_scale_v == 4.096  # [sim] adc_full_scale_v
        ir.set_intensity(5)  # a dim scatter signal, ~2 mV
        coarse = [side.read_voltage() for _ in range(20)]
        side.set_full_scale_v(0.256)
        assert ref.full_scale_v == 4.096
        fine = [side.read_voltage() for _ in range(20)]
    assert all(0.0005 < v < 0.01 for v in coarse + fine)
    assert all(codes(v, 4.096) == round(codes(v, 4.096)) for v in coarse)
    assert all(codes(v, 0.256) == round(codes(v, 0.256)) for v in fine)
    assert len(set(fine)) > len(set(coarse))  # finer steps: the noise is resolved, not rounded away
    assert any(codes(v, 4.096) != round(codes(v, 4.096)) for v in fine)


def test_a_signal_beyond_the_range_is_clipped_to_the_top_code(unit):
    write_config(unit, {"sim": {"seed": "42", "reference_v": "1.0"}})  # REF ~1 V at full IR
    hardware.reset()
    with hardware.open_analog_input("1", owner="t") as ref, hardware.open_led("ir", owner="t") as ir:
        ir.set_intensity(100)
        assert 0.6 < ref.read_voltage() < 1.5
        ref.set_full_scale_v(0.256)
        assert {ref.read_voltage() for _ in range(5)} == {0.256 * 32767 / 32768}
        ref.set_full_scale_v(2.048)
        assert 0.6 < ref.read_voltage() < 1.5
