"""Robust averaging, the LED discipline, failing channels and gain control, on fake devices."""

from __future__ import annotations

import math

import pytest
from pio_od.acquisition import SignalChain
from pio_od.sampling import GainControl, Sampler, robust_mean


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
    full_scale_ranges_v = (0.256, 0.512, 1.024, 2.048, 4.096, 6.144)

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.ranges_set: list[float] = []

    def set_full_scale_v(self, value: float) -> None:
        self.ranges_set.append(value)


def test_gain_follows_the_signal_when_the_adc_can_change_range():
    led = FakeLED()
    adc = RangedADC(led, 0.1)
    sampler = Sampler(led, {"2": adc}, samples=3, dark_samples=0)
    assert sampler.gains["2"].full_scale_v == 6.144
    sampler.sample(50.0)
    assert sampler.gains["2"].full_scale_v == 0.256 and adc.ranges_set[-1] == 0.256
    adc.on_v = 0.25  # near the top of 0.256: up at once
    sampler.sample(50.0)
    assert sampler.gains["2"].full_scale_v == 0.512


def test_gain_control_without_adc_support_only_detects_saturation():
    gain = GainControl(object(), fixed_full_scale_v=4.096)
    assert not gain.adjustable
    gain.adjust(0.01)
    assert gain.full_scale_v == 4.096 and gain.saturated(4.05) and not gain.saturated(3.9)
    assert math.isfinite(gain.full_scale_v)
