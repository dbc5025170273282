"""The rpi backend at the bus boundary: pins, duty values, frequencies, gains, register writes."""

from __future__ import annotations

import pytest

from pioreactor_kernel import hardware
from pioreactor_kernel.hardware.testing import write_config


def test_pwm_claims_the_pin_and_drives_duty_at_the_channel_frequency(pi):
    with hardware.open_pwm("heater", owner="t") as heater:
        assert pi.traffic("lgpio", "gpio_claim_output")[-1]["gpio"] == 18
        heater.set_duty(25)
        assert pi.traffic("lgpio", "tx_pwm")[-1] == {**pi.traffic("lgpio", "tx_pwm")[-1], "gpio": 18, "hz": 16, "duty": 25}
        heater.set_duty(100)
        assert pi.line(18)["level"] == 1 and pi.output_percent(18) == 100
    assert pi.output_percent(18) == 0  # closing: PWM stopped, line low, then freed
    assert pi.traffic("lgpio")[-1]["op"] == "gpio_free"
    with hardware.open_pwm("stirring", owner="t") as stirrer:
        stirrer.set_duty(40)
        assert pi.line(17)["pwm_hz"] == 200 and pi.line(17)["pwm_duty"] == 40


def test_pins_and_frequencies_come_from_config(pi):
    write_config(pi.data_dir, {"rpi": {"pwm_2_pin": "22", "pwm_2_hz": "1000"}})
    hardware.reset()
    with hardware.open_pwm("media", owner="t") as pump:
        pump.set_duty(50)
        assert pi.line(22)["pwm_hz"] == 1000 and pi.line(22)["pwm_duty"] == 50


def test_leds_power_up_the_dac43608_and_write_8_bit_codes(pi):
    with hardware.open_led("ir", owner="t") as ir, hardware.open_led("C", owner="t") as c:
        writes = pi.traffic("i2c", "write")
        assert writes[0] == {**writes[0], "address": 0x49, "data": "010000"}  # DEVICE_CONFIG: all outputs on
        ir.set_intensity(50)
        assert pi.traffic("i2c", "write")[-1]["data"] == "080800"  # DACA_DATA, code 128 << 4
        c.set_intensity(100)
        assert pi.traffic("i2c", "write")[-1]["data"] == "0a0ff0"  # DACC_DATA, code 255 << 4
        assert pi.dac_code(0) == 128 and pi.dac_code(2) == 255
    assert pi.dac_code(0) == 0 and pi.dac_code(2) == 0


def test_photodiodes_read_the_ads1115_with_the_configured_gain_and_address(pi):
    write_config(pi.data_dir, {"rpi": {"ads1115_gain": "4", "ads1115_address": "0x49"}})
    hardware.reset()
    pi.set_volts(1, 0.123, address=0x49)
    with hardware.open_analog_input("2", owner="t") as adc:
        assert adc.read_voltage() == pytest.approx(0.123, abs=1.024 / 32768)
        assert adc.full_scale_v == 1.024
    assert pi.traffic("ads1115", "gain")[-1]["gain"] == 4
    read = pi.traffic("ads1115", "read")[-1]
    assert (read["address"], read["pin"], read["gain"]) == (0x49, 1, 4)


def test_each_photodiode_sets_its_own_ads1115_gain_before_converting(pi):
    pi.set_volts(0, 0.3)  # REF, bright
    pi.set_volts(1, 0.0123)  # 90°, dim
    with hardware.open_analog_input("1", owner="t") as ref, hardware.open_analog_input("2", owner="t") as side:
        assert side.full_scale_ranges_v == (6.144, 4.096, 2.048, 1.024, 0.512, 0.256)
        side.set_full_scale_v(0.256)
        assert side.full_scale_v == 0.256 and ref.full_scale_v == 4.096
        fine = side.read_voltage()
        assert pi.traffic("ads1115", "read")[-1] | {"pin": 1, "gain": 16} == pi.traffic("ads1115", "read")[-1]
        assert fine == pytest.approx(0.0123, abs=0.256 / 32768)  # 7.8 uV steps instead of 125 uV
        assert ref.read_voltage() == pytest.approx(0.3, abs=4.096 / 32768)
        assert pi.traffic("ads1115", "read")[-1] | {"pin": 0, "gain": 1} == pi.traffic("ads1115", "read")[-1]
        side.read_voltage()
        assert [r["gain"] for r in pi.traffic("ads1115", "gain")][-2:] == [1, 16]  # the register follows the channel
        ref.set_full_scale_v(0.256)
        assert ref.read_voltage() == pytest.approx(0.256 * 32767 / 32768)  # beyond the range: the top code
        with pytest.raises(ValueError, match="not one of its ranges"):
            side.set_full_scale_v(3.3)
        assert side.full_scale_v == 0.256


def test_a_wrong_gain_is_refused_with_the_choices(pi):
    write_config(pi.data_dir, {"rpi": {"ads1115_gain": "3"}})
    hardware.reset()
    with pytest.raises(ValueError, match=r"ads1115_gain = '3'.*2/3, 1, 2, 4, 8, 16"):
        hardware.open_analog_input("1")


@pytest.mark.parametrize("celsius", [37.5, 21.0625, -10.25])
def test_the_tmp1075_register_is_decoded_to_celsius(pi, celsius):
    raw = (round(celsius / 0.0625) << 4) & 0xFFFF
    pi.set_register(0x4F, 0x00, raw.to_bytes(2, "big"))
    with hardware.open_temperature_sensor(owner="t") as sensor:
        assert sensor.read_celsius() == celsius
    assert pi.traffic("i2c", "read")[-1] == {**pi.traffic("i2c", "read")[-1], "address": 0x4F, "register": 0}


def test_the_tachometer_counts_rising_edges_on_its_pin(pi):
    with hardware.open_edge_counter(owner="t") as tach:
        assert pi.traffic("lgpio", "gpio_claim_alert")[-1] == {
            **pi.traffic("lgpio", "gpio_claim_alert")[-1], "gpio": 25, "edge": 1}
        pi.set_edges(25, 1234)
        assert tach.count() == 1234


def test_the_plugin_loads_without_hardware_libraries_and_says_what_is_missing(tmp_path, monkeypatch):
    import importlib.util
    import sys

    from pioreactor_kernel.hardware.testing import isolated_unit
    from pioreactor_kernel.plugins import plugin_manager

    if importlib.util.find_spec("lgpio") is not None:
        pytest.skip("a real lgpio is installed here")
    monkeypatch.delitem(sys.modules, "lgpio", raising=False)
    with isolated_unit(tmp_path, monkeypatch, hardware={"backend": "rpi"}):
        assert plugin_manager().plugins["rpi"].status == "loaded"
        with pytest.raises(hardware.HardwareError, match=r"needs 'lgpio'.*pio-rpi\[pi\]"):
            hardware.open_pwm("heater")
