"""Closed loop through the simulator (sped up, seeded): the pumps change the culture, its optics what
the automation sees (a photodiode reader stands in for pio-od's jobs: pio_dosing.simsensors)."""

from __future__ import annotations

import json
import math
import statistics
import time

import pytest
from pio_dosing.host import DosingAutomationHost
from pio_dosing.simsensors import SimOpticsPublisher
from pio_dosing.testing import TruthSampler, calibrate_from_truth, true_state

from pioreactor_kernel.testing import wait_for

MAX_VOLUME_ML = 20.0


def decisions(recorder, unit) -> list[dict]:
    return [json.loads(p) for p in recorder.payloads(f"{unit.base}/dosing_automation/latest_event") if p]


def assert_never_above_max_volume(sampler: TruthSampler) -> None:
    assert max(s["volume_ml"] for s in sampler.samples) <= MAX_VOLUME_ML
    assert sampler.samples[-1]["overflow_ml"] == 0.0


def closed_loop(unit, speed: float, initial_od: float, pump_flow_ml_s: float = 5.0, **automation):
    unit.configure(sim={"speed": str(speed), "initial_od": str(initial_od), "pump_flow_ml_s": str(pump_flow_ml_s)})
    calibrate_from_truth()
    host = DosingAutomationHost(**automation)
    optics = SimOpticsPublisher(host.client, unit.name, unit.experiment, interval_s=0.05).start()
    return host, optics


def test_turbidostat_holds_od_in_its_band_for_ten_dilutions(unit, recorder):
    speed, target, exchange = 360.0, 0.5, 1.0
    host, optics = closed_loop(unit, speed, 0.45, pump_flow_ml_s=10.0, automation_name="turbidostat",
                               target_od=target, exchange_volume_ml=exchange, duration=0.003)
    try:
        with TruthSampler() as sampler:
            wait_for(lambda: sum(d["event_name"] == "DilutionEvent" for d in decisions(recorder, unit)) >= 1,
                     timeout_s=20, what="first dilution")
            first = time.monotonic()
            wait_for(lambda: sum(d["event_name"] == "DilutionEvent" for d in decisions(recorder, unit)) >= 11,
                     timeout_s=40, what="ten dilution cycles after the first")
    finally:
        host.clean_up()
        optics.stop()
    dilutions = [d for d in decisions(recorder, unit) if d["event_name"] == "DilutionEvent"]
    assert all(d["data"]["latest_od"] >= target for d in dilutions)  # each with its reason
    assert "exchanged" in dilutions[-1]["message"]
    ods = [s["od"] for s in sampler.since(first + 0.5)]
    low, high = target * 14 / (14 + exchange), target  # the band the turbidostat cycles through
    print(f"true OD after the first dilution: {min(ods):.4f}..{max(ods):.4f} (band {low:.4f}..{high:.4f})")
    assert low * 0.92 <= min(ods) and max(ods) <= high * 1.08
    assert_never_above_max_volume(sampler)


def test_chemostat_reaches_the_steady_state_its_dilution_rate_implies(unit, recorder):
    speed, dilution_rate_bio = 1440.0, 0.3  # 1/h of the culture's (sped-up) time
    period_s = 0.75  # 0.3 h of the culture's time per exchange: 1.28 mL
    unit.configure(sim={"speed": str(speed), "initial_od": "1.4", "pump_flow_ml_s": "10"},
                   dosing_automation={"max_subdose_ml": "2"})
    calibrate_from_truth()
    host = DosingAutomationHost(automation_name="chemostat", dilution_rate=dilution_rate_bio * speed,
                                duration=period_s / 60)
    try:
        with TruthSampler(0.02) as sampler:
            mu = true_state()["potential_growth_rate_per_h"]  # before the density limit
            theory = 2.5 * (1 - dilution_rate_bio / mu)  # [sim] carrying_capacity_od K: OD* = K (1 - D / mu)
            start = time.monotonic()
            wait_for(lambda: time.monotonic() - start > 17, timeout_s=30, interval_s=0.25, what="17 s")
    finally:
        host.clean_up()
    tail = sampler.since(start + 12)  # 12 s = 4.8 h of culture time, 3.4 relaxation times 1/(mu - D)
    mean_od = statistics.fmean(s["od"] for s in tail)
    # what the pumps really delivered (their timing is not perfect) implies its own dilution rate
    delivered_ml = (tail[-1]["media_in_ml"] - tail[0]["media_in_ml"]) / ((tail[-1]["t"] - tail[0]["t"]) / period_s)
    delivered_rate_bio = math.log1p(delivered_ml / 14.0) / (period_s * speed / 3600)
    theory_delivered = 2.5 * (1 - delivered_rate_bio / mu)
    print(f"chemostat steady OD {mean_od:.4f} vs theory {theory:.4f} ({mean_od / theory - 1:+.2%}); "
          f"vs the delivered dilution rate {delivered_rate_bio:.4f}/h: {theory_delivered:.4f} "
          f"({mean_od / theory_delivered - 1:+.2%})")
    assert mean_od == pytest.approx(theory, rel=0.05)
    assert mean_od == pytest.approx(theory_delivered, rel=0.05)
    dilutions = [json.loads(p) for p in recorder.payloads(f"{unit.base}/dosing_automation/latest_event") if p]
    assert dilutions and all(d["data"]["dilution_rate"] == pytest.approx(dilution_rate_bio * speed) for d in dilutions)
    assert_never_above_max_volume(sampler)


def test_morbidostat_raises_the_drug_fraction_while_growth_exceeds_its_target(unit, recorder):
    speed = 360.0
    target_growth_bio = 0.3  # 1/h; undrugged, the culture grows at about 0.8/h at OD 0.5
    host, optics = closed_loop(unit, speed, 0.5, automation_name="pid_morbidostat", target_od=0.45,
                               target_growth_rate=target_growth_bio * speed, exchange_volume_ml=1.0,
                               duration=0.02)
    try:
        with TruthSampler() as sampler:
            wait_for(lambda: true_state()["alt_media_fraction"] > 0.2, timeout_s=45, what="drug fraction > 0.2")
    finally:
        host.clean_up()
        optics.stop()
    acts = [d for d in decisions(recorder, unit) if d["event_name"] in ("AddAltMediaEvent", "DilutionEvent")]
    above = [d for d in acts if d["data"]["growth_rate"] > d["data"]["target_growth_rate"]]
    assert above and all(d["data"]["alt_media_share"] > 0 for d in above[:3])
    assert sampler.samples[0]["alt_media_fraction"] < 0.01 and true_state()["alt_media_fraction"] > 0.2
    growth = [s["growth_rate_per_h"] for s in sampler.samples]
    assert growth[-1] < growth[0] * 0.7  # the drug slows the culture
    assert_never_above_max_volume(sampler)
    assert math.isfinite(acts[-1]["data"]["alt_media_fraction"])
