"""The temperature automations: ``thermostat`` (PID to a target) and ``only_record_temperature``.

A temperature automation decides once per new reading: the host job calls ``execute()`` right
after each reading it judged good (and the kernel's ``duration`` timer finds nothing new, so
it does nothing). It acts only through the host: ``host.set_heater_duty(percent)``, which the
host clamps, and refuses while a safety fault holds the heater off.

What an automation may read from its host (a ``TemperatureAutomationJob``):
``latest_temperature_c``, ``reading_seq`` (a counter, one per good reading),
``reading_monotonic_s`` (when), ``reading_interval_s``, ``heater_duty_cycle``,
``max_heater_duty_percent``, ``max_temperature_c`` and ``config``.
"""

from __future__ import annotations

from typing import Any, ClassVar

from pioreactor_kernel.automation import Automation, AutomationEvent
from pioreactor_kernel.settings import Setting

from .config import KIND, thermostat_gains
from .pid import PID

STALE_AFTER_INTERVALS = 3.0
"""A reading more than this many intervals after the previous decision starts the PID afresh
(after sleeping, a fault, or a switch) rather than integrating the whole gap."""


class TemperatureAutomation(Automation):
    """Base class: ``new_reading()`` gives each good reading once, with the time since the last one."""

    kind: ClassVar[str] = KIND
    host: Any  # a TemperatureAutomationJob (or the benchmark's stand-in)

    def __init__(self, host: Any, **params: Any) -> None:
        super().__init__(host, **params)
        self._seen_seq = -1
        self._seen_at_s: float | None = None

    def new_reading(self) -> tuple[float, float | None] | None:
        """``(celsius, dt_s)`` for a reading not yet acted on (``dt_s`` None: first, or after a gap)."""
        host = self.host
        seq = getattr(host, "reading_seq", 0)
        celsius = getattr(host, "latest_temperature_c", None)
        if celsius is None or seq == self._seen_seq or getattr(host, "fault", ""):
            return None
        at_s = host.reading_monotonic_s
        dt_s = None if self._seen_at_s is None else at_s - self._seen_at_s
        if dt_s is not None and dt_s > STALE_AFTER_INTERVALS * float(host.reading_interval_s):
            dt_s = None
        self._seen_seq, self._seen_at_s = seq, at_s
        return celsius, dt_s


class OnlyRecordTemperature(TemperatureAutomation):
    """The heater stays off; the host goes on reading and publishing the temperature."""

    automation_name = "only_record_temperature"

    def on_start(self) -> None:
        self.host.set_heater_duty(0.0)

    def execute(self) -> AutomationEvent | None:
        self.new_reading()
        return None


class Thermostat(TemperatureAutomation):
    """Holds ``target_temperature`` with a PID on the heater (gains in ``[temperature_automation.thermostat]``)."""

    automation_name = "thermostat"
    target_temperature: float
    parameters = (
        Setting("target_temperature", "float", unit="°C", settable=True, minimum=10.0, maximum=50.0,
                description="The temperature to hold (the heater cannot cool below ambient)"),
    )

    def on_start(self) -> None:
        self.pid: PID | None = None
        self._warn_if_near_cutoff()

    def on_stop(self) -> None:
        self.host.set_heater_duty(0.0)

    def __setattr__(self, name: str, value: Any) -> None:
        super().__setattr__(name, value)
        if name == "target_temperature" and "pid" in self.__dict__:
            self._warn_if_near_cutoff()

    def _warn_if_near_cutoff(self) -> None:
        limit = getattr(self.host, "max_temperature_c", None)
        if limit is not None and self.target_temperature >= limit - 0.5:
            self.logger.warning("target_temperature %.2f °C is within 0.5 °C of the hard maximum %.2f °C "
                                "([temperature_automation] max_temperature_c): overshoot will cut the heater off",
                                self.target_temperature, limit)

    def execute(self) -> AutomationEvent | None:
        new = self.new_reading()
        if new is None:
            return None
        celsius, dt_s = new
        if self.pid is None:
            self.pid = PID(thermostat_gains(self.host.config), 0.0, float(self.host.max_heater_duty_percent))
            self.pid.reset(integral=float(self.host.heater_duty_cycle or 0.0))  # bumpless from what runs now
        if dt_s is None:
            self.pid.reset(integral=self.pid.integral)
            dt_s = 0.0
        target = float(self.target_temperature)
        duty = self.host.set_heater_duty(self.pid.update(target, celsius, dt_s))
        terms = {k: round(v, 3) for k, v in self.pid.last_terms.items()}
        return AutomationEvent(
            "UpdatedHeaterDC",
            f"heater at {duty:.1f} % ({celsius:.2f} °C, target {target:.2f} °C)",
            {"heater_duty_cycle": round(duty, 3), "temperature": round(celsius, 4), "target_temperature": target,
             **terms},
        )
