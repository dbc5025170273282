"""The ``od_reading`` job: read the photodiodes every ``interval`` seconds and publish OD per channel.

Each reading: dark samples, IR LED on, oversampled photodiodes (robust mean), LED off; dark
subtraction and reference normalisation (see :mod:`.acquisition`); then the active OD
calibration of the channel's angle, if any (``calibrated`` 1, OD600), else the raw signal.
"""

from __future__ import annotations

import json
import threading
from typing import Any

from pioreactor_kernel.job import BackgroundJob
from pioreactor_kernel.settings import Setting

from . import messages, names
from .acquisition import ErrorThrottle, ODHardware, SamplingOptions
from .calibration import ODCurve


class ODReader(BackgroundJob):
    """Read optical density: IR LED on only while sampling, every channel of the hardware map."""

    job_name = names.OD_READING
    published_settings = (
        Setting("interval", "float", unit="s", settable=True, minimum=0.05, maximum=3600.0,
                description="seconds between readings (default [od_reading] interval_s)"),
        Setting("ir_led_intensity", "float", unit="%", settable=True, minimum=0.5, maximum=100.0,
                description="IR LED intensity while sampling (default [od_reading] ir_led_intensity)"),
        Setting("subtract_blank", "boolean", settable=True,
                description="publish readings minus the experiment's blank (see od_blank)"),
    )

    def __init__(self, interval: float | None = None, ir_led_intensity: float | None = None,
                 subtract_blank: bool | None = None, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        from pioreactor_kernel.config import get_config

        from . import blank as blanks

        config = get_config()
        section, d = names.OD_SECTION, names.OD_DEFAULTS

        def number(key: str) -> float:
            return float(config.getfloat(section, key, float(d[key])))  # type: ignore[arg-type]

        self._errors = ErrorThrottle(self.logger)
        self._reading_lock = threading.Lock()
        self.hw = ODHardware(self.job_name, SamplingOptions.from_config(config), logger=self.logger)
        self.curves = self._load_calibrations(config.get(section, "out_of_range") or d["out_of_range"])
        self.blank = blanks.load(self.experiment)
        self._out_of_range: dict[str, str] = {}
        self._stirring = _StirringPauser(self, config) if config.getboolean(section, "pause_stirring") else None
        self.readings_published = 0
        self.interval = float(interval if interval is not None else number("interval_s"))
        self.ir_led_intensity = float(ir_led_intensity if ir_led_intensity is not None else number("ir_led_intensity"))
        self.subtract_blank = bool(subtract_blank if subtract_blank is not None
                                   else config.getboolean(section, "subtract_blank"))
        if self.subtract_blank and self.blank is None:
            self.logger.warning("subtract_blank is on, but experiment %s has no blank: run `pio run od_blank` "
                                "with media only; publishing raw readings until then", self.experiment)
        self._timer: Any = None
        self.logger.info("reading channels %s every %g s (signal in %s)",
                         ", ".join(f"{c} ({a})" for c, a in self.hw.angles.items()), self.interval, self.hw.chain.unit)

    def _load_calibrations(self, mode: str) -> dict[str, ODCurve]:
        from pioreactor_kernel import calibrations

        curves: dict[str, ODCurve] = {}
        for ch, angle in self.hw.angles.items():
            device = names.calibration_device(angle)
            try:
                cal = calibrations.active(device)
                if cal is None:
                    continue
                curves[ch] = ODCurve(cal, mode)
            except ValueError as e:  # CalibrationError, a bad curve, a bad mode
                self.logger.error("channel %s: not using the calibration of %s: %s", ch, device, e)
                continue
            unit = cal.meta.get("signal_unit")
            if unit and unit != self.hw.chain.unit:
                self.logger.warning("calibration %s was made with signals in %s, readings are now in %s "
                                    "(was the REF photodiode remapped?): recalibrate", cal.name, unit, self.hw.chain.unit)
            self.logger.info("channel %s: calibrated by %s (OD600 %.3g-%.3g)", ch, cal.name,
                             min(cal.recorded_y), max(cal.recorded_y))
        return curves

    # ------------------------------------------------------------------ lifecycle
    def on_ready(self) -> None:
        if self._timer is None:
            self._start_timer(run_immediately=True)
        else:
            self._timer.unpause()

    def on_sleeping(self) -> None:
        if self._timer is not None:
            self._timer.pause()

    def on_disconnected(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
        with self._reading_lock:  # a reading in progress finishes (and switches the LED off) first
            if self._stirring is not None:
                self._stirring.resume()
            self.hw.close()

    def set_interval(self, value: float) -> None:
        self.interval = float(value)
        if self._timer is not None:
            self._timer.cancel()
            self._start_timer(run_immediately=False)
            if self.state == "sleeping":
                self._timer.pause()

    def set_subtract_blank(self, value: bool) -> None:
        from . import blank as blanks

        with self._reading_lock:
            self.blank = blanks.load(self.experiment)
            self.subtract_blank = bool(value)
        if value and self.blank is None:
            self.logger.warning("subtract_blank is on, but experiment %s has no blank: publishing raw readings "
                                "(measure one with `pio run od_blank`)", self.experiment)

    def _start_timer(self, run_immediately: bool) -> None:
        from pioreactor_kernel.timing import RepeatedTimer

        self._timer = RepeatedTimer(self.interval, self.record_reading, run_immediately=run_immediately,
                                    name="od_reading").start()

    # ------------------------------------------------------------------ readings
    def record_reading(self) -> dict[str, dict[str, object]] | None:
        """Take one reading and publish it; returns the readings published (None if none)."""
        with self._reading_lock:
            if self.state == "disconnected":
                return None
            try:
                if self._stirring is not None:
                    self._stirring.pause()
                reading = self.hw.read(self.ir_led_intensity)
            except Exception as e:  # noqa: BLE001 - the next reading may work: log, never crash
                self._errors.error("reading", "reading failed: %s", e)
                return None
            finally:
                if self._stirring is not None:
                    self._stirring.resume()
            self._errors.clear("reading", "readings work again")
        for ch in self.hw.angles:
            if ch in reading.errors:
                self._errors.error(f"ch{ch}", "channel %s (%s): no reading: %s", ch, self.hw.angles[ch], reading.errors[ch])
            elif ch in reading.signals:
                self._errors.clear(f"ch{ch}", "channel %s reads again", ch)
        if not reading.signals:
            return None
        timestamp = messages.iso_timestamp(reading.t)
        out: dict[str, dict[str, object]] = {}
        flags: dict[str, dict[str, object]] = {}
        for ch, signal in reading.signals.items():
            od, name = self._od(ch, signal, flags)
            out[ch] = messages.od_reading(timestamp, ch, self.hw.angles[ch], od, self.ir_led_intensity, name)
        for ch, payload in out.items():
            self.publish(names.od_suffix(ch), json.dumps(payload))
        self.publish(names.ODS, messages.ods(timestamp, out))
        if flags:
            self.publish(names.OUT_OF_RANGE, json.dumps({"timestamp": timestamp, "channels": flags}))
        self.readings_published += 1
        return out

    def _od(self, ch: str, signal: float, flags: dict[str, dict[str, object]]) -> tuple[float, str | None]:
        blank = self.blank.mean(ch) if (self.subtract_blank and self.blank is not None) else None
        curve = self.curves.get(ch)
        if curve is None:
            return (signal - blank if blank is not None else signal), None
        value = curve(signal)
        od = value.od - (curve(blank).od if blank is not None else 0.0)
        previous = self._out_of_range.get(ch)
        if value.out_of_range:
            flags[ch] = {"od": od, "signal": signal, "side": value.out_of_range,
                         "calibrated_signal_range": [curve.lo, curve.hi]}
            if previous != value.out_of_range:
                self.logger.warning("channel %s: signal %.4g is outside %s's standards (%.4g-%.4g): OD600 %s "
                                    "the calibrated range, %s", ch, signal, curve.name, curve.lo, curve.hi,
                                    value.out_of_range, "extrapolated" if curve.mode == "extrapolate" else "clamped")
                self._out_of_range[ch] = value.out_of_range
        elif previous:
            self.logger.info("channel %s: back inside the calibrated range", ch)
            del self._out_of_range[ch]
        return od, curve.name


class _StirringPauser:
    """Asks ``stirring`` to stop the motor for a reading (the protocol of docs/stirring.md)."""

    def __init__(self, job: ODReader, config: Any):
        from pioreactor_kernel.names import job_topic

        self.job = job
        self.settle_s = float(config.getfloat(names.OD_SECTION, "stirring_settle_s", 1.0) or 0.0)
        if not 0 <= self.settle_s <= 5:
            raise ValueError(f"[od_reading] stirring_settle_s = {self.settle_s}: use 0-5 s")
        self.ack_timeout_s = 2.0
        self.running = False
        self.requested = False
        self.paused = threading.Event()
        base = job_topic(job.unit, job.experiment, "stirring")
        self.request_topic = f"{base}/pause_request"
        job.subscribe(f"{base}/$state", self._on_state)
        job.subscribe(f"{base}/paused", self._on_paused)

    def _on_state(self, message: Any) -> None:
        self.running = message.payload.decode(errors="replace") == "ready"

    def _on_paused(self, message: Any) -> None:
        if message.payload.decode(errors="replace").strip() in ("1", "true"):
            self.paused.set()
        else:
            self.paused.clear()

    def pause(self) -> None:
        if not self.running:
            return
        import time

        duration = self.settle_s + self.ack_timeout_s + 2.0
        self.paused.clear()
        self.requested = True
        self.job.client.publish(self.request_topic, json.dumps({"requester": names.OD_READING, "duration_s": duration}))
        if self.paused.wait(self.ack_timeout_s):
            time.sleep(self.settle_s)
        else:
            self.job.logger.debug("stirring did not acknowledge the pause within %g s", self.ack_timeout_s)

    def resume(self) -> None:
        if self.requested:
            self.requested = False
            self.job.client.publish(self.request_topic, json.dumps({"requester": names.OD_READING, "duration_s": 0}))
