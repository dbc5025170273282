from __future__ import annotations

import subprocess
import sys

import pytest

from pioreactor_kernel import hardware
from pioreactor_kernel.hardware.testing import output_owner

HOLD_INPUT = """
import sys
from pioreactor_kernel import hardware
adc = hardware.open_analog_input("2", owner="od_reading")
print("READY", flush=True)
sys.stdin.read()
"""


def test_a_second_open_in_one_process_names_this_process(hw_unit):
    with hardware.open_pwm("heater", owner="thermostat"), pytest.raises(
            hardware.ChannelBusy, match=r"PWM channel 5 \(heater\) is held by pid \d+ \(thermostat\).*this process"):
        hardware.open_pwm("5")


def test_another_process_holding_an_output_is_named_with_pid_and_job(hw_unit):
    with output_owner("pwm", "media", 100) as owner:
        with pytest.raises(hardware.ChannelBusy, match=rf"PWM channel 2 \(media\) is held by pid {owner.pid} "
                                                       r"\(owner-under-test\).*pio kill"):
            hardware.open_pwm("media")
        holder = hardware.holder_of("pwm", "2")
        assert holder is not None and holder.pid == owner.pid


def test_inputs_are_owned_too_and_freed_after_kill_9(hw_unit):
    proc = subprocess.Popen([sys.executable, "-c", HOLD_INPUT], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    try:
        assert proc.stdout.readline().strip() == "READY"
        with pytest.raises(hardware.ChannelBusy, match=r"ADC channel 2 \(90\).*od_reading"):
            hardware.open_analog_input("2")
        proc.kill()
        proc.wait(10)
        with hardware.open_analog_input("2", owner="me") as adc:  # at once, nothing to purge
            assert adc.read_voltage() == 0.5
        assert hardware.holder_of("adc", "2") is None
    finally:
        proc.kill()
        proc.wait(10)
        proc.stdin.close()
        proc.stdout.close()


def test_closing_frees_the_channel_and_a_closed_device_refuses_use(hw_unit):
    heater = hardware.open_pwm("heater")
    heater.close()
    with pytest.raises(hardware.HardwareError, match="closed"):
        heater.set_duty(10)
    with hardware.open_pwm("heater") as again:
        again.set_duty(0)


def test_each_device_kind_opens_and_reads(hw_unit):
    with hardware.open_edge_counter(owner="t") as tach, hardware.open_temperature_sensor(owner="t") as temp:
        assert tach.count() == 7
        assert temp.read_celsius() == 30.0
    with hardware.open_led("B") as led:
        led.set_intensity(12.5)
        assert hw_unit.output("led", "B") == 12.5
        assert led.intensity_percent == 12.5


def test_out_of_range_values_are_refused(hw_unit):
    with hardware.open_pwm("heater") as heater:
        for bad in (-1, 100.5, float("nan")):
            with pytest.raises(ValueError, match="outside 0-100"):
                heater.set_duty(bad)


def test_an_unknown_backend_is_a_clear_error(hw_unit):
    from pioreactor_kernel.hardware.testing import write_config

    write_config(hw_unit.directory, {"hardware": {"backend": "nosuch"}})
    hardware.reset()
    with pytest.raises(hardware.HardwareError, match=r"no hardware backend 'nosuch'.*fakehw"):
        hardware.open_pwm("heater")
    assert hardware.holder_of("pwm", "5") is None  # a failed open leaves the channel free


def test_a_device_set_opens_under_the_job_name_and_closes_outputs_first(hw_unit):
    with hardware.DeviceSet(owner="temperature_automation") as devices:
        sensor = devices.temperature_sensor()
        heater = devices.pwm("heater")
        heater.set_duty(30)
        assert hardware.holder_of("pwm", "5").owner == "temperature_automation"
        assert sensor.read_celsius() == 30.0
    assert hw_unit.output("pwm", "5") == 0.0
    assert heater.closed and sensor.closed
    assert hardware.holder_of("temp", "vial") is None
