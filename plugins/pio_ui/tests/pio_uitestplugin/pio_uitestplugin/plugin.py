"""Registrations only: the job by import path, the UI contributions as plain data."""

from __future__ import annotations

from typing import Any

from pioreactor_kernel.plugins import hookimpl


@hookimpl
def register_jobs(register: Any) -> None:
    register("light_meter", "pio_uitestplugin.job:LightMeter", help="Measure light (a made-up sensor)")


@hookimpl
def register_ui(register: Any) -> None:
    register("panel", {"name": "light_meter_panel", "title": "Light meter", "job": "light_meter",
                       "description": "Ambient light at the vial, and the sensor's gain.",
                       "fields": [{"setting": "gain", "widget": "number"}, {"setting": "lux", "widget": "readout"}]})
    register("chart", {"name": "lux", "title": "Ambient light", "unit": "lux", "job": "light_meter", "setting": "lux"})
    register("page", {"name": "light", "title": "Light", "sections": [
        {"type": "text", "text": "Light at each vial, from the light_meter plugin."},
        {"type": "chart", "chart": "lux"},
        {"type": "panel", "panel": "light_meter_panel"},
    ]})
    register("panel", {"name": "broken", "job": "light_meter", "fields": [{"setting": "x", "widget": "<script>"}]})
