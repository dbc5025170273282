"""The dosing automations ``silent``, ``turbidostat``, ``chemostat`` and ``fed_batch``.

(``pid_morbidostat`` lives in :mod:`.morbidostat`.) Each decision is returned as an
:class:`~pioreactor_kernel.automation.AutomationEvent` whose message is its reason; the host
publishes it at ``.../dosing_automation/latest_event``.
"""

from __future__ import annotations

import math
from typing import Any

from pioreactor_kernel.automation import AutomationEvent
from pioreactor_kernel.settings import Setting

from .host import DosingAutomation

EXCHANGE_VOLUME_ML = Setting("exchange_volume_ml", "float", unit="mL", settable=True, minimum=0.01, maximum=10.0,
                             default=1.0, description="Volume exchanged per dilution (media in, then waste out)")
TARGET_OD = Setting("target_od", "float", unit="OD", settable=True, minimum=0.001, maximum=20.0,
                    description="Dilute when the OD (od_reading, the automation's photodiode) reaches this")
TARGET_NORMALIZED_OD = Setting("target_normalized_od", "float", unit="OD/OD0", settable=True, minimum=0.01,
                               maximum=1000.0, description="Dilute when the normalised OD (od_filtered) reaches this")


class Silent(DosingAutomation):
    """Never doses (the default: the job runs, the pumps stay off)."""

    automation_name = "silent"

    def execute(self) -> AutomationEvent:
        return AutomationEvent("NoEvent", "silent: never doses")


class Turbidostat(DosingAutomation):
    """Exchange ``exchange_volume_ml`` whenever the OD reaches its target (target OD or normalised OD)."""

    automation_name = "turbidostat"
    target_od: float | None
    target_normalized_od: float | None
    exchange_volume_ml: float
    one_of = ("target_od", "target_normalized_od")
    parameters = (
        Setting("duration", "float", unit="min", settable=True, minimum=0.001, maximum=24 * 60, default=0.25,
                description="Minutes between decisions"),
        TARGET_OD, TARGET_NORMALIZED_OD, EXCHANGE_VOLUME_ML,
    )

    def execute(self) -> AutomationEvent | None:
        target, what, od = self.od_target()
        if od is None:
            return self.waiting_for(f"an {what}")
        data = {"latest_od": od, "target": target, "target_kind": what, "exchange_volume_ml": self.exchange_volume_ml}
        if od < target:
            return AutomationEvent("NoEvent", f"{what} {od:.4g} < target {target:g}: no dilution", data)
        moved = self.execute_io_action(media_ml=self.exchange_volume_ml, waste_ml=self.exchange_volume_ml)
        return self.interrupted_event(moved, data) or AutomationEvent(
            "DilutionEvent", f"{what} {od:.4g} >= target {target:g}: exchanged {moved['media_ml']:.3g} mL",
            {**data, **moved})


class Chemostat(DosingAutomation):
    """Exchange a fixed volume every ``duration`` minutes: ``exchange_volume_ml``, or the volume that a
    ``dilution_rate`` D (1/h) implies for pulses every T = ``duration``: ``V (exp(D T) - 1)``, V the
    working volume (each pulse dilutes by ``V / (V + dV)``, so the pulses dilute at exactly D on average)."""

    automation_name = "chemostat"
    exchange_volume_ml: float | None
    dilution_rate: float | None
    one_of = ("exchange_volume_ml", "dilution_rate")
    parameters = (
        Setting("duration", "float", unit="min", settable=True, minimum=0.001, maximum=24 * 60, default=20.0,
                description="Minutes between decisions"),
        Setting("exchange_volume_ml", "float", unit="mL", settable=True, minimum=0.01, maximum=10.0,
                description="Volume exchanged per dilution (media in, then waste out)"),
        Setting("dilution_rate", "float", unit="1/h", settable=True, minimum=0.0001, maximum=100000.0,
                description="Chemostat dilution rate D; sets the volume per interval"),
    )

    def volume_per_interval_ml(self) -> float:
        if self.exchange_volume_ml is not None:
            return float(self.exchange_volume_ml)
        working = self.host.doser.limits.max_working_volume_ml
        assert self.dilution_rate is not None
        return working * math.expm1(self.dilution_rate * float(self.duration) / 60.0)

    def execute(self) -> AutomationEvent:
        volume = self.volume_per_interval_ml()
        working = self.host.doser.limits.max_working_volume_ml
        rate = math.log1p(volume / working) / (float(self.duration) / 60.0)
        data: dict[str, Any] = {"exchange_volume_ml": volume, "dilution_rate": rate}
        cap = self.host.doser.max_dose_ml
        if volume > cap:
            return AutomationEvent("NoEvent", f"refusing to exchange {volume:.3g} mL per interval (above the "
                                              f"{cap:g} mL cap on a dose): shorten the duration", data)
        # a dose that over- or under-shot (a held-up process, a stopped pump) is made up next time
        # (up to one interval's volume), so the mean dilution rate stays the one asked for
        excess = self.__dict__.get("_excess_ml", 0.0)
        planned = min(cap, max(0.0, volume - excess))
        moved = self.execute_io_action(media_ml=planned, waste_ml=planned) if planned > 0 else {
            "media_ml": 0.0, "alt_media_ml": 0.0, "waste_ml": 0.0, "interrupted": None}
        carried = excess + moved["media_ml"] - volume
        object.__setattr__(self, "_excess_ml", min(volume, max(-volume, carried)))  # at most one interval's worth
        data.update(planned_ml=planned, carried_ml=-excess)
        return self.interrupted_event(moved, data) or AutomationEvent(
            "DilutionEvent", f"chemostat: exchanged {moved['media_ml']:.3g} mL (dilution rate {rate:.4g}/h"
            + (f"; {-excess:+.3g} mL carried from earlier doses)" if abs(excess) > 1e-3 else ")"), {**data, **moved})


class FedBatch(DosingAutomation):
    """Add ``volume_ml`` of media every ``duration`` minutes, removing nothing, until the vial is full."""

    automation_name = "fed_batch"
    volume_ml: float
    parameters = (
        Setting("duration", "float", unit="min", settable=True, minimum=0.001, maximum=24 * 60, default=10.0,
                description="Minutes between decisions"),
        Setting("volume_ml", "float", unit="mL", settable=True, minimum=0.01, maximum=10.0,
                description="Media added per feed"),
    )

    def execute(self) -> AutomationEvent:
        doser = self.host.doser
        current = doser.vial().current_volume_ml
        room = doser.limits.max_volume_ml - current
        data = {"volume_ml": self.volume_ml, "current_volume_ml": current, "max_volume_ml": doser.limits.max_volume_ml}
        if self.volume_ml > room + 1e-9:
            return AutomationEvent("NoEvent", f"vial full: {current:.3g} mL + {self.volume_ml:g} mL would exceed "
                                              f"{doser.limits.max_volume_ml:g} mL ([bioreactor] max_volume_ml)", data)
        moved = self.execute_io_action(media_ml=self.volume_ml)
        return self.interrupted_event(moved, data) or AutomationEvent(
            "FeedEvent", f"fed {moved['media_ml']:.3g} mL of media; vial now {doser.vial().current_volume_ml:.2f} mL",
            {**data, **moved})

