"""The ``dosing_automation`` job and the base class of dosing automations.

The host follows the culture over MQTT (``od_reading/ods``, ``growth_rate_calculating/od_filtered``
and ``.../growth_rate``), keeps the latest of each, and doses through one :class:`~.pumps.Doser`.
An automation decides from data *measured after the last dose ended* (never twice on the
same reading) and no older than ``[dosing_automation] max_data_age_s``; its pumps stop when
the job sleeps or stops, and the kernel's watchdog stops them if the process dies.
"""

from __future__ import annotations

import json
import math
import threading
import time
from dataclasses import dataclass
from typing import Any, ClassVar

from pioreactor_kernel.automation import Automation, AutomationEvent, AutomationHost
from pioreactor_kernel.names import unit_topic
from pioreactor_kernel.settings import InvalidSetting

from . import names
from .pumps import Doser, DoseTooSmall, DosingRefused


@dataclass(frozen=True)
class Reading:
    value: float
    measured_at: float  # wall-clock epoch seconds (the payload's timestamp, else arrival)


class DosingAutomationHost(AutomationHost):
    """Run one dosing automation at a time; switch it or change its parameters live over MQTT."""

    kind = names.KIND
    job_name = names.DOSING_AUTOMATION

    def __init__(self, automation_name: str | None = None, **params: Any) -> None:
        self._stop_pumps = threading.Event()  # set while sleeping or stopping: no dose starts, a running one ends
        self._doser: Doser | None = None
        self._readings: dict[str, Reading] = {}
        self._readings_lock = threading.Lock()
        self.last_dose_ended_at = 0.0  # wall-clock epoch seconds
        super().__init__(automation_name, **params)
        for suffix, parse in ((names.OD_READINGS, self._on_ods), (names.OD_FILTERED, self._on_od_filtered),
                              (names.GROWTH_RATE, self._on_growth_rate)):
            self.subscribe(unit_topic(self.unit, self.experiment, *suffix), parse)

    @property
    def doser(self) -> Doser:
        if self._doser is None:
            self._doser = Doser(client=self.client, unit=self.unit, experiment=self.experiment, owner=self.job_name,
                                logger=self.logger, stop=self._stop_pumps)
        return self._doser

    # ------------------------------------------------------------------ data
    def _keep(self, key: str, value: Any, timestamp: Any) -> None:
        if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
            raise ValueError(f"{key} {value!r} is not a finite number")
        measured_at = time.time()
        if isinstance(timestamp, str):
            try:
                from pioreactor_kernel.timestamps import parse_timestamp

                measured_at = parse_timestamp(timestamp).timestamp()
            except ValueError:
                pass
        with self._readings_lock:
            self._readings[key] = Reading(float(value), measured_at)

    def _on_ods(self, message: Any) -> None:
        try:
            payload = json.loads(message.payload)
            for channel, reading in payload["ods"].items():
                self._keep(f"od{channel}", reading["od"], payload.get("timestamp"))
        except (ValueError, KeyError, TypeError, AttributeError) as e:
            self.logger.debug("ignored an OD message: %s", e)

    def _on_od_filtered(self, message: Any) -> None:
        try:
            payload = json.loads(message.payload)
            self._keep("od_filtered", payload["od_filtered"], payload.get("timestamp"))
        except (ValueError, KeyError, TypeError) as e:
            self.logger.debug("ignored an od_filtered message: %s", e)

    def _on_growth_rate(self, message: Any) -> None:
        try:
            payload = json.loads(message.payload)
            self._keep("growth_rate", payload["growth_rate"], payload.get("timestamp"))
        except (ValueError, KeyError, TypeError) as e:
            self.logger.debug("ignored a growth_rate message: %s", e)

    def fresh(self, key: str, max_age_s: float) -> Reading | None:
        """The latest ``key`` if measured after the last dose ended and within ``max_age_s``."""
        with self._readings_lock:
            reading = self._readings.get(key)
        if reading is None or reading.measured_at <= self.last_dose_ended_at:
            return None
        return reading if time.time() - reading.measured_at <= max_age_s else None

    # ------------------------------------------------------------------ lifecycle
    def on_ready(self) -> None:
        self._stop_pumps.clear()
        self.doser.publish_vial()

    def on_sleeping(self) -> None:
        self._stop_pumps.set()
        super().on_sleeping()

    def on_disconnected(self) -> None:
        self._stop_pumps.set()
        try:
            super().on_disconnected()
        finally:
            if self._doser is not None:
                self._doser.close()


class DosingAutomation(Automation):
    """Base of dosing automations: data helpers, chunked exchanges, either-or parameters."""

    kind = names.KIND
    optional: ClassVar[frozenset[str]] = frozenset()  # parameters that may stay unset (None)
    one_of: ClassVar[tuple[str, ...]] = ()  # an either-or group: exactly one set; setting one live clears the rest
    host: DosingAutomationHost

    def __init__(self, host: DosingAutomationHost, **params: Any) -> None:
        # the kernel's Automation requires every parameter without a default; ours may be either-or
        object.__setattr__(self, "host", host)
        object.__setattr__(self, "logger", host.logger)
        declared = self.declared()
        unknown = set(params) - set(declared)
        if unknown:
            raise InvalidSetting(f"{self.automation_name} has no parameter {', '.join(sorted(unknown))} "
                                 f"(it takes: {', '.join(declared)})")
        for name, setting in declared.items():
            value = params.get(name, setting.default)
            if value is None and name not in self.optional and name not in self.one_of and name != "duration":
                raise InvalidSetting(f"{self.automation_name}: parameter {name} is required ({setting.help_text()})")
            object.__setattr__(self, name, None if value is None else setting.parse(value))
        self.check_parameters()

    def check_parameters(self) -> None:
        """Refuse combinations of parameters that make no sense (raise InvalidSetting)."""
        if self.one_of:
            self.exactly_one_of(*self.one_of)

    def __setattr__(self, name: str, value: Any) -> None:
        if name in self.one_of and "host" in self.__dict__:
            self.set_one_of(name, value, self.one_of)
        else:
            super().__setattr__(name, value)

    def exactly_one_of(self, *names_: str) -> str:
        given = [n for n in names_ if getattr(self, n, None) is not None]
        if len(given) != 1:
            raise InvalidSetting(f"{self.automation_name}: give exactly one of {', '.join(names_)} "
                                 f"(given: {', '.join(given) or 'none'})")
        return given[0]

    def set_one_of(self, name: str, value: Any, others: tuple[str, ...]) -> None:
        """Setting one of an either-or group clears the others (a live switch of target kind)."""
        object.__setattr__(self, name, value)
        if value is not None:
            for other in others:
                if other != name and getattr(self, other, None) is not None:
                    object.__setattr__(self, other, None)
                    if self.host.automation is self:
                        self.host.parameter_changed(other, None)
        if self.host.automation is self:
            self.host.parameter_changed(name, value)

    # ------------------------------------------------------------------ data
    @property
    def config(self) -> Any:
        return self.host.doser.config

    def max_data_age_s(self) -> float:
        configured = self.config.getfloat(names.AUTOMATION_SECTION, "max_data_age_s", 0.0) or 0.0
        return configured if configured > 0 else max(30.0, 5 * float(self.duration) * 60)

    def od_channel(self) -> str:
        channel = (self.config.get(names.AUTOMATION_SECTION, "od_channel") or "").strip()
        if channel:
            return channel
        from pioreactor_kernel.hardware.hwmap import HardwareMap

        photodiodes = HardwareMap.from_config(self.config).photodiodes
        return next((c for c, angle in sorted(photodiodes.items()) if angle.upper() != "REF"), "2")

    def latest_od(self) -> float | None:
        reading = self.host.fresh(f"od{self.od_channel()}", self.max_data_age_s())
        return None if reading is None else reading.value

    def latest_normalized_od(self) -> float | None:
        reading = self.host.fresh("od_filtered", self.max_data_age_s())
        return None if reading is None else reading.value

    def latest_growth_rate(self) -> float | None:
        reading = self.host.fresh("growth_rate", self.max_data_age_s())
        return None if reading is None else reading.value

    def od_target(self) -> tuple[float, str, float | None]:
        """For automations targeting ``target_od`` or ``target_normalized_od`` (either-or): the target,
        what it is, and the latest fresh value of that (None: none yet)."""
        target_od = getattr(self, "target_od", None)
        if target_od is not None:
            return float(target_od), "OD", self.latest_od()
        return float(getattr(self, "target_normalized_od")), "normalised OD", self.latest_normalized_od()  # noqa: B009

    def waiting_for(self, what: str) -> AutomationEvent:
        return AutomationEvent("NoEvent", f"waiting for {what} measured after the last dose "
                                          f"(at most {self.max_data_age_s():g} s old)")

    # ------------------------------------------------------------------ acting
    def execute_io_action(self, media_ml: float = 0.0, alt_media_ml: float = 0.0, waste_ml: float = 0.0) -> dict[str, Any]:
        """Add media and alt-media in chunks of ``[dosing_automation] max_subdose_ml``, each followed by
        waste (x ``waste_multiplier``: the efflux tube stops it at the working volume).

        Returns the volumes moved and, if it stopped early, why (``interrupted``).
        """
        section = names.AUTOMATION_SECTION
        max_sub = self.config.getfloat(section, "max_subdose_ml", 1.0) or 1.0
        multiplier = max(1.0, self.config.getfloat(section, "waste_multiplier", 2.0) or 2.0)
        allow = self.config.getboolean(section, "allow_uncalibrated", False)
        moved: dict[str, Any] = {"media_ml": 0.0, "alt_media_ml": 0.0, "waste_ml": 0.0, "interrupted": None}
        added = media_ml + alt_media_ml
        chunks = max(1, math.ceil(added / max_sub - 1e-9)) if added > 0 else 1
        plan = [(names.MEDIA, media_ml / chunks, "media_ml"), (names.ALT_MEDIA, alt_media_ml / chunks, "alt_media_ml"),
                (names.WASTE, waste_ml / chunks * multiplier, "waste_ml")]
        doser = self.host.doser
        excess_ml = doser.vial().current_volume_ml - doser.limits.max_working_volume_ml
        steps = [[(names.WASTE, excess_ml * multiplier, "waste_ml")]] if waste_ml > 0 and excess_ml > 1e-6 else []
        steps += [plan] * chunks  # above the working volume (after a fed-batch, say): back down first
        try:
            for step in steps:
                for pump, ml, key in step:
                    if ml <= 0:
                        continue
                    try:
                        result = doser.dose(pump, ml=min(ml, doser.max_dose_ml), source_of_event=self.automation_name,
                                            allow_uncalibrated=allow)
                    except DoseTooSmall as e:
                        self.logger.debug("skipped: %s", e)
                        continue
                    finally:
                        self.host.last_dose_ended_at = time.time()
                    moved[key] += result.volume_ml
                    if not result.completed:
                        raise DosingRefused(f"pump `{pump}` was stopped during its dose")
        except DosingRefused as e:
            moved["interrupted"] = str(e)
            self.logger.error("%s: dosing stopped: %s", self.automation_name, e)
        return moved

    def interrupted_event(self, moved: dict[str, Any], data: dict[str, Any]) -> AutomationEvent | None:
        if moved["interrupted"]:
            return AutomationEvent("DosingInterrupted", f"dosing stopped: {moved['interrupted']}", {**data, **moved})
        return None
