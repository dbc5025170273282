"""The job ``led_automation`` and its automations ``silent`` and ``light_dark_cycle``."""

from __future__ import annotations

import threading
import time
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any

from pioreactor_kernel import hardware
from pioreactor_kernel.automation import Automation, AutomationEvent, AutomationHost
from pioreactor_kernel.settings import InvalidSetting, Setting

from . import AUTOMATION_JOB, CHANNELS
from .channels import LEDError, parse_channel_list


class LEDAutomationHost(AutomationHost):
    """Run a light program: one led automation at a time, switchable live."""

    kind = "led"
    job_name = AUTOMATION_JOB

    def __init__(self, automation_name: str | None = None, **params: Any) -> None:
        self._led_worker = ThreadPoolExecutor(max_workers=1, thread_name_prefix="led-automation")
        self._led_client: Any = None
        self._client_lock = threading.Lock()
        super().__init__(automation_name, **params)

    def set_leds(self, desired: dict[str, float]) -> Future[dict[str, float]]:
        """Ask the LED owner for a change, in this job's LED thread (never in an MQTT callback's thread).

        Changes run in order; the future holds the intensities after, or the :class:`LEDError`.
        """
        return self._led_worker.submit(self._set_now, desired)

    def _set_now(self, desired: dict[str, float]) -> dict[str, float]:
        from .api import LEDClient

        with self._client_lock:
            if self._led_client is None:
                self._led_client = LEDClient(self.unit, self.experiment, source_of_event=self.job_name)
        return self._led_client.set(desired)

    def on_disconnected(self) -> None:
        super().on_disconnected()  # the automation's on_stop queues its last change
        self._led_worker.shutdown(wait=True)
        with self._client_lock:
            if self._led_client is not None:
                self._led_client.close()


class Silent(Automation):
    """Leave the LEDs as they are."""

    automation_name = "silent"

    def execute(self) -> AutomationEvent | None:
        return None


def _default_light_channels() -> tuple[str, ...]:
    """Every channel that is not the IR LED of the hardware map."""
    roles = hardware.hardware_map().leds
    return tuple(c for c in CHANNELS if roles.get(c) != hardware.IR_LED)


class LightDarkCycle(Automation):
    """Lights on at ``light_intensity`` for ``light_duration_hours``, then off for ``dark_duration_hours``, repeated.

    The cycle starts with the light phase when the automation starts; every ``duration`` minutes
    it checks the phase and changes the LEDs at a phase boundary (or when a parameter changes).
    """

    automation_name = "light_dark_cycle"
    host: LEDAutomationHost
    light_intensity: float
    light_duration_hours: float
    dark_duration_hours: float
    channels: str
    parameters = (
        Setting("light_intensity", "float", unit="%", settable=True, minimum=0, maximum=100, default=50.0,
                description="Intensity of the light phase"),
        Setting("light_duration_hours", "float", unit="h", settable=True, minimum=0, maximum=24 * 365,
                default=16.0, description="Hours of light per cycle"),
        Setting("dark_duration_hours", "float", unit="h", settable=True, minimum=0, maximum=24 * 365,
                default=8.0, description="Hours of dark per cycle"),
        Setting("channels", "string", settable=True, default="",
                description="LED channels to drive, e.g. B,C (empty: every channel but the IR LED)"),
    )

    def __init__(self, host: AutomationHost, **params: Any) -> None:
        super().__init__(host, **params)
        try:  # refused here, a bad switch leaves the running automation alone
            self._check_parameters()
        except LEDError as e:
            raise InvalidSetting(f"light_dark_cycle: {e}") from None
        self._decide_lock = threading.Lock()
        self._applied: dict[str, float] = {}
        self._last_error = ""
        self._started = time.monotonic()

    def on_start(self) -> None:
        self._started = time.monotonic()
        threading.Thread(target=self._first_decision, daemon=True).start()  # maybe in an MQTT callback: not here

    def _first_decision(self) -> None:
        event = self.execute()
        if event is not None and self.host.automation is self:
            self.host.latest_event = event.to_dict()

    def _check_parameters(self) -> tuple[str, ...]:
        channels = parse_channel_list(self.channels or "", _default_light_channels())
        if self.light_duration_hours + self.dark_duration_hours <= 0:
            raise LEDError("light_duration_hours + dark_duration_hours must be more than 0")
        return channels

    def is_light(self, now: float | None = None) -> bool:
        hours = ((now if now is not None else time.monotonic()) - self._started) / 3600.0
        on, off = self.light_duration_hours, self.dark_duration_hours
        if off <= 0:
            return True
        if on <= 0:
            return False
        return hours % (on + off) < on

    def execute(self) -> AutomationEvent | None:
        with self._decide_lock:
            if self.host.automation is not self:
                return None  # switched away meanwhile
            try:
                channels = self._check_parameters()
            except LEDError as e:
                return self._error(str(e))
            light = self.is_light()
            value = float(self.light_intensity) if light else 0.0
            desired = dict.fromkeys(channels, value)
            desired.update({c: 0.0 for c in self._applied if c not in channels})  # channels dropped from the list
            if all(self._applied.get(c) == v for c, v in desired.items()):
                return None
            try:
                self.host.set_leds(desired).result(timeout=60)
            except LEDError as e:
                return self._error(f"could not change the LEDs: {e}")
            self._applied, self._last_error = dict(desired), ""
            name = "LightsOn" if value > 0 else "LightsOff"
            return AutomationEvent(name, f"{', '.join(channels)} at {value:g} %",
                                   {"channels": list(channels), "intensity": value})

    def _error(self, message: str) -> AutomationEvent | None:
        if message == self._last_error:
            return None  # said once; it is retried every `duration` minutes
        self._last_error = message
        self.logger.error("light_dark_cycle: %s", message)
        return AutomationEvent("ErrorEvent", message)

    def on_stop(self) -> None:
        """Lights off: a program that stops leaves the culture in the dark, not stuck in its last phase."""
        with self._decide_lock:
            if any(self._applied.values()):
                self.host.set_leds(dict.fromkeys(self._applied, 0.0))  # queued; a stopping host waits for it
            self._applied = {}
