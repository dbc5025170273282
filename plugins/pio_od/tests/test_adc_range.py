"""od_reading's ADC range on the simulator's modelled ADS1115: finer for a dim signal, never clipped."""

from __future__ import annotations

import logging

import pytest
from od_simtools import fresh_culture
from pio_od.od_reading import ODReader


def spy(job: ODReader, channel: str) -> list[tuple[float, float]]:
    """Record (range, volts) of every conversion of ``channel`` from now on."""
    adc = job.hw.sampler.adcs[channel]
    seen: list[tuple[float, float]] = []
    read = adc.read_voltage

    def recording() -> float:
        range_v = adc.full_scale_v
        volts = read()
        seen.append((range_v, volts))
        return volts

    adc.read_voltage = recording
    return seen


def on_the_code_grid(volts: float, range_v: float) -> bool:
    code = volts / (range_v / 32768)
    return abs(code - round(code)) < 1e-6


@pytest.fixture
def debug_log(caplog):
    """The od_reading logger's records at DEBUG (the ``pioreactor`` tree does not propagate to the root)."""
    logger = logging.getLogger("pioreactor.od_reading")
    level = logger.level
    logger.addHandler(caplog.handler)
    logger.setLevel(logging.DEBUG)
    yield caplog
    logger.removeHandler(caplog.handler)
    logger.setLevel(level)


def test_a_dim_signal_is_read_on_a_small_range_with_finer_steps(unit, debug_log):
    caplog = debug_log
    fresh_culture(unit, initial_od="0.02", speed="0.000001")
    with ODReader(interval=3600, ir_led_intensity=3) as job:
        side = job.hw.sampler.adcs["2"]
        conversions = spy(job, "2")
        for _ in range(3):
            assert job.record_reading() is not None
        assert side.full_scale_v == job.hw.sampler.gains["2"].full_scale_v == 0.256
        assert job.hw.sampler.adcs["1"].full_scale_v <= 0.256  # REF is dim too at 3 %
    first_range = conversions[0][0]
    assert first_range == 6.144  # the first reading starts on the largest range
    lit_fine = [v for r, v in conversions if r == 0.256]
    assert lit_fine and all(on_the_code_grid(v, 0.256) for v in lit_fine)
    assert any(not on_the_code_grid(v, 6.144) for v in lit_fine)  # steps a coarse range could not show
    changes = [r for r in caplog.records if "ADC range" in r.getMessage()]
    assert changes and all(r.levelno == logging.DEBUG for r in changes)
    assert "channel 2: ADC range 6.144 V -> 0.256 V" in caplog.text


def test_a_signal_that_jumps_beyond_the_range_is_read_again_and_never_published_clipped(unit):
    fresh_culture(unit, initial_od="2.0", speed="0.000001")  # 90° near 1.2 V at full intensity
    with ODReader(interval=3600, ir_led_intensity=2) as job:
        dim = [job.record_reading()["2"]["od"] for _ in range(3)]
        assert job.hw.sampler.adcs["2"].full_scale_v == 0.256
        conversions = spy(job, "2")
        job.ir_led_intensity = 100.0  # 50x brighter at once: far beyond the small range
        bright = job.record_reading()["2"]["od"]
        again = job.record_reading()["2"]["od"]
    top = [(r, v) for r, v in conversions if v >= 0.999 * r]
    assert top, "the jump should have hit the top of the small range"
    assert (
        top[0][0] == 0.256 and max(r for r, _ in conversions) >= 2.048
    )  # read again up to a range that holds it
    # REF normalisation makes the signal independent of the intensity: a clipped read would be far off
    assert bright == pytest.approx(sum(dim) / 3, rel=0.03) and again == pytest.approx(bright, rel=0.03)
