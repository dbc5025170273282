"""Job ``temperature_automation``: reads the vial's temperature, hosts a temperature automation, keeps the heater safe.

Every ``reading_interval_s`` the job takes one reading (the median of a few samples; with
``heater_pause_s`` > 0 the heater is off while it samples, so the heater's own warmth near
the sensor does not count as the vial's), publishes it at ``.../temperature_automation/temperature``
as ``{"temperature", "timestamp"}`` and lets the running automation decide on it.

The heater is switched off, an error logged and a fault published (retained
``.../temperature_automation/fault``, and ``latest_event`` ``HeaterCutOff``) when the reading
passes ``[temperature_automation] max_temperature_c``, when the sensor fails or lies (errors,
NaN, implausible values, samples that disagree; ``max_bad_readings`` in a row) or is stuck.
The heater stays off until the fault is acknowledged (``fault/set`` with an empty payload).
It is also off whenever the job sleeps or stops; if the process dies (even ``kill -9``), the
kernel's output lease lapses and the unit's watchdog switches it off.
"""

from __future__ import annotations

import math
import threading
import time
from typing import Any, ClassVar

from pioreactor_kernel import hardware
from pioreactor_kernel.automation import AutomationHost
from pioreactor_kernel.config import get_config
from pioreactor_kernel.names import READY
from pioreactor_kernel.settings import Setting
from pioreactor_kernel.timestamps import current_utc_timestamp
from pioreactor_kernel.timing import RepeatedTimer

from . import config as cfg
from .readings import Reading, StuckDetector, assess

READING_INTERVAL_SETTING = Setting(cfg.READING_INTERVAL, "float", unit="s", settable=True, minimum=0.05, maximum=3600.0,
                                   description="Seconds between temperature readings")


class TemperatureAutomationJob(AutomationHost):
    """Read the vial's temperature and run a temperature automation (thermostat, only_record_temperature)."""

    kind = cfg.KIND
    job_name = cfg.JOB
    default_automation = "only_record_temperature"
    published_settings: ClassVar[tuple[Setting, ...]] = (  # type: ignore[assignment]  # kernel: not ClassVar-typed
        *AutomationHost.published_settings,
        Setting(cfg.TEMPERATURE, "json", unit="°C", description='Latest reading: {"temperature", "timestamp"}'),
        Setting(cfg.HEATER_DUTY, "float", unit="%", minimum=0.0, maximum=100.0,
                description="Heater duty the automation set (0 while a fault holds it off)"),
        READING_INTERVAL_SETTING,
        Setting(cfg.FAULT, "string", settable=True,
                description="Why the heater is locked off (empty: no fault); set it to empty to acknowledge"),
    )

    # defaults, so that automations started inside AutomationHost.__init__ find them
    temperature: dict[str, Any] | None = None
    heater_duty_cycle = 0.0
    fault = ""
    latest_temperature_c: float | None = None
    reading_seq = 0
    reading_monotonic_s = 0.0
    reading_interval_s = 30.0
    max_heater_duty_percent = 100.0
    max_temperature_c: float | None = None
    _heater: Any = None
    _sampling: RepeatedTimer | None = None
    _commanded = 0.0  # the duty the automation asked for (the heater runs it except during pauses)
    _pausing = False
    _duty_before_reading = 0.0

    @property
    def _heater_lock(self) -> threading.RLock:
        # created on first use: automations start inside AutomationHost.__init__, before ours runs
        return self.__dict__.setdefault("_heater_lock_", threading.RLock())

    def __init__(self, automation_name: str | None = None, reading_interval_s: float | None = None,
                 **params: Any) -> None:
        super().__init__(automation_name, **params)
        self.config = get_config()
        safety = cfg.safety(self.config)
        self.max_temperature_c = safety.max_temperature_c
        self.max_heater_duty_percent = safety.max_heater_duty_percent
        self.policy = cfg.sensor_policy(self.config)
        self.heater_pause_s = cfg.heater_pause_s(self.config, hardware.backend().name)
        cfg.thermostat_gains(self.config)  # a bad gain fails the start, not the first decision
        self.reading_interval_s = (READING_INTERVAL_SETTING.parse(reading_interval_s) if reading_interval_s is not None
                                   else cfg.reading_interval_s(self.config))
        self._stuck = StuckDetector(self.policy, self.max_heater_duty_percent)
        self._bad_readings = 0
        self._stopping = threading.Event()
        self._cycle_lock = threading.Lock()
        self._sensor = self.devices.temperature_sensor()  # the kernel closes them after on_disconnected
        self._heater = self.devices.pwm(hardware.HEATER)
        self._heater.set_duty(0.0)
        self.logger.info("reading every %g s (heater off for %g s before each), hard maximum %g °C",
                         self.reading_interval_s, self.heater_pause_s, self.max_temperature_c)

    @classmethod
    def cli_settings(cls) -> list[Setting]:
        return [*super().cli_settings(),
                READING_INTERVAL_SETTING.replace(description="Seconds between temperature readings "
                        "(default: [temperature_automation] reading_interval_s)")]

    # ------------------------------------------------------------------ for automations
    def set_heater_duty(self, percent: float) -> float:
        """Command the heater (0-100 %, clamped to ``max_heater_duty_percent``); returns what was applied.

        While a fault holds the heater off, or the job is stopping, this applies 0. During a
        reading's heater pause the new duty takes effect when the pause ends.
        """
        percent = float(percent)
        if not math.isfinite(percent) or percent < 0:
            raise ValueError(f"heater duty {percent!r} must be a finite number >= 0")
        stopping = self.__dict__.get("_stopping")
        with self._heater_lock:
            held_off = bool(self.fault) or (stopping is not None and stopping.is_set())
            applied = 0.0 if held_off else min(percent, self.max_heater_duty_percent)
            self._commanded = applied
            if not self._pausing:
                self._drive(applied)
            if self.heater_duty_cycle != round(applied, 2):
                self.heater_duty_cycle = round(applied, 2)  # published; the heater gets the unrounded duty
        return applied

    # ------------------------------------------------------------------ the reading cycle
    def on_init_to_ready(self) -> None:
        self._sampling = RepeatedTimer(self.reading_interval_s, self._cycle, run_immediately=True,
                                       name="temperature-reading").start()

    def set_reading_interval_s(self, value: float) -> None:
        self.reading_interval_s = value
        if self._sampling is not None and not self._stopping.is_set():
            self._sampling.cancel()
            self._sampling = RepeatedTimer(value, self._cycle, name="temperature-reading").start()

    def _cycle(self) -> None:
        with self._cycle_lock:
            if self._stopping.is_set():
                return
            try:
                reading = self._read()
                if reading is not None:
                    self._handle(reading)
            except Exception as e:  # noqa: BLE001 - off first, then tell; the next cycle tries again
                self._heater_off_now()
                self.logger.exception("temperature reading cycle failed, heater off: %s", e)
            finally:
                self._end_pause()

    def _read(self) -> Reading | None:
        """One reading, the heater paused first if configured; None when the job stops meanwhile."""
        with self._heater_lock:
            duty_before = self._commanded
            if duty_before > 0 and self.heater_pause_s > 0:
                self._pausing = True
                self._drive(0.0)
        if self._pausing and self._stopping.wait(self.heater_pause_s):
            return None
        samples: list[Any] = []
        for _ in range(self.policy.samples_per_reading):
            try:
                samples.append(self._sensor.read_celsius())
            except Exception as e:  # noqa: BLE001 - a failed read is data about the sensor
                samples.append(e)
        reading = assess(samples, self.policy)
        self._duty_before_reading = duty_before
        return reading

    def _handle(self, reading: Reading) -> None:
        if not reading.ok:
            self._bad_reading(reading)
            return
        celsius = float(reading.celsius)  # type: ignore[arg-type]
        self._bad_readings = 0
        self.latest_temperature_c = celsius
        self.reading_monotonic_s = time.monotonic()
        self.reading_seq += 1
        self.temperature = {"temperature": round(celsius, 4), "timestamp": current_utc_timestamp()}
        if self.max_temperature_c is not None and celsius > self.max_temperature_c:
            self._cut_off(f"{celsius:.2f} °C is above the hard maximum {self.max_temperature_c:g} °C "
                          f"([temperature_automation] max_temperature_c)", {"temperature": celsius})
            return
        stuck = self._stuck.add(celsius, self._duty_before_reading)
        if stuck:
            self._cut_off(stuck, {"temperature": celsius})
            return
        if self.state == READY and not self.fault:
            self._decide()

    def _decide(self) -> None:
        with self._switch_lock:
            automation = self.automation
            if automation is None or self.state != READY:
                return
            event = automation.execute()
        if event is not None:
            self.latest_event = {"event_name": event.event_name, "message": event.message, "data": event.data}
            self.logger.debug("%s: %s", event.event_name, event.message)

    def _bad_reading(self, reading: Reading) -> None:
        self._bad_readings += 1
        self._heater_off_now()
        limit = self.policy.max_bad_readings
        if self._bad_readings >= limit:
            self._cut_off(f"the temperature sensor failed: {self._bad_readings} bad readings in a row "
                          f"(last: {reading.problem})", {"samples": list(map(str, reading.samples))})
        else:
            self.logger.error("bad temperature reading (%d of %d before the heater is locked off), heater off: %s",
                              self._bad_readings, limit, reading.problem)

    # ------------------------------------------------------------------ safety
    def _cut_off(self, reason: str, data: dict[str, Any]) -> None:
        with self._heater_lock:
            self._commanded = 0.0
            self._drive(0.0)
            first = not self.fault
            if first:
                self.fault = reason
            self.heater_duty_cycle = 0.0
        if first:
            self.logger.error("heater cut off: %s. It stays off until the fault is acknowledged "
                              "(publish an empty payload to .../temperature_automation/fault/set).", reason)
            self.latest_event = {"event_name": cfg.CUTOFF_EVENT, "message": reason, "data": data}

    def set_fault(self, value: str) -> None:
        if value.strip():
            self.logger.error("refused fault/set %r: only an empty payload (acknowledge the fault) is accepted",
                              value[:100])
            return
        if self.fault:
            self.logger.info("fault acknowledged (%s): the heater may be driven again", self.fault)
        self._bad_readings = 0
        self._stuck.reset()
        self.fault = ""

    def _heater_off_now(self) -> None:
        with self._heater_lock:
            self._commanded = 0.0
            self._drive(0.0)
            if self.heater_duty_cycle != 0.0:
                self.heater_duty_cycle = 0.0

    def _end_pause(self) -> None:
        with self._heater_lock:
            if self._pausing:
                self._pausing = False
                self._drive(self._commanded)

    def _drive(self, percent: float) -> None:
        heater = self._heater
        if heater is None or heater.closed:
            return
        try:
            heater.set_duty(percent)
        except Exception as e:  # noqa: BLE001 - then try at least to switch it off
            self.logger.error("cannot set the heater to %g %%: %s", percent, e)
            if percent:
                heater.set_duty(0.0)

    # ------------------------------------------------------------------ lifecycle
    def on_sleeping(self) -> None:
        super().on_sleeping()
        self._heater_off_now()

    def on_disconnected(self) -> None:
        stopping = self.__dict__.get("_stopping")
        if stopping is not None:
            stopping.set()
        try:
            if self._heater is not None:
                self._heater_off_now()
                self.logger.info("stopped: heater off")
        finally:
            if self._sampling is not None:
                self._sampling.cancel()
            super().on_disconnected()
