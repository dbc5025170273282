"""The turbidostat closed loop through pio-od's real `od_reading` job (when pio-od is installed).

It checks that the two plugins meet on the wire (`od_reading/ods` in, `dosing_events` out) and
that the loop holds the culture. ``PIO_DOSING_WITH_OD=0`` skips it.
"""

from __future__ import annotations

import importlib.util
import json
import os
import signal
import statistics
import time

import pytest
from pio_dosing.host import DosingAutomationHost
from pio_dosing.testing import TruthSampler, calibrate_from_truth

from pioreactor_kernel.testing import spawn_pio, wait_for

pytestmark = pytest.mark.skipif(
    os.environ.get("PIO_DOSING_WITH_OD") == "0" or importlib.util.find_spec("pio_od") is None,
    reason="needs pio-od installed (and not PIO_DOSING_WITH_OD=0)")


def test_turbidostat_holds_the_culture_with_the_real_od_reading_job(unit, recorder):
    unit.configure(sim={"speed": "360", "initial_od": "0.4", "pump_flow_ml_s": "10"})
    calibrate_from_truth()
    od_job = spawn_pio("run", "od_reading", "--interval", "0.1")
    topic = f"{unit.base}/od_reading/ods"
    try:
        wait_for(lambda: len(recorder.payloads(topic)) >= 3, timeout_s=30, what="od_reading publishing")
        first = json.loads(recorder.payloads(topic)[-1])["ods"]["2"]["od"]  # its units, uncalibrated
        host = DosingAutomationHost(automation_name="turbidostat", target_od=first * 1.25, exchange_volume_ml=1.0,
                                    duration=0.003)
        try:
            with TruthSampler() as sampler:
                dilutions = f"{unit.base}/dosing_automation/latest_event"
                wait_for(lambda: sum('"DilutionEvent"' in p for p in recorder.payloads(dilutions)) >= 1,
                         timeout_s=30, what="first dilution")
                first_dilution = time.monotonic()
                wait_for(lambda: sum('"DilutionEvent"' in p for p in recorder.payloads(dilutions)) >= 11,
                         timeout_s=40, what="ten more dilutions")
        finally:
            host.clean_up()
    finally:
        od_job.send_signal(signal.SIGTERM)
        od_job.wait(10)
    ods = [s["od"] for s in sampler.since(first_dilution + 0.5)]
    centre = statistics.median(ods)
    assert min(ods) > centre * 0.9 and max(ods) < centre * 1.1
    assert max(s["volume_ml"] for s in sampler.samples) <= 20.0
