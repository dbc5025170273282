"""Automation hosts: start, decide, change parameters and switch automations live over MQTT."""

from __future__ import annotations

import json

import pytest

from pioreactor_kernel.automation import AutomationHost
from pioreactor_kernel.mqtt import BrokerAddress, publish_once
from pioreactor_kernel.settings import InvalidSetting
from pioreactor_kernel.testing import pio, wait_for

PLUGIN = '''
from pioreactor_kernel.plugins import hookimpl

@hookimpl
def register_automations(register):
    register("widget", "silent", "widget_autos:Silent", help="does nothing")
    register("widget", "threshold", "widget_autos:Threshold", help="acts above a threshold")

@hookimpl
def register_jobs(register):
    register("widget_automation", "widget_autos:WidgetHost", help="hosts widget automations")
'''

AUTOMATIONS = '''
from pioreactor_kernel.automation import Automation, AutomationEvent, AutomationHost
from pioreactor_kernel.settings import Setting

class WidgetHost(AutomationHost):
    """Hosts widget automations."""
    kind = "widget"
    job_name = "widget_automation"

class Silent(Automation):
    automation_name = "silent"
    def execute(self):
        return AutomationEvent("NoEvent", "silent")

class Threshold(Automation):
    automation_name = "threshold"
    parameters = (
        Setting("target_od", "float", unit="OD", settable=True, minimum=0, maximum=10, description="Target"),
        Setting("exchange_volume_ml", "float", unit="mL", settable=True, minimum=0.1, maximum=5, default=1.0),
    )
    stopped = 0
    def execute(self):
        return AutomationEvent("DilutionEvent", f"target {self.target_od}", {"volume_ml": self.exchange_volume_ml})
    def on_stop(self):
        Threshold.stopped += 1
'''


@pytest.fixture
def widget(unit, monkeypatch):
    folder = unit.plugins_dir
    (folder / "widget_plugin.py").write_text(PLUGIN)
    (unit.data_dir / "widget_autos.py").write_text(AUTOMATIONS)
    monkeypatch.syspath_prepend(str(unit.data_dir))
    monkeypatch.setenv("PYTHONPATH", str(unit.data_dir))
    import widget_autos

    yield widget_autos
    import sys

    sys.modules.pop("widget_autos", None)


def _set(unit, suffix, payload):
    publish_once(f"{unit.base}/widget_automation/{suffix}", payload, address=BrokerAddress("127.0.0.1", unit.port))


def test_host_runs_an_automation_and_publishes_its_decision(widget, unit, recorder):
    with widget.WidgetHost(automation_name="threshold", target_od=1.5) as host:
        event = host.run_now()
        assert event.event_name == "DilutionEvent" and event.data == {"volume_ml": 1.0}
        base = f"{unit.base}/widget_automation"
        wait_for(lambda: recorder.last(f"{base}/latest_event"), what="latest_event")
        assert json.loads(recorder.last(f"{base}/latest_event"))["message"] == "target 1.5"
        settings = json.loads(recorder.last(f"{base}/widget_automation_settings"))
        assert settings == {"automation_name": "threshold",
                            "args": {"duration": 1.0, "target_od": 1.5, "exchange_volume_ml": 1.0}}
        assert recorder.last(f"{base}/$properties") == "automation_name,latest_event,duration,target_od,exchange_volume_ml"


def test_parameters_change_live_and_bad_values_are_refused(widget, unit, recorder):
    with widget.WidgetHost(automation_name="threshold", target_od=1.5) as host:
        _set(unit, "target_od/set", "2.5")
        wait_for(lambda: host.automation.target_od == 2.5, what="target_od change")
        _set(unit, "target_od/set", "nan")
        _set(unit, "exchange_volume_ml/set", "50")
        wait_for(lambda: sum("refused" in p for p in recorder.payloads(f"{unit.base}/logs/app")) >= 2)
        assert host.automation.target_od == 2.5 and host.automation.exchange_volume_ml == 1.0


def test_switching_automation_live_without_restarting(widget, unit, recorder):
    with widget.WidgetHost(automation_name="silent") as host:
        pid_client = host.client.client_id
        _set(unit, "automation/set", json.dumps({"automation_name": "threshold", "args": {"target_od": 0.7}}))
        wait_for(lambda: host.automation_name == "threshold", what="switch to threshold")
        assert not any("'automation' is not a settable" in p for p in recorder.payloads(f"{unit.base}/logs/app"))
        assert host.automation.target_od == 0.7 and host.client.client_id == pid_client
        _set(unit, "automation_name/set", "silent")
        wait_for(lambda: host.automation_name == "silent", what="switch back")
        assert widget.Threshold.stopped >= 1
        wait_for(lambda: "target_od" not in recorder.last(f"{unit.base}/widget_automation/$properties"),
                 what="$properties without the old automation's parameters")
        _set(unit, "automation/set", json.dumps({"automation_name": "nope", "args": {}}))
        _set(unit, "automation/set", "{not json")
        wait_for(lambda: sum("refused automation/set" in p for p in recorder.payloads(f"{unit.base}/logs/app")) >= 2)
        assert host.automation_name == "silent" and host.state == "ready"


def test_a_missing_required_parameter_is_a_clear_error(widget, unit):
    with pytest.raises(InvalidSetting, match="target_od is required"):
        widget.WidgetHost(automation_name="threshold")
    with pytest.raises(InvalidSetting, match="no widget automation 'nope'"):
        widget.WidgetHost(automation_name="nope")


def test_run_help_shows_every_automations_parameters(widget, unit):
    text = pio("run", "widget_automation", "--help").stdout
    assert "--automation-name [silent|threshold]" in text
    assert "--target-od" in text and "--exchange-volume-ml" in text and "[mL]" in text


def test_automation_host_is_generic():
    assert AutomationHost.kind == "" and AutomationHost.default_automation == "silent"
