"""The ``stirring`` job: hold ``target_rpm`` with a PI loop on the tachometer, fed forward by the calibration."""

from __future__ import annotations

import json
import math
import threading
import time
from typing import Any

from pioreactor_kernel import hardware
from pioreactor_kernel.config import get_config
from pioreactor_kernel.job import BackgroundJob
from pioreactor_kernel.names import READY, job_topic
from pioreactor_kernel.settings import InvalidSetting, Setting
from pioreactor_kernel.timestamps import current_utc_timestamp
from pioreactor_kernel.timing import RepeatedTimer

from . import (
    CALIBRATION_DEVICE,
    CLOSED_LOOP,
    CONFIG_SECTION,
    DUTY_CYCLE,
    JOB_NAME,
    MEASURED_RPM,
    OPEN_LOOP,
    PAUSE_REQUEST,
    PAUSED,
    RPM_CONTROL,
    TARGET_RPM,
)
from .controller import LaggedReference, PIController, RpmMeter, ramp_towards
from .curve import RpmCurve

MAX_TARGET_RPM = 2000.0

TARGET = Setting(TARGET_RPM, "float", unit="RPM", settable=True, minimum=0, maximum=MAX_TARGET_RPM,
                 description="The stirring speed to hold (0 stops the motor)")


class Stirring(BackgroundJob):
    """Stir at a target RPM: a PI loop on the tachometer, started from the stirring calibration."""

    job_name = JOB_NAME
    published_settings = (
        TARGET,
        Setting(MEASURED_RPM, "json", unit="RPM", description='{"measured_rpm": <RPM>, "timestamp": "...Z"}'),
        Setting(DUTY_CYCLE, "float", unit="%", minimum=0, maximum=100, description="The motor's PWM duty cycle now"),
        Setting(PAUSED, "boolean", description="1 while another job's pause request holds the motor off"),
        Setting(RPM_CONTROL, "string", choices=(CLOSED_LOOP, OPEN_LOOP),
                description="closed_loop (tachometer feedback) or open_loop (calibration only)"),
    )

    @classmethod
    def cli_settings(cls) -> list[Setting]:
        default = _config_float(get_config(), TARGET_RPM, 500.0)
        return [TARGET.replace(default=default, description=f"{TARGET.description}; default from [stirring] target_rpm")]

    def __init__(self, target_rpm: float | None = None, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        config = get_config()
        value = lambda key, fallback: _config_float(config, key, fallback)  # noqa: E731
        self.control_interval_s = value("control_interval_s", 1.0)
        self.publish_interval_s = value("publish_interval_s", 5.0)
        self.ramp_rpm_per_s = value("ramp_rpm_per_s", 100.0)
        self.max_duty = min(100.0, value("max_duty_cycle", 100.0))
        self.max_pause_s = value("max_pause_s", 10.0)
        window_s = value("rpm_window_s", 2.0)
        self.settle_s = window_s + 1.0  # after a pause: the window refills with the motor back up
        # the measurement shows the setpoint of this long ago: half the window, half a tick, the motor
        self.reference = LaggedReference(window_s / 2 + self.control_interval_s / 2 +
                                         value("motor_time_constant_s", 1.0))
        self.controller = PIController(value("kp", 0.3), value("ki_per_s", 0.3))
        self.meter = RpmMeter(window_s, value("pulses_per_revolution", 2.0))

        self.target_rpm = TARGET.parse(_config_float(config, TARGET_RPM, 500.0) if target_rpm is None else target_rpm)
        self.curve = self._load_curve(config)
        self._loop_lock = threading.RLock()
        self._pauses: dict[str, float] = {}  # requester -> monotonic end
        self._resume_timer: threading.Timer | None = None
        self._setpoint_rpm = 0.0
        self._hold_until = 0.0
        self._last_tick: float | None = None
        self._last_publish = -math.inf
        self._stall_since: float | None = None
        self._stall_warned = False
        self._duty = 0.0
        self.duty_cycle = 0.0
        self.paused = False
        self.measured_rpm: dict[str, Any] | None = None

        self.motor = self.devices.pwm(hardware.STIRRING)
        self.tachometer = self._open_tachometer(config)
        self.rpm_control = CLOSED_LOOP if self.tachometer is not None else OPEN_LOOP
        self.subscribe([job_topic(unit, self.experiment, self.job_name, PAUSE_REQUEST) for unit in (self.unit, "$broadcast")],
                       self._on_pause_request)
        self.timer = RepeatedTimer(self.control_interval_s, self._tick, run_immediately=True, name="stirring-control")
        self.logger.info("stirring at %g RPM (%s, feed-forward from the %s)", self.target_rpm,
                         self.rpm_control.replace("_", " "), self.curve.source)

    # ------------------------------------------------------------------ start-up
    def _load_curve(self, config: Any) -> RpmCurve:
        from pioreactor_kernel import calibrations

        try:
            calibration = calibrations.active(CALIBRATION_DEVICE)
            if calibration is not None:
                return RpmCurve.from_calibration(calibration, self.max_duty)
        except (calibrations.CalibrationError, ValueError) as e:
            self.logger.error("ignoring the stirring calibration: %s", e)
        slope = _config_float(config, "uncalibrated_rpm_per_duty", 30.0)
        stall = _config_float(config, "uncalibrated_stall_duty", 10.0)
        self.logger.warning("no stirring calibration: starting from a guess (%g RPM per %% above %g %%); "
                            "run `pio calibrate stirring` for a better start", slope, stall)
        return RpmCurve.linear_guess(slope, stall, self.max_duty)

    def _open_tachometer(self, config: Any) -> Any:
        if not config.getboolean(CONFIG_SECTION, "tachometer", True):
            self.logger.warning("no tachometer ([stirring] tachometer = false): running open loop from the %s; "
                                "measured_rpm is not published", self.curve.source)
            return None
        try:
            return self.devices.edge_counter(hardware.TACHOMETER)
        except hardware.HardwareError as e:
            self.logger.warning("the tachometer cannot be opened (%s): running open loop from the %s", e,
                                self.curve.source)
            return None

    def on_ready(self) -> None:
        if not self.timer.is_alive:
            self.timer.start()

    # ------------------------------------------------------------------ the loop
    def _tick(self) -> None:
        with self._loop_lock:
            if self.state != READY:
                return
            now = time.monotonic()
            rpm = self._measure(now)
            dt = 0.0 if self._last_tick is None else now - self._last_tick
            self._last_tick = now
            if self._pauses:
                return  # motor off; the integral holds
            target = self.target_rpm
            setpoint = ramp_towards(self._setpoint_rpm, target, self.ramp_rpm_per_s, dt or self.control_interval_s)
            self._setpoint_rpm = setpoint
            lagged = self.reference.add(now, setpoint)
            if target <= 0:
                self.controller.reset()
                self._setpoint_rpm = 0.0
                self.reference.reset(0.0)
                self._drive(0.0)
                return
            ahead = setpoint - lagged  # feed-forward runs ahead of what the tachometer can show yet
            if rpm is not None and now >= self._hold_until and dt > 0:
                low, high = self.curve.rpm_limits
                wanted = self.controller.update(lagged, rpm, dt, (low - ahead, high - ahead)) + ahead
            else:  # open loop, or just back from a pause: feed-forward plus the correction learnt so far
                wanted = setpoint + self.controller.integral_rpm
            self._drive(self.curve.duty_for(wanted))
            self._watch_for_stall(now, rpm, target)

    def _measure(self, now: float) -> float | None:
        if self.tachometer is None:
            return None
        try:
            rpm = self.meter.add(now, self.tachometer.count())
        except hardware.HardwareError as e:
            self.logger.error("reading the tachometer failed: %s", e)
            return None
        if rpm is not None and now - self._last_publish >= self.publish_interval_s - 1e-6:
            self._last_publish = now
            self.measured_rpm = {"measured_rpm": round(rpm, 1), "timestamp": current_utc_timestamp()}
        return rpm

    def _drive(self, duty: float) -> None:
        duty = round(min(self.max_duty, max(0.0, duty)), 2)
        if duty != self._duty or self.motor.revoked:
            self.motor.set_duty(duty)
            self._duty = duty
        if round(duty, 1) != self.duty_cycle:
            self.duty_cycle = round(duty, 1)

    def _watch_for_stall(self, now: float, rpm: float | None, target: float) -> None:
        stalled = rpm is not None and self._duty >= self.max_duty and rpm < 0.5 * target
        if not stalled:
            self._stall_since = None
            return
        if self._stall_since is None:
            self._stall_since = now
        elif now - self._stall_since > 10 and not self._stall_warned:
            self._stall_warned = True
            self.logger.warning("the motor is at %g %% duty but the tachometer reads %.0f RPM (target %g): "
                                "is the stir bar stuck or the tachometer disconnected?", self._duty, rpm, target)

    # ------------------------------------------------------------------ settings
    def set_target_rpm(self, value: float) -> None:
        with self._loop_lock:
            if value <= 0:
                self.controller.reset()
            self.target_rpm = value
        self.logger.info("target_rpm set to %g RPM", value)

    # ------------------------------------------------------------------ pause requests (docs/stirring.md)
    def _on_pause_request(self, message: Any) -> None:
        try:
            requester, duration_s = self._parse_pause(message.payload)
        except ValueError as e:
            self.logger.error("refused pause_request %r: %s", bytes(message.payload)[:100], e)
            return
        with self._loop_lock:
            if self.state != READY and duration_s > 0:
                self.logger.debug("pause from %s ignored: stirring is %s", requester, self.state)
                return
            if duration_s == 0:
                self._pauses.pop(requester, None)
            else:
                self._pauses[requester] = time.monotonic() + duration_s
            self._apply_pauses()

    def _parse_pause(self, payload: bytes) -> tuple[str, float]:
        try:
            request = json.loads(payload)
        except (ValueError, UnicodeDecodeError):
            raise ValueError('not JSON; expected {"requester": "<job>", "duration_s": <seconds>}') from None
        if not isinstance(request, dict):
            raise ValueError('expected a JSON object {"requester": "<job>", "duration_s": <seconds>}')
        requester = request.get("requester")
        if not isinstance(requester, str) or not requester.strip():
            raise ValueError("requester must be a non-empty name (the requesting job)")
        duration_s = request.get("duration_s")
        if isinstance(duration_s, bool) or not isinstance(duration_s, int | float) or not math.isfinite(duration_s):
            raise ValueError(f"duration_s must be a finite number of seconds, got {duration_s!r}")
        if not 0 <= duration_s <= self.max_pause_s:
            raise ValueError(f"duration_s {duration_s} is outside 0..{self.max_pause_s:g} s ([stirring] max_pause_s)")
        return requester.strip(), float(duration_s)

    def _apply_pauses(self) -> None:
        """Under the lock: drop expired pauses; motor off while any is active, back to its duty after."""
        now = time.monotonic()
        self._pauses = {r: end for r, end in self._pauses.items() if end > now}
        if self._resume_timer is not None:
            self._resume_timer.cancel()
            self._resume_timer = None
        if self._pauses:
            if not self.paused:
                self._duty_before_pause = self._duty
                self._drive(0.0)
                self.paused = True
            self._resume_timer = threading.Timer(max(self._pauses.values()) - now, self._resume)
            self._resume_timer.daemon = True
            self._resume_timer.start()
        elif self.paused:
            self.paused = False
            if self.state == READY:
                self._drive(self._duty_before_pause)
                self._hold_until = now + self.settle_s  # let the meter see the motor back up

    def _resume(self) -> None:
        with self._loop_lock:
            if self.state != "disconnected":
                self._apply_pauses()

    # ------------------------------------------------------------------ lifecycle
    def on_sleeping(self) -> None:
        with self._loop_lock:
            self.timer.pause()
            self._pauses.clear()
            self._apply_pauses()
            self._drive(0.0)
            self._setpoint_rpm = 0.0
            self.reference.reset(0.0)
            self._last_tick = None
            self.meter.reset()
        self.logger.info("sleeping: motor off")

    def on_sleeping_to_ready(self) -> None:
        with self._loop_lock:
            self.timer.unpause()
        self.logger.info("resuming at %g RPM", self.target_rpm)

    def on_disconnected(self) -> None:
        with self._loop_lock:
            if self._resume_timer is not None:
                self._resume_timer.cancel()
        self.timer.cancel()
        with self._loop_lock:
            try:
                self.devices.close()  # the motor's duty goes to 0 first
            finally:
                self._duty = 0.0
                self.duty_cycle = 0.0


def _config_float(config: Any, key: str, fallback: float) -> float:
    value = config.getfloat(CONFIG_SECTION, key, fallback)
    if value is None or not math.isfinite(value):
        raise InvalidSetting(f"[stirring] {key} = {value!r} is not a finite number")
    return float(value)
