"""od_reading and growth_rate_calculating together on the simulator: the known rate, end to end."""

from __future__ import annotations

import time

import pytest
from pio_od.growth_rate import GrowthRateCalculator
from pio_od.od_reading import ODReader

from pioreactor_kernel.hardware.testing import wait_for

SPEED = 120  # biological seconds per wall-clock second; the estimator runs in biological time


def _true_rate(unit) -> float:
    """The culture's specific growth rate of OD (1/h, biological), logistic slow-down included."""
    s = unit.true_state()
    return s["growth_rate_per_h"] * (1 - s["od"] / 2.5)


@pytest.mark.parametrize("unit", [{"sim": {"speed": str(SPEED), "initial_od": "0.05"},
                                   "growth_rate_calculating": {"time_scale": str(SPEED)}}], indirect=True)
def test_the_estimate_converges_on_the_simulated_rate(unit, recorder):
    topic = f"{unit.base}/growth_rate_calculating/growth_rate"
    close: list[tuple[float, float]] = []

    def converged() -> bool:
        rates = recorder.json(topic)
        if not rates:
            return False
        truth = _true_rate(unit)
        close.append((rates[-1]["growth_rate"], truth))
        return len(close) > 5 and all(abs(g / t - 1) < 0.1 for g, t in close[-5:])

    with ODReader(interval=0.25), GrowthRateCalculator():
        wait_for(lambda: recorder.payloads(topic), 30, what="a first growth rate")
        readings_before_first = len(recorder.payloads(f"{unit.base}/od_reading/ods"))
        started = time.monotonic()
        wait_for(converged, 60, interval_s=0.5, what=f"growth rate within 10 % of the truth: {close[-5:]}")
        print(f"converged {(time.monotonic() - started) * SPEED / 60:.0f} biological min after the first estimate; "
              f"{close}")
    assert readings_before_first <= 8  # the warm-up is a handful of readings
    rates = recorder.json(topic)
    assert all(r["growth_rate"] > -0.5 for r in rates)
