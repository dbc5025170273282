"""The job ``leds``: the one long-lived process that holds lit LED channels, so that they stay lit.

An output under the kernel's lease is on only while a live process renews it; the action
``led_intensity`` exits at once. So every change goes to this job (over MQTT, see
:mod:`pio_led.api`), which opens a channel when it is set above 0 and closes it (off, released
for others) when it is set to 0. It publishes every change at ``led_change_events`` and keeps the
current intensities retained at ``.../leds/intensity``.
"""

from __future__ import annotations

import json
import threading
import time
from collections import deque
from typing import Any

from pioreactor_kernel import hardware
from pioreactor_kernel.config import get_config
from pioreactor_kernel.job import BackgroundJob
from pioreactor_kernel.mqtt import retained_value
from pioreactor_kernel.names import DISCONNECTED, READY, job_topic, unit_topic
from pioreactor_kernel.settings import Setting
from pioreactor_kernel.timestamps import current_utc_timestamp
from pioreactor_kernel.timing import RepeatedTimer

from . import CHANGE_REQUEST, CHANGE_RESULT, CHANNELS, INTENSITY, LED_CHANGE_EVENTS, OWNER_JOB
from .channels import LEDError, parse_intensities


class OwnerStopping(LEDError):
    """This owner is on its way out: the requester should start another and ask again."""


class LEDOwner(BackgroundJob):
    """Hold the lit LED channels (A-D) for led_intensity and led_automation; started on demand by them."""

    job_name = OWNER_JOB
    published_settings = (
        Setting(INTENSITY, "json", unit="%", settable=True, persist=True,
                description='Every channel\'s intensity, e.g. {"A": 0, "B": 50, "C": 0, "D": 0}; '
                            'set a part of it: {"B": 20}'),
    )

    @classmethod
    def cli_settings(cls) -> list[Setting]:
        return []  # changes come through led_intensity, not start options

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self._leds_lock = threading.RLock()
        self._lit: dict[str, hardware.LED] = {}  # channels this process holds (all above 0)
        self._asleep: dict[str, float] = {}  # what to restore on waking
        self._stopping = False
        self._own_events: deque[tuple[str, str]] = deque(maxlen=64)  # (channel, timestamp) we published
        roles = hardware.hardware_map().leds
        self.roles = {c: roles.get(c, "") for c in CHANNELS}
        self.intensity = self._initial_intensities()
        self.subscribe(job_topic(self.unit, self.experiment, self.job_name, CHANGE_REQUEST), self._on_change_request)
        self.subscribe(unit_topic(self.unit, self.experiment, LED_CHANGE_EVENTS), self._on_foreign_event)
        self.idle_exit_s = get_config().getfloat("leds", "idle_exit_s", 60.0) or 0.0
        self._last_activity = time.monotonic()
        self._housekeeping = RepeatedTimer(1.0, self._housekeep, name="leds-housekeeping").start()

    def _initial_intensities(self) -> dict[str, float]:
        """All off, except channels another process holds: those keep the last value published."""
        previous: dict[str, Any] = {}
        raw = retained_value(self.client, job_topic(self.unit, self.experiment, self.job_name, INTENSITY))
        if raw:
            try:
                previous = json.loads(raw)
            except ValueError:
                previous = {}
        out = {}
        for channel in CHANNELS:
            held = hardware.holder_of("led", channel) is not None
            value = previous.get(channel, 0.0) if held else 0.0
            out[channel] = float(value) if isinstance(value, int | float) else 0.0
        return out

    # ------------------------------------------------------------------ changes
    def change(self, desired: Any, source_of_event: str) -> dict[str, float]:
        """Apply ``{"B": 50, ...}``: all of it, or (an error on any channel) none of it."""
        wanted = parse_intensities(desired)
        with self._leds_lock:
            if self._stopping or self.state == DISCONNECTED:
                raise OwnerStopping(f"the {self.job_name} job is stopping")
            self._last_activity = time.monotonic()
            if self.state != READY:
                raise LEDError(f"the {self.job_name} job is {self.state}: wake it (`$state/set ready`) first")
            opened: list[str] = []
            try:
                for channel, value in wanted.items():
                    if channel in self._lit:
                        continue
                    self._check_free(channel)
                    if value > 0:
                        self._lit[channel] = hardware.open_led(channel, owner=self.job_name)
                        opened.append(channel)
            except (LEDError, hardware.HardwareError) as e:
                for channel in opened:
                    self._lit.pop(channel).close()
                raise LEDError(str(e)) from None
            changed = {}
            for channel, value in wanted.items():
                led = self._lit.get(channel)
                if value > 0 and led is not None:
                    led.set_intensity(value)
                elif led is not None:
                    self._lit.pop(channel).close()  # off, and free for another process
                if self.intensity.get(channel) != value:
                    changed[channel] = value
            self.intensity = {**self.intensity, **wanted}
            self._publish_events(changed, source_of_event)
            return dict(self.intensity)

    def _check_free(self, channel: str) -> None:
        holder = hardware.holder_of("led", channel)
        if holder is None:
            return
        role = self.roles.get(channel)
        what = f"LED channel {channel}" + (" (the IR LED used by OD readings)" if role == hardware.IR_LED else "")
        raise LEDError(f"{what} is held by {holder.owner} (pid {holder.pid}): it cannot be changed while "
                       f"{holder.owner} runs; stop it first (`pio kill {holder.owner}`)")

    def _publish_events(self, changed: dict[str, float], source_of_event: str) -> None:
        for channel, value in changed.items():
            timestamp = current_utc_timestamp()
            event = {"channel": channel, "intensity": value, "source_of_event": source_of_event, "timestamp": timestamp}
            self._own_events.append((channel, timestamp))
            self.publish_unit_topic(LED_CHANGE_EVENTS, json.dumps(event))
        if changed:
            self.logger.info("LEDs %s (%s)", ", ".join(f"{c} {v:g} %" for c, v in changed.items()), source_of_event)

    def set_intensity(self, value: Any) -> None:
        """``.../leds/intensity/set`` with a JSON object of channels, e.g. ``{"B": 20}``."""
        try:
            self.change(value, source_of_event="mqtt")
        except LEDError as e:
            self.logger.error("refused intensity/set %s: %s", json.dumps(value)[:100], e)

    def _on_change_request(self, message: Any) -> None:
        request_id = None
        try:
            request = json.loads(message.payload)
            if not isinstance(request, dict):
                raise LEDError("a change request is a JSON object {\"request_id\", \"intensities\", \"source_of_event\"}")
            request_id = request.get("request_id")
            source = request.get("source_of_event") or "unknown"
            if not isinstance(source, str):
                raise LEDError(f"source_of_event must be text, got {source!r}")
            result = {"request_id": request_id, "ok": True, "intensities": self.change(request.get("intensities"), source),
                      "error": None}
        except OwnerStopping as e:
            result = {"request_id": request_id, "ok": False, "intensities": dict(self.intensity), "error": str(e),
                      "retry": True}
        except (ValueError, UnicodeDecodeError, LEDError) as e:
            error = str(e) if isinstance(e, LEDError) else f"not a JSON change request: {e}"
            self.logger.error("refused LED change: %s", error)
            result = {"request_id": request_id, "ok": False, "intensities": dict(self.intensity), "error": error}
        self.publish(CHANGE_RESULT, json.dumps(result))

    def _on_foreign_event(self, message: Any) -> None:
        """Another process that drives a channel itself (od_reading, the IR LED) reports it: keep it known."""
        try:
            event = json.loads(message.payload)
            channel, value = event["channel"], float(event["intensity"])
        except (ValueError, KeyError, TypeError):
            return
        with self._leds_lock:
            if (channel, event.get("timestamp")) in self._own_events:
                return  # our own, maybe arriving after a newer change
            if channel in CHANNELS and channel not in self._lit and self.intensity.get(channel) != value:
                self.intensity = {**self.intensity, channel: value}

    def _housekeep(self) -> None:
        """Let go of channels the watchdog switched off; exit when nothing has been lit for a while."""
        with self._leds_lock:
            self._check_revoked()
            idle = not self._lit and not self._asleep and time.monotonic() - self._last_activity > self.idle_exit_s
            if self.idle_exit_s > 0 and idle and self.state == READY and not self._stopping:
                self.logger.info("no LED lit for %g s: exiting ([leds] idle_exit_s)", self.idle_exit_s)
                self._stopping = True  # from now on changes are answered "retry" (the API starts a new owner)
                threading.Thread(target=self.clean_up, daemon=True).start()

    def _check_revoked(self) -> None:
        """The watchdog switched a channel off (this process hung): say so, and let the channel go."""
        with self._leds_lock:
            for channel, led in list(self._lit.items()):
                if led.revoked:
                    self._lit.pop(channel).close()
                    self.intensity = {**self.intensity, channel: 0.0}
                    self._publish_events({channel: 0.0}, "watchdog")

    # ------------------------------------------------------------------ lifecycle
    def on_sleeping(self) -> None:
        with self._leds_lock:
            self._asleep = {c: self.intensity[c] for c in self._lit}
            for channel in list(self._lit):
                self._lit.pop(channel).close()
            self.intensity = {**self.intensity, **dict.fromkeys(self._asleep, 0.0)}
            self._publish_events(dict.fromkeys(self._asleep, 0.0), self.job_name)

    def on_sleeping_to_ready(self) -> None:
        if self._asleep:
            restore, self._asleep = self._asleep, {}
            threading.Thread(target=self._restore, args=(restore,), daemon=True).start()

    def _restore(self, restore: dict[str, float]) -> None:
        try:
            self.change(restore, source_of_event=self.job_name)
        except LEDError as e:
            self.logger.error("could not restore the LEDs after waking: %s", e)

    def on_disconnected(self) -> None:
        self._housekeeping.cancel()
        with self._leds_lock:
            self._stopping = True
            off = {c: 0.0 for c in self._lit}
            for channel in list(self._lit):
                self._lit.pop(channel).close()
            self.intensity = {**self.intensity, **off}
            self._publish_events(off, self.job_name)
