"""Running a pump safely: check the request, drive the pump, account the volume, publish the event.

Shared by the pump actions (``pio run add_media``...) and the dosing automations. A dose is
refused (:class:`DosingRefused`, with what to do) when its amount is not a positive finite
number, exceeds ``[dosing] max_dose_ml`` / ``max_dose_s``, would take the vial above
``[bioreactor] max_volume_ml``, or asks for millilitres from a pump without a calibration
(unless ``allow_uncalibrated``). The pump is switched off in a ``finally``, when the owner's
stop event is set, and by the kernel's watchdog if the process dies or hangs.
"""

from __future__ import annotations

import logging
import math
import threading
import time
from dataclasses import dataclass
from typing import Any

from . import names
from .structs import DosingEvent, encode
from .vial import VialState, VialStore, publish_state


class DosingRefused(ValueError):
    """A dose that was not started; the message says why and what to do."""


class DoseTooSmall(DosingRefused):
    """Below what the pump's calibration can deliver (its line crosses 0 mL after 0 s)."""


@dataclass(frozen=True)
class PumpModel:
    """What a pump moves: ``ml = ml_per_s * seconds + intercept_ml`` at ``duty_percent``."""

    pump: str
    ml_per_s: float
    intercept_ml: float
    duty_percent: float
    calibration_name: str | None  # None: the nominal flow of an uncalibrated pump

    @property
    def calibrated(self) -> bool:
        return self.calibration_name is not None

    @classmethod
    def for_pump(cls, pump: str, config: Any) -> PumpModel:
        from pioreactor_kernel import calibrations

        cal = calibrations.active(names.calibration_device(pump))
        if cal is None:
            return cls(pump, _positive(config, names.DOSING_SECTION, "uncalibrated_ml_per_s", 0.5), 0.0,
                       _duty(config.getfloat(names.DOSING_SECTION, "pump_duty_percent", 100.0)), None)
        coefficients = [float(c) for c in cal.curve_data]  # type: ignore[arg-type]
        if cal.curve_type != "poly" or len(coefficients) != 2 or not coefficients[0] > 0 or not all(
                map(math.isfinite, coefficients)):
            raise DosingRefused(f"the calibration {cal.name!r} of pump `{pump}` is not a rising line "
                                f"({cal.curve_type} {cal.curve_data}): run `pio calibrate pump --pump {pump}` again")
        return cls(pump, coefficients[0], coefficients[1], _duty(float(cal.meta.get("duty_percent", 100.0))), cal.name)

    def seconds_for(self, ml: float) -> float:
        seconds = (ml - self.intercept_ml) / self.ml_per_s
        if seconds <= 0:
            raise DoseTooSmall(f"{ml:g} mL is below the smallest dose pump `{self.pump}` can deliver "
                                f"(its calibration gives {self.intercept_ml:.3g} mL at 0 s)")
        return seconds

    def ml_for(self, seconds: float) -> float:
        return max(0.0, self.ml_per_s * seconds + (self.intercept_ml if seconds > 0 else 0.0))


@dataclass(frozen=True)
class DoseResult:
    pump: str
    event: str
    volume_ml: float  # what was moved (estimated from the calibration)
    seconds: float  # how long the pump ran
    completed: bool  # False: stopped early (stop requested, watchdog, max volume)
    vial: VialState


def check_amount(what: str, value: Any, cap: float, unit: str) -> float:
    """A dose amount must be a positive, finite number not above its cap."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise DosingRefused(f"{what} must be a number, got {value!r}")
    value = float(value)
    if math.isnan(value) or math.isinf(value):
        raise DosingRefused(f"{what} must be a finite number, got {value!r}")
    if value <= 0:
        raise DosingRefused(f"{what} must be above 0 {unit}, got {value:g} {unit}")
    if value > cap:
        raise DosingRefused(f"{what} = {value:g} {unit} is above the cap of {cap:g} {unit} for a single dose "
                            f"([dosing] max_dose_{'ml' if unit == 'mL' else 's'})")
    return value


class Doser:
    """Doses on behalf of one owner (a job): one pump at a time, stoppable by ``stop``."""

    def __init__(self, *, client: Any, unit: str, experiment: str, owner: str, logger: logging.Logger | None = None,
                 stop: threading.Event | None = None, config: Any = None):
        from pioreactor_kernel.config import get_config

        self.client, self.unit, self.experiment, self.owner = client, unit, experiment, owner
        self.logger = logger or logging.getLogger(f"pioreactor.{owner}")
        self.stop = stop or threading.Event()
        self.config = config or get_config()
        self.store = VialStore()
        self.limits = self.store.limits
        self.max_dose_ml = _positive(self.config, names.DOSING_SECTION, "max_dose_ml", 10.0)
        self.max_dose_s = _positive(self.config, names.DOSING_SECTION, "max_dose_s", 120.0)
        self.report_s = _positive(self.config, names.DOSING_SECTION, "continuous_report_s", 1.0)
        self.lease_s = _positive(self.config, "hardware", "lease_s", 1.0)
        self._off_latency_s = 0.0
        self._lock = threading.Lock()

    # ------------------------------------------------------------------ public
    def vial(self) -> VialState:
        return self.store.get(self.experiment)

    def dose(self, pump: str, *, ml: float | None = None, duration_s: float | None = None,
             continuously: bool = False, source_of_event: str = "manual",
             allow_uncalibrated: bool = False) -> DoseResult:
        """Run ``pump`` for ``ml`` millilitres, ``duration_s`` seconds, or until ``stop`` is set."""
        if pump not in names.PUMPS:
            raise DosingRefused(f"no pump {pump!r}: one of {', '.join(names.PUMPS)}")
        if sum((ml is not None, duration_s is not None, bool(continuously))) != 1:
            raise DosingRefused("give exactly one of: a volume (ml), a duration (seconds), or continuously")
        if self.stop.is_set():
            raise DosingRefused(f"{self.owner} is stopping or paused: no new dose")
        model = PumpModel.for_pump(pump, self.config)
        if ml is not None:
            ml = check_amount("the volume", ml, self.max_dose_ml, "mL")
            if not model.calibrated and not allow_uncalibrated:
                raise DosingRefused(
                    f"pump `{pump}` has no calibration, so it cannot dose by mL: run `pio calibrate pump --pump "
                    f"{pump}`, or dose by seconds, or pass --allow-uncalibrated to assume "
                    f"{model.ml_per_s:g} mL/s ([dosing] uncalibrated_ml_per_s)")
            seconds = model.seconds_for(ml)
            if seconds > self.max_dose_s:
                raise DosingRefused(f"{ml:g} mL takes {seconds:.1f} s on pump `{pump}`, above the cap of "
                                    f"{self.max_dose_s:g} s ([dosing] max_dose_s)")
        elif duration_s is not None:
            seconds = check_amount("the duration", duration_s, self.max_dose_s, "s")
            ml = model.ml_for(seconds)
        if not model.calibrated:
            self.logger.warning("pump `%s` has no calibration: its volume is estimated at %g mL/s "
                                "([dosing] uncalibrated_ml_per_s)", pump, model.ml_per_s)
        with self._lock:
            if continuously:
                return self._run_continuously(model, source_of_event)
            assert ml is not None
            self._check_room(pump, ml)
            return self._run_timed(model, ml, seconds, source_of_event)

    # ------------------------------------------------------------------ running
    def _check_room(self, pump: str, ml: float) -> None:
        if pump not in names.ADDING_PUMPS:
            return
        v = self.vial().current_volume_ml
        if v + ml > self.limits.max_volume_ml + 1e-9:
            raise DosingRefused(
                f"adding {ml:g} mL to the {v:.2f} mL in the vial would exceed its maximum of "
                f"{self.limits.max_volume_ml:g} mL ([bioreactor] max_volume_ml): remove waste first "
                f"(`pio run remove_waste`), or correct the tracked volume with `pio bioreactor set`")

    def _run_timed(self, model: PumpModel, ml: float, seconds: float, source: str) -> DoseResult:
        from pioreactor_kernel import hardware

        # switching off takes a few ms after waking (a transaction with the lease store and the
        # driver); learnt from earlier doses and taken off the wait, so short doses are not long
        wait_s = max(0.0, seconds - self._off_latency_s)
        with hardware.open_pwm(model.pump, owner=self.owner) as pwm:
            try:
                pwm.set_duty(model.duty_percent)
                started = time.monotonic()  # the pump runs from here (set_duty returns once it drives)
                interrupted = self.stop.wait(wait_s)
            finally:
                pwm.off()
            ran_s = time.monotonic() - started
            completed = not interrupted and not pwm.revoked
        if completed and ran_s - wait_s < 0.05:
            self._off_latency_s += 0.2 * (min(0.05, ran_s - wait_s) - self._off_latency_s)
        moved = ml if completed else min(ml, model.ml_for(ran_s))
        if not completed:
            why = "the hardware watchdog switched it off" if pwm.revoked else "a stop was requested"
            self.logger.warning("pump `%s` stopped after %.2f s of %.2f s (%s): moved about %.3g mL of %.3g mL",
                                model.pump, ran_s, seconds, why, moved, ml)
        elif ran_s - seconds > max(0.05, 0.1 * seconds):  # woken late: the process stalled mid-dose
            moved = model.ml_for(ran_s)
            self.logger.warning("pump `%s` ran %.2f s instead of %.2f s (this process was held up): moved about "
                                "%.3g mL instead of %.3g mL", model.pump, ran_s, seconds, moved, ml)
        vial = self._account(model.pump, moved, source)
        self.logger.info("%s: %.3g mL in %.2f s (%s); vial now %.2f mL", names.EVENT_OF_PUMP[model.pump], moved,
                         min(ran_s, seconds), source, vial.current_volume_ml)
        return DoseResult(model.pump, names.EVENT_OF_PUMP[model.pump], moved, ran_s, completed, vial)

    def _run_continuously(self, model: PumpModel, source: str) -> DoseResult:
        from pioreactor_kernel import hardware

        adding = model.pump in names.ADDING_PUMPS
        total, ran_s, completed, vial = 0.0, 0.0, True, self.vial()
        # A stalled process cannot switch its pump off on time; its output lease lapses after
        # [hardware] lease_s and the watchdog does. Until then the pump runs: keep that much room.
        headroom_ml = model.ml_per_s * (self.lease_s + 0.1) if adding else 0.0
        limit_ml = self.limits.max_volume_ml - headroom_ml
        if adding and vial.current_volume_ml >= limit_ml:
            raise DosingRefused(
                f"the vial holds {vial.current_volume_ml:.2f} mL: a continuous addition keeps "
                f"{headroom_ml:.2f} mL below its maximum of {self.limits.max_volume_ml:g} mL (what pump `{model.pump}` "
                f"moves before the watchdog stops it if this process stalls), so there is no room: remove waste first")
        with hardware.open_pwm(model.pump, owner=self.owner) as pwm:
            started = None
            try:
                pwm.set_duty(model.duty_percent)
                last = started = time.monotonic()
                self.logger.info("pump `%s` running continuously (%s) until stopped", model.pump, source)
                while True:
                    wait_s = self.report_s
                    if adding:
                        room_s = (limit_ml - vial.current_volume_ml) / model.ml_per_s
                        wait_s = min(wait_s, max(0.0, room_s))
                    stopped = self.stop.wait(wait_s) if wait_s > 0 else False
                    now = time.monotonic()
                    chunk = model.ml_per_s * (now - last)
                    last = now
                    if chunk > 0:
                        vial = self._account(model.pump, chunk, source)
                        total += chunk
                    if stopped or pwm.revoked:
                        break
                    if adding and wait_s < self.report_s:
                        completed = False
                        self.logger.error("pump `%s` stopped: the vial is %.2f mL from its maximum of %g mL "
                                          "([bioreactor] max_volume_ml)", model.pump, headroom_ml,
                                          self.limits.max_volume_ml)
                        break
            finally:
                pwm.off()
                ran_s = time.monotonic() - started if started is not None else 0.0
        self.logger.info("%s: %.3g mL in %.2f s, continuously (%s); vial now %.2f mL",
                         names.EVENT_OF_PUMP[model.pump], total, ran_s, source, vial.current_volume_ml)
        return DoseResult(model.pump, names.EVENT_OF_PUMP[model.pump], total, ran_s, completed, vial)

    # ------------------------------------------------------------------ accounting
    def _account(self, pump: str, ml: float, source: str) -> VialState:
        """Apply the event to the tracked vial and publish it (event first, then the new vial values)."""
        from pioreactor_kernel.names import unit_topic
        from pioreactor_kernel.timestamps import current_utc_timestamp

        event = names.EVENT_OF_PUMP[pump]
        vial = self.store.apply(self.experiment, event, ml)
        if ml > 0:
            payload = DosingEvent(volume_change=round(ml, 6), event=event, source_of_event=source,
                                  timestamp=current_utc_timestamp())
            self.client.publish(unit_topic(self.unit, self.experiment, names.DOSING_EVENTS), encode(payload), qos=1)
        publish_state(self.client, self.unit, self.experiment, vial)
        return vial

    def publish_vial(self) -> VialState:
        vial = self.vial()
        publish_state(self.client, self.unit, self.experiment, vial)
        return vial

    def close(self) -> None:
        self.store.close()


def _positive(config: Any, section: str, key: str, fallback: float) -> float:
    value = config.getfloat(section, key, fallback)
    if value is None or not math.isfinite(value) or value <= 0:
        raise DosingRefused(f"[{section}] {key} = {value!r} must be a positive number")
    return float(value)


def _duty(value: float | None) -> float:
    if value is None or not (0 < value <= 100):
        raise DosingRefused(f"a pump duty of {value!r} % is outside 0-100 %")
    return float(value)
