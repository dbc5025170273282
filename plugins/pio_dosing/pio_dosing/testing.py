"""Test and benchmark helpers for pio-dosing on the simulator: its hidden truth, ideal calibrations."""

from __future__ import annotations

import threading
import time
from typing import Any


def true_state() -> dict[str, Any]:
    """The simulator's hidden truth for this process's unit (cheap: the cached backend)."""
    from pioreactor_kernel import hardware

    return hardware.backend().true_state()  # type: ignore[attr-defined]


def calibrate_from_truth(*pumps: str) -> dict[str, float]:
    """Store calibrations equal to the simulator's true pump flows (an ideal scale), made active."""
    from pioreactor_kernel import calibrations
    from pioreactor_kernel.config import get_config

    state = true_state()
    nominal = float(get_config().get("sim", "pump_flow_ml_s") or 0.5)
    flows = {}
    for pump in pumps or ("media", "alt_media", "waste"):
        flows[pump] = nominal * (1.0 + state["draws"]["pump_error"][pump])
        calibrations.save(calibrations.Calibration(
            device=f"{pump}_pump", name="truth", calibration_type="pump", x="duration", y="volume", x_unit="s",
            y_unit="mL", recorded_x=[1.0, 2.0], recorded_y=[flows[pump], 2 * flows[pump]], curve_type="poly",
            curve_data=[flows[pump], 0.0], meta={"duty_percent": 100.0}))
    return flows


class TruthSampler:
    """Samples the simulator's true state in a thread: OD, volume, alt-media fraction, pumps."""

    PUMP_CHANNELS = {"media": "2", "alt_media": "3", "waste": "4"}

    def __init__(self, interval_s: float = 0.05):
        self.interval_s = interval_s
        self.samples: list[dict[str, Any]] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def __enter__(self) -> TruthSampler:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(5)

    def _run(self) -> None:
        while not self._stop.wait(self.interval_s):
            s = true_state()
            self.samples.append({"t": time.monotonic(), "od": s["od"], "volume_ml": s["volume_ml"],
                                 "alt_media_fraction": s["alt_media_fraction"], "overflow_ml": s["overflow_ml"],
                                 "growth_rate_per_h": s["growth_rate_per_h"], "media_in_ml": s["media_in_ml"],
                                 "pwm": dict(s["pwm"])})

    def since(self, t: float) -> list[dict[str, Any]]:
        return [s for s in self.samples if s["t"] >= t]
