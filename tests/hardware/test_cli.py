from __future__ import annotations

import json

from click.testing import CliRunner

from pioreactor_kernel import hardware
from pioreactor_kernel.hardware.cli import hardware as hardware_cli


def test_hardware_status_shows_holders_outputs_and_the_watchdog(hw_unit):
    with hardware.open_pwm("heater", owner="thermostat") as heater, hardware.open_analog_input("2", owner="od"):
        heater.set_duty(35)
        result = CliRunner().invoke(hardware_cli, ["status"])
        assert result.exit_code == 0, result.output
        assert "backend fakehw; watchdog pid" in result.output
        assert "thermostat" in result.output and "35 %" in result.output
        report = json.loads(CliRunner().invoke(hardware_cli, ["status", "--json"]).output)
        assert {(h["kind"], h["channel"], h["owner"]) for h in report["holders"]} == {("pwm", "5", "thermostat"),
                                                                                    ("adc", "2", "od")}
        assert report["outputs"][0]["role"] == "heater" and report["outputs"][0]["lease_left_s"] > 0
    report = json.loads(CliRunner().invoke(hardware_cli, ["status", "--json"]).output)
    assert report["holders"] == [] and report["outputs"] == []
