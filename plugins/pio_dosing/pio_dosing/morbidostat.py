"""``pid_morbidostat``: hold a target growth rate, with alt-media as the drug.

Whenever the culture is dense enough (OD or normalised OD at its target), it exchanges
``exchange_volume_ml``; a PID controller on the growth rate's *relative* error
``(growth_rate - target) / target`` chooses what fraction of that exchange is alt-media
(0..1). Growth above target raises the drug fraction; below, lowers it. Gains come from
``[dosing_automation.pid_morbidostat] kp, ki, kd``; the integral and derivative are per
decision (not per hour), so the same gains work whatever the duration or simulator speed.
"""

from __future__ import annotations

from typing import Any

from pioreactor_kernel.automation import AutomationEvent
from pioreactor_kernel.settings import Setting

from . import names
from .automations import EXCHANGE_VOLUME_ML, TARGET_NORMALIZED_OD, TARGET_OD
from .host import DosingAutomation, DosingAutomationHost


class PID:
    """Output clamped to ``[lo, hi]``; the integral is clamped to the same range (no wind-up)."""

    def __init__(self, kp: float, ki: float, kd: float, lo: float = 0.0, hi: float = 1.0):
        self.kp, self.ki, self.kd, self.lo, self.hi = kp, ki, kd, lo, hi
        self.integral = 0.0
        self.last_error: float | None = None

    def update(self, error: float) -> float:
        derivative = 0.0 if self.last_error is None else error - self.last_error
        self.last_error = error
        self.integral = min(self.hi, max(self.lo, self.integral + self.ki * error))
        output = self.kp * error + self.integral + self.kd * derivative
        return min(self.hi, max(self.lo, output))


class PIDMorbidostat(DosingAutomation):
    """Exchange volume when dense; the alt-media share of it follows a PID on the growth rate."""

    automation_name = "pid_morbidostat"
    target_growth_rate: float
    target_od: float | None
    target_normalized_od: float | None
    exchange_volume_ml: float
    pid: PID
    one_of = ("target_od", "target_normalized_od")
    parameters = (
        Setting("duration", "float", unit="min", settable=True, minimum=0.001, maximum=24 * 60, default=5.0,
                description="Minutes between decisions"),
        Setting("target_growth_rate", "float", unit="1/h", settable=True, minimum=1e-6, maximum=100000.0,
                description="Growth rate to hold (in the units growth_rate_calculating publishes)"),
        TARGET_OD, TARGET_NORMALIZED_OD, EXCHANGE_VOLUME_ML,
    )

    def __init__(self, host: DosingAutomationHost, **params: Any) -> None:
        super().__init__(host, **params)
        section = names.MORBIDOSTAT_SECTION
        gains = [self.config.getfloat(section, k, d) for k, d in (("kp", 0.5), ("ki", 0.5), ("kd", 0.0))]
        object.__setattr__(self, "pid", PID(*(float(g or 0.0) for g in gains)))

    def execute(self) -> AutomationEvent:
        target, what, od = self.od_target()
        growth = self.latest_growth_rate()
        if od is None:
            return self.waiting_for(f"an {what}")
        if growth is None:
            return self.waiting_for("a growth rate")
        data: dict[str, Any] = {"latest_od": od, "target": target, "growth_rate": growth,
                                "target_growth_rate": self.target_growth_rate}
        if od < target:
            return AutomationEvent("NoEvent", f"{what} {od:.4g} < {target:g}: let it grow (growth rate {growth:.3g})",
                                   data)
        error = (growth - self.target_growth_rate) / self.target_growth_rate
        fraction = self.pid.update(error)
        volume = float(self.exchange_volume_ml)
        alt_ml = fraction * volume
        moved = self.execute_io_action(media_ml=volume - alt_ml, alt_media_ml=alt_ml, waste_ml=volume)
        data.update(alt_media_share=fraction, relative_error=error, **moved)
        vial = self.host.doser.vial()
        data["alt_media_fraction"] = vial.alt_media_fraction
        return self.interrupted_event(moved, data) or AutomationEvent(
            "AddAltMediaEvent" if moved["alt_media_ml"] > 0 else "DilutionEvent",
            f"growth rate {growth:.3g} vs target {self.target_growth_rate:g} ({error:+.0%}): exchanged "
            f"{moved['media_ml'] + moved['alt_media_ml']:.3g} mL, {fraction:.0%} alt-media; vial alt-media "
            f"fraction now {vial.alt_media_fraction:.3f}", data)
