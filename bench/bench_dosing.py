"""Dosing figures, closed loop through the simulator (issue 7).

- turbidostat: OD error (RMS of (true OD - target) / target) after the first dilution, its
  mean, and the number of doses (dilutions) per simulated hour;
- chemostat: steady-state OD error against theory, OD* = K (1 - D / mu) (the time-averaged OD
  of a logistic culture under pulsed dilution at mean rate D), for the nominal D and for the
  D the pumps really delivered.

The culture is the simulator's (seeded, sped up); the automation sees it only through the
simulated photodiode (pio_dosing.simsensors) and acts through the simulated pumps; the
figures compare the simulator's hidden true OD with the targets.

Run: `.venv/bin/python bench/bench_dosing.py` (BENCH_TURBIDOSTAT_S, BENCH_CHEMOSTAT_S: real seconds).
"""

from __future__ import annotations

import json
import math
import os
import statistics
import tempfile
import time
from pathlib import Path

from pioreactor_kernel.testing import Recorder, running_broker

TURBIDOSTAT_S = float(os.environ.get("BENCH_TURBIDOSTAT_S", "40"))
CHEMOSTAT_S = float(os.environ.get("BENCH_CHEMOSTAT_S", "30"))
CARRYING_CAPACITY_OD = 2.5  # the simulator's default [sim] carrying_capacity_od
WORKING_VOLUME_ML = 14.0


def _unit(root: Path, name: str, port: int, sim: dict[str, str], **sections: dict[str, str]) -> Path:
    from pioreactor_kernel import config, hardware, plugins
    from pioreactor_kernel.hardware.testing import write_config

    data_dir = (root / name).resolve()
    data_dir.mkdir(parents=True)
    write_config(data_dir, {"hardware": {"backend": "sim"}, "sim": {"seed": "7", "lag_h": "0", "ambient_c": "37",
                                                                    **sim}, **sections})
    os.environ.update({"PIO_DATA_DIR": str(data_dir), "PIO_UNIT": name, "PIO_EXPERIMENT": "bench",
                       "PIO__mqtt__port": str(port), "PIO__mqtt__host": "127.0.0.1"})
    hardware.reset()
    plugins.reset_plugin_manager()
    config._cached = None
    return data_dir


def _finish(data_dir: Path) -> None:
    from pioreactor_kernel import hardware
    from pioreactor_kernel.hardware.watchdog import stop

    hardware.reset()
    stop(data_dir)


def turbidostat(root: Path, port: int) -> dict[str, float]:
    from pio_dosing.host import DosingAutomationHost
    from pio_dosing.simsensors import SimOpticsPublisher
    from pio_dosing.testing import TruthSampler, calibrate_from_truth

    speed, target, exchange_ml = 360.0, 0.5, 1.0
    data_dir = _unit(root, "turbidostat", port, {"speed": str(speed), "initial_od": "0.45", "pump_flow_ml_s": "10"})
    calibrate_from_truth()
    topic = "pioreactor/turbidostat/bench/dosing_automation/latest_event"
    rec = Recorder(port, topic)
    host = DosingAutomationHost(automation_name="turbidostat", target_od=target, exchange_volume_ml=exchange_ml,
                                duration=0.003)
    optics = SimOpticsPublisher(host.client, "turbidostat", "bench", interval_s=0.05).start()
    try:
        with TruthSampler(0.02) as sampler:
            time.sleep(TURBIDOSTAT_S)
    finally:
        host.clean_up()
        optics.stop()
        rec.close()
        _finish(data_dir)
    events = [json.loads(p) for p in rec.payloads(topic) if p]
    dilutions = [e for e in events if e["event_name"] == "DilutionEvent"]
    first = next(i for i, s in enumerate(sampler.samples) if s["volume_ml"] > WORKING_VOLUME_ML + 0.01)
    after = sampler.samples[first:]
    errors = [(s["od"] - target) / target for s in after]
    hours = (after[-1]["t"] - after[0]["t"]) * speed / 3600
    media_per_dose = (sampler.samples[-1]["media_in_ml"] - sampler.samples[0]["media_in_ml"]) / max(1, len(dilutions))
    growth = statistics.fmean(s["growth_rate_per_h"] * (1 - s["od"] / CARRYING_CAPACITY_OD) for s in after)
    return {"rms": math.sqrt(statistics.fmean(e * e for e in errors)), "mean": statistics.fmean(errors),
            "media_per_dose": media_per_dose, "growth": growth,
            "expected_from_truth": growth / math.log1p(media_per_dose / WORKING_VOLUME_ML),
            "min": min(errors), "max": max(errors), "doses_per_h": (len(dilutions) - 1) / hours,
            "expected_doses_per_h": _expected_turbidostat_doses_per_h(target, exchange_ml),
            "hours": hours, "dilutions": len(dilutions), "overflow_ml": sampler.samples[-1]["overflow_ml"],
            "led_revocations": optics.led_revocations}


def _expected_turbidostat_doses_per_h(target: float, exchange_ml: float) -> float:
    """A culture at mu (1 - OD/K) regrows ln((V + dV)/V) per dose: mu (1 - OD/K) / ln((V + dV)/V) doses per hour."""
    mean_od = target * (1 + WORKING_VOLUME_ML / (WORKING_VOLUME_ML + exchange_ml)) / 2
    return 1.0 * (1 - mean_od / CARRYING_CAPACITY_OD) / math.log1p(exchange_ml / WORKING_VOLUME_ML)


def chemostat(root: Path, port: int) -> dict[str, float]:
    from pio_dosing.host import DosingAutomationHost
    from pio_dosing.testing import TruthSampler, calibrate_from_truth, true_state

    speed, rate_bio, period_s = 1440.0, 0.3, 0.75
    data_dir = _unit(root, "chemostat", port, {"speed": str(speed), "initial_od": "1.4", "pump_flow_ml_s": "10"},
                     dosing_automation={"max_subdose_ml": "2"})
    calibrate_from_truth()
    mu = true_state()["growth_rate_per_h"]
    host = DosingAutomationHost(automation_name="chemostat", dilution_rate=rate_bio * speed, duration=period_s / 60)
    try:
        with TruthSampler(0.02) as sampler:
            start = time.monotonic()
            time.sleep(CHEMOSTAT_S)
    finally:
        host.clean_up()
        _finish(data_dir)
    settle_s = 5 / (mu - rate_bio) * 3600 / speed  # five relaxation times
    tail = sampler.since(start + settle_s)
    mean_od = statistics.fmean(s["od"] for s in tail)
    theory = CARRYING_CAPACITY_OD * (1 - rate_bio / mu)
    per_dose_ml = (tail[-1]["media_in_ml"] - tail[0]["media_in_ml"]) / ((tail[-1]["t"] - tail[0]["t"]) / period_s)
    delivered = math.log1p(per_dose_ml / WORKING_VOLUME_ML) / (period_s * speed / 3600)
    theory_delivered = CARRYING_CAPACITY_OD * (1 - delivered / mu)
    return {"mean_od": mean_od, "theory": theory, "error": mean_od / theory - 1, "delivered_rate": delivered,
            "theory_delivered": theory_delivered, "error_delivered": mean_od / theory_delivered - 1,
            "hours": (tail[-1]["t"] - tail[0]["t"]) * speed / 3600, "mu": mu, "rate": rate_bio,
            "overflow_ml": sampler.samples[-1]["overflow_ml"]}


def main() -> None:
    import logging

    logging.disable(logging.ERROR)  # the jobs' own logs (e.g. the dose cut short at the end); the figures follow
    print("pio-dosing benchmark (closed loop through the simulator; true OD from its hidden state)")
    with tempfile.TemporaryDirectory() as tmp, running_broker(Path(tmp)) as broker:
        t = turbidostat(Path(tmp), broker.port)
        print(f"turbidostat  target OD 0.5, exchange 1 mL into 14 mL, x360 ({t['hours']:.2f} simulated h, "
              f"{t['dilutions']} dilutions)")
        print(f"  OD error, RMS relative to target     {t['rms']:.2%}   (mean {t['mean']:+.2%}, "
              f"range {t['min']:+.2%}..{t['max']:+.2%}; the ideal band is -6.67%..0%)")
        print(f"  doses per simulated hour             {t['doses_per_h']:.2f}   "
              f"(nominal 1 mL at mu 1/h implies {t['expected_doses_per_h']:.2f}; the true mean growth "
              f"{t['growth']:.3f}/h and true {t['media_per_dose']:.3f} mL per dose imply {t['expected_from_truth']:.2f})",
              flush=True)
        c = chemostat(Path(tmp), broker.port)
        print(f"chemostat    D 0.3/h, mu {c['mu']:.3f}/h, K 2.5, x1440 (measured over {c['hours']:.1f} simulated h "
              f"after 5 relaxation times)")
        print(f"  steady-state OD {c['mean_od']:.4f} vs theory K(1-D/mu) {c['theory']:.4f}: error {c['error']:+.2%}")
        print(f"  vs the delivered D {c['delivered_rate']:.4f}/h: theory {c['theory_delivered']:.4f}, "
              f"error {c['error_delivered']:+.2%}")
    print(f"overflow: turbidostat {t['overflow_ml']:g} mL, chemostat {c['overflow_ml']:g} mL; IR LED leases lost "
          f"(process stalled > 1 s, reading dropped): {t['led_revocations']}")


if __name__ == "__main__":
    main()
