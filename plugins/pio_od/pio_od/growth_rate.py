"""The ``growth_rate_calculating`` job: filtered OD and specific growth rate (1/h) from OD readings.

It listens to ``od_reading/ods`` and ``dosing_events`` (and the vial's volume), feeds the
:class:`~pio_od.estimator.GrowthRateEstimator`, and publishes ``growth_rate``, ``od_filtered``
(normalised: 1.0 is the culture when the estimate started, as on a Pioreactor) and
``growth_rate_std``. Its state is saved in the data dir so that a restart resumes.
"""

from __future__ import annotations

import math
import threading
import time
from typing import Any

from pioreactor_kernel.job import BackgroundJob
from pioreactor_kernel.names import job_topic, unit_topic
from pioreactor_kernel.settings import Setting

from . import messages, names
from .acquisition import ErrorThrottle
from .growth_state import SavedState, StateFile, input_signature, pick_channels

MAX_VOLUME_ML = 1000.0


class GrowthRateCalculator(BackgroundJob):
    """Estimate the culture's specific growth rate (1/h) and filtered OD from od_reading."""

    job_name = names.GROWTH_RATE_CALCULATING
    published_settings = (
        Setting("od_normalization_factor", "float",
                description="the combined reading that od_filtered calls 1.0 (od_reading's units)"),
        Setting("time_scale", "float", description="estimator hours per wall-clock hour ([growth_rate_calculating] time_scale)"),
    )

    @classmethod
    def cli_settings(cls) -> list[Setting]:
        return [Setting("start_fresh", "boolean", default=None,
                        description="ignore the saved estimator state of this experiment and warm up afresh")]

    def __init__(self, start_fresh: bool = False, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        from pioreactor_kernel.config import get_config

        from . import blank as blanks

        config = get_config()
        section, d = names.GROWTH_SECTION, names.GROWTH_DEFAULTS
        self._estimate_lock = threading.Lock()
        self._errors = ErrorThrottle(self.logger)
        self.channels_config = (config.get(section, "channels") or d["channels"]).strip()
        self.use_blank = config.getboolean(section, "use_blank", True)
        scale = config.getfloat(section, "time_scale", 1.0) or 1.0
        if not (math.isfinite(scale) and 1e-3 <= scale <= 1e5):
            raise ValueError(f"[{section}] time_scale = {scale}: use a positive factor (1 on real hardware)")
        self.save_every_s = float(config.getfloat(section, "save_every_s", 30.0) or 30.0)
        self.estimator_overrides = _estimator_overrides(config.section(names.ESTIMATOR_SECTION))
        self.blank = blanks.load(self.experiment) if self.use_blank else None
        self.readings_already_blanked = False
        self.measure_cpu = False  # tests and benchmarks: add this thread's CPU time per reading to cpu_s
        self.cpu_s = 0.0
        self.readings_handled = 0
        self._file = StateFile(self.experiment)
        self._dirty = False
        initial_volume_ml = float(config.getfloat(names.BIOREACTOR_SECTION, "initial_volume_ml", names.DEFAULT_VOLUME_ML)
                                  or names.DEFAULT_VOLUME_ML)
        saved = None if start_fresh else self._file.load(self.logger)
        if saved is not None and saved.time_scale != scale:
            self.logger.info("saved state used time_scale %g, now %g: starting afresh", saved.time_scale, scale)
            saved = None
        wanted = [c.strip() for c in self.channels_config.split(",") if c.strip()]
        if saved is not None and self.channels_config.lower() != "auto" and saved.channels not in ([], wanted):
            self.logger.info("saved state estimated from channels %s, now %s: starting afresh",
                             ",".join(saved.channels), ",".join(wanted))
            saved = None
        self.state_ = saved or SavedState.fresh(scale, initial_volume_ml, self.estimator_overrides)
        if saved is not None:
            est = saved.estimator.estimate
            self.logger.info("resuming the saved estimate of %s (growth rate %s 1/h, last reading %s)",
                             self.experiment, f"{est.growth_rate_per_h:.3f}" if est and est.ready else "not yet",
                             messages.iso_timestamp(saved.last_reading_epoch) if saved.last_reading_epoch else "none")
        self.time_scale = scale
        self.od_normalization_factor = self.state_.factor
        base = unit_topic(self.unit, self.experiment)
        self.subscribe(f"{base}/{names.OD_READING}/{names.ODS}", self._on_ods)
        self.subscribe(f"{base}/{names.DOSING_EVENTS}", self._on_dosing_event)
        self.subscribe(unit_topic(self.unit, self.experiment, *names.CURRENT_VOLUME), self._on_volume)
        self.subscribe(job_topic(self.unit, self.experiment, names.OD_READING, "subtract_blank"), self._on_od_blanking)

    @property
    def estimator(self) -> Any:
        return self.state_.estimator

    # ------------------------------------------------------------------ lifecycle
    def on_ready(self) -> None:
        from pioreactor_kernel.timing import RepeatedTimer

        if getattr(self, "_saver", None) is None:
            self._saver = RepeatedTimer(max(self.save_every_s, 0.05), self._save_if_changed, name="save_estimate").start()

    def on_disconnected(self) -> None:
        saver = getattr(self, "_saver", None)
        if saver is not None:
            saver.cancel()
        self._save_if_changed()

    def _save_if_changed(self) -> None:
        """Write the state when readings changed it: in a timer thread, not in the readings' path."""
        with self._estimate_lock:
            if not self._dirty:
                return
            try:
                self._file.save(self.state_)
                self._dirty = False
                self._errors.clear("save", "the estimator state is saved again")
            except OSError as e:
                self._errors.error("save", "cannot save the estimator state to %s: %s", self._file.path, e)

    # ------------------------------------------------------------------ inputs
    def _on_ods(self, message: Any) -> None:
        started = time.thread_time() if self.measure_cpu else 0.0
        with self._estimate_lock:
            try:
                if self.state == "ready":
                    self._handle_ods(message.payload)
            finally:
                self.readings_handled += 1
        if self.measure_cpu:  # opt-in: reading a thread's CPU clock costs about a tenth of the work
            self.cpu_s += time.thread_time() - started

    def _handle_ods(self, payload: bytes) -> None:
        try:
            reading = messages.decode_ods(payload)
            t_epoch = messages.epoch_seconds(reading.timestamp)
        except ValueError as e:  # msgspec's errors are ValueErrors too
            self._errors.error("decode", "ignoring an unreadable od_reading/ods message: %s", e)
            return
        channels = self._channels(reading.ods)
        if not channels:
            return
        values = []
        for ch in channels:
            r = reading.ods.get(ch)
            if r is None:
                self._errors.error(f"missing{ch}", "od_reading/ods has no channel %s (have: %s): skipping readings "
                                   "until it returns", ch, ", ".join(sorted(reading.ods)) or "none", level=30)
                return
            self._errors.clear(f"missing{ch}", "channel %s is back in od_reading/ods", ch)
            od = float(r.od)
            if not r.calibrated and self.blank is not None and not self.readings_already_blanked:
                od -= self.blank.mean(ch) or 0.0
            if not (math.isfinite(od) and od > 0):
                self._errors.error(f"value{ch}", "channel %s: OD %r (after the blank) cannot feed the estimate: "
                                   "skipping", ch, od, level=30)
                return
            values.append(od)
        combined = math.exp(sum(math.log(v) for v in values) / len(values))
        signature = input_signature(channels, reading.ods)
        st = self.state_
        if st.signature is not None and signature != st.signature:
            self.logger.info("the OD input changed (%s -> %s): starting the estimate afresh", st.signature, signature)
            self.state_ = st = SavedState.fresh(st.time_scale, st.volume_ml, self.estimator_overrides)
        st.signature = signature
        if st.origin_epoch is None:
            st.origin_epoch = t_epoch
        st.last_reading_epoch = t_epoch
        self._dirty = True
        est = st.estimator.update((t_epoch - st.origin_epoch) * st.time_scale, combined)
        if st.factor is None and est.accepted:
            st.factor_samples.append(combined)
            if len(st.factor_samples) >= 3 or est.ready:
                st.factor = sorted(st.factor_samples)[len(st.factor_samples) // 2]
                self.od_normalization_factor = st.factor
        if not est.ready or st.factor is None:
            return
        timestamp = reading.timestamp
        self.publish(names.GROWTH_RATE, messages.growth_rate(est.growth_rate_per_h, timestamp))
        self.publish(names.OD_FILTERED, messages.od_filtered(est.od_filtered / st.factor, timestamp))
        self.publish(names.GROWTH_RATE_STD, messages.growth_rate_std(est.growth_rate_std, timestamp))

    def _channels(self, ods: dict[str, Any]) -> list[str]:
        if self.state_.channels:
            return self.state_.channels
        try:
            channels = pick_channels(self.channels_config, {ch: (str(r.angle), bool(r.calibrated)) for ch, r in ods.items()})
        except ValueError as e:
            self._errors.error("channels", "%s", e)
            return []
        self.logger.info("estimating from channel%s %s", "s" if len(channels) > 1 else "", ", ".join(channels))
        self.state_.channels = channels
        return channels

    def _on_dosing_event(self, message: Any) -> None:
        try:
            event = messages.decode_dosing_event(message.payload)
            t_epoch = messages.epoch_seconds(event.timestamp)
        except ValueError as e:
            self.logger.error("ignoring an unreadable dosing event: %s", e)
            return
        volume = event.volume_change
        if not (0 <= volume < MAX_VOLUME_ML):
            self.logger.error("ignoring dosing event %s with volume_change %r ml: expected 0-%g", event.event, volume,
                              MAX_VOLUME_ML)
            return
        with self._estimate_lock:
            st = self.state_
            if event.event in names.ADDITIONS:
                before, after = st.volume_ml, st.volume_ml + volume
                if volume > 0:
                    origin = st.origin_epoch if st.origin_epoch is not None else t_epoch
                    st.estimator.dilution((t_epoch - origin) * st.time_scale, before, after)
                    st.scale_factor_samples(before / after)
                st.volume_ml = after
                self._dirty = True
            elif event.event in names.REMOVALS:
                st.volume_ml = max(st.volume_ml - volume, 0.1)
                self._dirty = True
            else:
                self.logger.warning("unknown dosing event %r (expected %s): ignored", event.event,
                                    ", ".join(names.ADDITIONS + names.REMOVALS))

    def _on_volume(self, message: Any) -> None:
        try:
            volume = messages.parse_volume(message.payload)
        except (ValueError, UnicodeDecodeError):
            if message.payload:
                self.logger.error("ignoring bioreactor/current_volume_ml %r: not a number", bytes(message.payload[:80]))
            return
        if not (0 < volume < MAX_VOLUME_ML):
            self.logger.error("ignoring bioreactor/current_volume_ml %r: expected 0-%g ml", volume, MAX_VOLUME_ML)
            return
        with self._estimate_lock:
            self.state_.volume_ml = volume
            self._dirty = True

    def _on_od_blanking(self, message: Any) -> None:
        self.readings_already_blanked = message.payload.decode(errors="replace").strip() in ("1", "true", "True")


def _estimator_overrides(section: dict[str, str]) -> dict[str, Any]:
    """``[growth_rate_calculating.estimator]`` keys as EstimatorConfig overrides (numbers)."""
    from dataclasses import fields

    from .estimator import EstimatorConfig

    known = {f.name: f for f in fields(EstimatorConfig)}
    out: dict[str, Any] = {}
    for key, raw in section.items():
        if key not in known:
            raise ValueError(f"[{names.ESTIMATOR_SECTION}] {key}: unknown (known: {', '.join(sorted(known))})")
        try:
            value = float(raw)
        except ValueError:
            raise ValueError(f"[{names.ESTIMATOR_SECTION}] {key} = {raw!r} is not a number") from None
        default = getattr(EstimatorConfig(), key)
        out[key] = int(value) if isinstance(default, int) and not isinstance(default, bool) else value
    return out

