"""The devices a job holds: backend drivers wrapped in channel ownership and, for outputs, a lease."""

from __future__ import annotations

import logging
import math
import threading
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from .ownership import ChannelLock, acquire, channel_key
from .protocols import HardwareError

if TYPE_CHECKING:
    from .context import HardwareContext

logger = logging.getLogger("pioreactor.hardware")


class Device:
    """One open channel. Closing it (or the process dying) frees the channel for another process."""

    kind = ""

    def __init__(self, ctx: HardwareContext, channel: str, role: str, driver: Any, lock: ChannelLock):
        self._ctx, self.channel, self.role, self._driver, self._lock = ctx, channel, role, driver, lock
        self.key = channel_key(self.kind, channel)

    @classmethod
    def open(cls, ctx: HardwareContext, channel: str, role: str, owner: str | None,
             open_driver: Callable[[], Any]) -> Any:
        lock = acquire(cls.kind, channel, owner=owner, role=role, directory=ctx.directory)
        try:
            driver = open_driver()
        except BaseException:
            lock.release()
            raise
        return cls(ctx, channel, role, driver, lock)

    @property
    def closed(self) -> bool:
        return not self._lock.held

    def _check_open(self) -> None:
        if self.closed:
            raise HardwareError(f"{self.kind.upper()} channel {self.channel} ({self.role or 'unassigned'}) is closed")

    def close(self) -> None:
        if self.closed:
            return
        try:
            self._driver.close()
        finally:
            self._lock.release()

    def __enter__(self) -> Any:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.kind} channel {self.channel} ({self.role or 'unassigned'})>"


class Output(Device):
    """An output under a lease: on only while this process lives and renews it (see ``leases``)."""

    def __init__(self, *args: Any) -> None:
        super().__init__(*args)
        self.value = 0.0
        self.revoked = False  # set when the watchdog switched us off (we hung); the next set() re-arms
        self._set_lock = threading.Lock()

    def set(self, percent: float) -> None:
        """Drive the output at ``percent`` (0-100); above 0 it is watched by the unit's watchdog."""
        self._check_open()
        percent = float(percent)
        if not (0.0 <= percent <= 100.0) or math.isnan(percent):
            raise ValueError(f"{self.kind.upper()} channel {self.channel} ({self.role}): {percent!r} is outside 0-100 %")
        ctx = self._ctx
        with self._set_lock:
            if percent > 0:
                ctx.ensure_watchdog()
            with ctx.store_lock, ctx.store.transaction():
                if percent > 0:
                    ctx.store.arm(self.key, self.kind, self.channel, self.role, ctx.keeper.token,
                                  self._lock.holder.owner, percent, ctx.lease_s)
                else:
                    ctx.store.drop(self.key, ctx.keeper.token)
                self._drive(percent)
            if percent > 0:
                ctx.keeper.watch(self.key, self._on_revoked)
            else:
                ctx.keeper.unwatch(self.key)
            self.value, self.revoked = percent, False

    def off(self) -> None:
        self.set(0.0)

    def _on_revoked(self) -> None:
        if not self.revoked:
            self.revoked, self.value = True, 0.0
            logger.error("%s was switched off by the hardware watchdog: this process did not renew its lease "
                         "in time (was it stopped or overloaded?). It stays off until set again.", self)

    def close(self) -> None:
        if self.closed:
            return
        try:
            self.set(0.0)
        finally:
            super().close()

    def _drive(self, percent: float) -> None:
        raise NotImplementedError


class PWM(Output):
    """A PWM output (heater, pump, stirring motor); satisfies :class:`~.protocols.PWMOutput`."""

    kind = "pwm"

    def set_duty(self, duty_percent: float) -> None:
        self.set(duty_percent)

    @property
    def duty_percent(self) -> float:
        return self.value

    def _drive(self, percent: float) -> None:
        self._driver.set_duty(percent)


class LED(Output):
    """An LED intensity channel; satisfies :class:`~.protocols.LEDOutput`."""

    kind = "led"

    def set_intensity(self, intensity_percent: float) -> None:
        self.set(intensity_percent)

    @property
    def intensity_percent(self) -> float:
        return self.value

    def _drive(self, percent: float) -> None:
        self._driver.set_intensity(percent)


class ADC(Device):
    """One photodiode input; satisfies :class:`~.protocols.AnalogInput`."""

    kind = "adc"

    def read_voltage(self) -> float:
        self._check_open()
        return float(self._driver.read_voltage())

    @property
    def angle(self) -> str:
        return self.role

    @property
    def full_scale_ranges_v(self) -> tuple[float, ...]:
        """The input ranges the driver can switch between (V, largest first); ``()`` for a fixed range."""
        if not callable(getattr(self._driver, "set_full_scale_v", None)):
            return ()
        return tuple(sorted((float(r) for r in getattr(self._driver, "full_scale_ranges_v", ())), reverse=True))

    @property
    def full_scale_v(self) -> float | None:
        """The range in use (V), or None when the driver does not say."""
        value = getattr(self._driver, "full_scale_v", None)
        return float(value) if value is not None else None

    def set_full_scale_v(self, volts: float) -> None:
        """Switch to the input range ``volts`` (one of ``full_scale_ranges_v``) from the next conversion on.

        Raises ``HardwareError`` if the ADC has a fixed range, ``ValueError`` for a range it does not have.
        """
        self._check_open()
        ranges = self.full_scale_ranges_v
        if not ranges:
            raise HardwareError(f"{self}: this analog input has a fixed range")
        chosen = next((r for r in ranges if math.isclose(r, volts, rel_tol=1e-6)), None) \
            if isinstance(volts, int | float) and not isinstance(volts, bool) else None
        if chosen is None:
            raise ValueError(f"{self}: {volts!r} V is not one of its ranges ({', '.join(f'{r:g}' for r in ranges)} V)")
        self._driver.set_full_scale_v(chosen)


class Tachometer(Device):
    """An edge counter; satisfies :class:`~.protocols.EdgeCounter`."""

    kind = "tach"

    def count(self) -> int:
        self._check_open()
        return int(self._driver.count())


class Thermometer(Device):
    """A temperature sensor; satisfies :class:`~.protocols.TemperatureSensor`."""

    kind = "temp"

    def read_celsius(self) -> float:
        self._check_open()
        return float(self._driver.read_celsius())
