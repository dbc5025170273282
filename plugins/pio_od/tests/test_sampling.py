"""Robust averaging, the LED discipline, failing channels and gain control, on fake devices."""

from __future__ import annotations

import logging

import pytest
from pio_od.acquisition import SignalChain
from pio_od.autorange import MEMORY as AUTORANGE_MEMORY
from pio_od.autorange import AutoRange
from pio_od.sampling import Sampler, robust_mean


def test_robust_mean_drops_spikes_and_garbage():
    samples = [1.00, 1.01, 0.99, 1.00, 1.02, 1.30, 0.98, float("nan"), 1.01]
    assert robust_mean(samples) == pytest.approx(7.01 / 7)  # the 1.30 spike and the NaN are out
    assert robust_mean([float("inf"), -3.0, 99.0, 0.5]) == pytest.approx(0.5)


def test_robust_mean_keeps_quantised_identical_samples():
    lsb = 0.000125
    samples = [0.02] * 6 + [0.02 + lsb] * 3
    assert robust_mean(samples) == pytest.approx(sum(samples) / 9)


def test_robust_mean_needs_enough_usable_samples():
    assert robust_mean([float("nan")] * 5 + [1.0], min_valid=3) is None
    assert robust_mean([]) is None


class FakeLED:
    def __init__(self):
        self.intensity = 0.0
        self.history: list[float] = []

    def set_intensity(self, value: float) -> None:
        self.intensity = value
        self.history.append(value)


class FakeADC:
    def __init__(self, led: FakeLED, on_v: float, dark_v: float = 0.002, values=None):
        self.led, self.on_v, self.dark_v = led, on_v, dark_v
        self.values = list(values) if values is not None else None
        self.led_during_reads: list[float] = []

    def read_voltage(self) -> float:
        self.led_during_reads.append(self.led.intensity)
        if self.values:
            value = self.values.pop(0)
            if isinstance(value, Exception):
                raise value
            return value
        return self.on_v if self.led.intensity > 0 else self.dark_v


def test_led_is_on_only_for_the_lit_samples_and_off_afterwards():
    led = FakeLED()
    ref, od = FakeADC(led, 0.25), FakeADC(led, 0.05)
    sampler = Sampler(led, {"1": ref, "2": od}, samples=7, dark_samples=3)
    s = sampler.sample(40.0)
    assert led.history == [40.0, 0.0]
    assert od.led_during_reads == [0.0] * 3 + [40.0] * 7
    assert s.on_v["2"] == pytest.approx(0.05) and s.dark_v["2"] == pytest.approx(0.002)
    chain = SignalChain({"1": "REF", "2": "90"})
    assert chain.reading(s).signals["2"] == pytest.approx(0.048 / 0.248)


def test_led_goes_off_even_when_a_read_raises_something_unexpected():
    led = FakeLED()

    class Exploding:
        def read_voltage(self):
            if led.intensity:
                raise KeyboardInterrupt
            return 0.0

    with pytest.raises(KeyboardInterrupt):
        Sampler(led, {"2": Exploding()}, samples=3, dark_samples=0).sample(50.0)
    assert led.intensity == 0.0


def test_a_failing_channel_is_reported_and_the_others_are_read():
    led = FakeLED()
    bad = FakeADC(led, 0.05, values=[OSError("I2C bus error")] * 20)
    good = FakeADC(led, 0.05)
    s = Sampler(led, {"2": bad, "3": good}, samples=5, dark_samples=0).sample(50.0)
    assert s.on_v["2"] is None and "I2C bus error" in s.errors["2"]
    assert s.on_v["3"] == pytest.approx(0.05) and "3" not in s.errors


def test_absurd_values_do_not_make_a_reading():
    led = FakeLED()
    adc = FakeADC(led, 0.05, values=[float("nan"), -7.0, 1e9, float("inf"), 0.05])
    s = Sampler(led, {"2": adc}, samples=5, dark_samples=0).sample(50.0)
    assert s.on_v["2"] is None and "unusable" in s.errors["2"]


def test_a_missing_reference_fails_every_channel_with_a_reason():
    led = FakeLED()
    ref = FakeADC(led, 0.25, values=[RuntimeError("gone")] * 20)
    s = Sampler(led, {"1": ref, "2": FakeADC(led, 0.05)}, samples=5, dark_samples=2).sample(50.0)
    reading = SignalChain({"1": "REF", "2": "90"}).reading(s)
    assert reading.signals == {} and "no reference" in reading.errors["2"]


def test_saturated_channel_is_refused():
    led = FakeLED()
    s = Sampler(led, {"2": FakeADC(led, 4.096)}, samples=3, dark_samples=0).sample(100.0)
    assert s.on_v["2"] is None and "full scale" in s.errors["2"]


class RangedADC(FakeADC):
    """An ADS1115-like input: six ranges, 16-bit codes, clipped at the top code of the range in use."""

    full_scale_ranges_v = (0.256, 0.512, 1.024, 2.048, 4.096, 6.144)

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.full_scale_v = 4.096
        self.ranges_set: list[float] = []
        self.ranges_read: list[float] = []

    def set_full_scale_v(self, value: float) -> None:
        assert value in self.full_scale_ranges_v
        self.full_scale_v = value
        self.ranges_set.append(value)

    def read_voltage(self) -> float:
        self.ranges_read.append(self.full_scale_v)
        lsb = self.full_scale_v / 32768
        return min(round(super().read_voltage() / lsb), 32767) * lsb


def test_a_dim_signal_gets_a_small_range_and_a_rising_one_a_larger_range_at_once():
    led = FakeLED()
    adc = RangedADC(led, 0.1)
    sampler = Sampler(led, {"2": adc}, samples=3, dark_samples=0)
    assert adc.ranges_set == [6.144]  # the first reading cannot clip
    sampler.sample(50.0)
    assert sampler.gains["2"].full_scale_v == 0.256 and adc.full_scale_v == 0.256  # 0.1 V <= 40 % of it
    adc.on_v = 0.2  # 78 % of 0.256: above the headroom, up at once
    sampler.sample(50.0)
    assert adc.full_scale_v == 0.512
    adc.on_v = 1.0
    sampler.sample(50.0)
    assert adc.full_scale_v == 2.048  # straight to the range that holds it


def test_a_falling_signal_steps_down_only_when_the_recent_readings_all_fit():
    led = FakeLED()
    adc = RangedADC(led, 0.5)
    sampler = Sampler(led, {"2": adc}, samples=3, dark_samples=0)
    sampler.sample(50.0)
    assert adc.full_scale_v == 2.048
    for v in [0.35, 0.45] * 4:  # around 40 % of 1.024: no flapping
        adc.on_v = v
        sampler.sample(50.0)
        assert adc.full_scale_v == 2.048
    adc.on_v = 0.35
    for _ in range(AUTORANGE_MEMORY - 1):
        sampler.sample(50.0)
        assert adc.full_scale_v == 2.048
    sampler.sample(50.0)
    assert adc.full_scale_v == 1.024
    assert adc.ranges_set == [6.144, 2.048, 1.024]


def test_a_saturated_conversion_steps_the_range_up_and_reads_again_with_the_led_on(caplog):
    led = FakeLED()
    adc = RangedADC(led, 0.05, dark_v=0.001)
    sampler = Sampler(led, {"2": adc}, samples=5, dark_samples=2)
    sampler.sample(50.0)
    assert adc.full_scale_v == 0.256
    adc.on_v = 0.9  # a jump far beyond the range
    led.history.clear()
    adc.ranges_read.clear()
    with caplog.at_level(logging.DEBUG, logger="pioreactor.od_reading"):
        s = sampler.sample(50.0)
    assert led.history == [50.0, 0.0]  # one LED-on period for all the re-reads
    # dark, lit, then lit again one range up at a time until nothing clips
    assert adc.ranges_read == [0.256] * 2 + [0.256] * 5 + [0.512] * 5 + [1.024] * 5
    assert (
        s.on_v["2"] == pytest.approx(0.9, abs=1.024 / 32768) and "2" not in s.errors
    )  # never a clipped value
    assert adc.full_scale_v == 2.048  # 0.9 V is above 60 % of 1.024: headroom for the next reading
    assert "ADC range 0.256 V -> 0.512 V (saturated at 0.256 V" in caplog.text
    assert all(r.levelno == logging.DEBUG for r in caplog.records if "ADC range" in r.message)


def test_a_signal_beyond_the_largest_range_is_refused():
    led = FakeLED()
    adc = RangedADC(led, 7.0)
    s = Sampler(led, {"2": adc}, samples=3, dark_samples=0).sample(50.0)
    assert s.on_v["2"] is None and "full scale" in s.errors["2"]
    assert adc.full_scale_v == 6.144


def test_a_range_that_cannot_be_set_is_logged_and_the_readings_go_on(caplog):
    class Stuck(RangedADC):
        def set_full_scale_v(self, value: float) -> None:
            if value != 6.144:
                raise OSError("I2C bus error")
            super().set_full_scale_v(value)

    led = FakeLED()
    adc = Stuck(led, 0.1)
    sampler = Sampler(led, {"2": adc}, samples=3, dark_samples=0)
    with caplog.at_level(logging.ERROR):
        s = sampler.sample(50.0)
    assert s.on_v["2"] == pytest.approx(0.1, abs=6.144 / 32768)
    assert sampler.gains["2"].full_scale_v == 6.144 and "cannot switch the ADC range" in caplog.text


def test_gain_control_without_adc_support_only_detects_saturation():
    gain = AutoRange(object(), fixed_full_scale_v=4.096)
    assert not gain.adjustable
    gain.observe(0.01)
    assert gain.full_scale_v == 4.096 and gain.saturated(4.05) and not gain.saturated(3.9)
    assert not gain.step_up(4.05)
