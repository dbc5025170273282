"""The ``rpi`` hardware backend: a Pioreactor-style HAT on a Raspberry Pi.

PWM outputs and the tachometer through ``lgpio`` (from rpi-lgpio); photodiodes through an
ADS1115 (adafruit-circuitpython-ads1x15); the vial's TMP1075 and the LEDs' DAC43608 over
I2C (Blinka's ``busio``). Every hardware library is imported when a device is first opened,
so the plugin loads (and ``pio --help`` runs) on any machine. Pins and addresses: ``[rpi]``.
"""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

from .defaults import DEFAULT_RPI_CONFIG  # re-exported
from .i2c import DAC43608, TMP1075, open_i2c

ADS_GAINS = {"2/3": 2 / 3, "1": 1, "2": 2, "4": 4, "8": 8, "16": 16}
ADS_FULL_SCALE_V = {2 / 3: 6.144, 1: 4.096, 2: 2.048, 4: 1.024, 8: 0.512, 16: 0.256}  # the PGA's ranges


def require(module: str) -> Any:
    """Import a Pi-only library, or say how to get it."""
    import importlib

    try:
        return importlib.import_module(module)
    except ImportError as e:
        from pioreactor_kernel.hardware import HardwareError

        raise HardwareError(f"the rpi backend needs {module!r}, which is not installed ({e}); it runs on a "
                            f"Raspberry Pi (`pip install 'pio-rpi[pi]'`), or set [hardware] backend = sim") from e


class RpiBackend:
    name = "rpi"
    # a GPIO line claimed by a hung owner cannot be driven by another process: the watchdog ends the owner
    exclusive_kinds: frozenset[str] = frozenset({"pwm"})

    def __init__(self, *, config: Any, data_dir: Path, unit: str, hardware_map: Any):
        self.settings = {**DEFAULT_RPI_CONFIG, **(config.section("rpi") if config is not None else {})}
        self._lock = threading.Lock()
        self._chip: int | None = None
        self._i2c: Any = None
        self._ads: Any = None
        self._dac: DAC43608 | None = None

    # ---------------------------------------------------------------- settings
    def _int(self, key: str) -> int:
        value = self.settings.get(key, "")
        try:
            return int(value, 0)
        except ValueError:
            raise ValueError(f"[rpi] {key} = {value!r} is not an integer (addresses may be hex: 0x48)") from None

    # ---------------------------------------------------------------- buses, opened on first use
    def _gpio(self) -> tuple[Any, int]:
        lgpio = require("lgpio")

        with self._lock:
            if self._chip is None:
                self._chip = lgpio.gpiochip_open(self._int("gpiochip"))
            return lgpio, self._chip

    def _bus(self) -> Any:
        with self._lock:
            if self._i2c is None:
                self._i2c = open_i2c()
            return self._i2c

    # ---------------------------------------------------------------- devices
    def pwm(self, channel: str) -> RpiPWM:
        key = f"pwm_{channel}_pin"
        if key not in self.settings:
            raise ValueError(f"PWM channel {channel!r} has no pin: set [rpi] {key}")
        hz = self.settings.get(f"pwm_{channel}_hz") or self.settings["pwm_hz"]
        lgpio, chip = self._gpio()
        return RpiPWM(lgpio, chip, self._int(key), float(hz))

    def led(self, channel: str) -> RpiLED:
        key = f"led_{channel.lower()}_dac_channel"
        if key not in self.settings:
            raise ValueError(f"LED channel {channel!r} has no DAC output: set [rpi] {key}")
        bus = self._bus()
        with self._lock:
            if self._dac is None:
                self._dac = DAC43608(bus, self._int("dac43608_address"))
        return RpiLED(self._dac, self._int(key))

    def analog_input(self, channel: str) -> RpiADC:
        if channel not in ("1", "2", "3", "4"):
            raise ValueError(f"ADC channel {channel!r}: the ADS1115 has channels 1-4")
        ads_lib = require("adafruit_ads1x15")
        ADS1115, AnalogIn, ads1x15 = ads_lib.ADS1115, ads_lib.AnalogIn, ads_lib.ads1x15  # noqa: N806

        bus = self._bus()
        gain = self.settings["ads1115_gain"]
        if gain not in ADS_GAINS:
            raise ValueError(f"[rpi] ads1115_gain = {gain!r}: choose one of {', '.join(ADS_GAINS)}")
        with self._lock:
            if self._ads is None:  # single-shot mode (the default): every conversion writes its gain
                self._ads = ADS1115(bus, address=self._int("ads1115_address"))
                self._ads.gain = ADS_GAINS[gain]
            pin = getattr(ads1x15.Pin, f"A{int(channel) - 1}")
            return RpiADC(self._ads, AnalogIn(self._ads, pin), self._lock, ADS_GAINS[gain])

    def edge_counter(self, name: str) -> RpiTachometer:
        lgpio, chip = self._gpio()
        return RpiTachometer(lgpio, chip, self._int(f"{name}_pin" if name != "stirring" else "tachometer_pin"))

    def temperature_sensor(self, name: str) -> TMP1075:
        return TMP1075(self._bus(), self._int("tmp1075_address"))

    def close(self) -> None:
        with self._lock:
            if self._chip is not None:
                import lgpio

                lgpio.gpiochip_close(self._chip)
                self._chip = None
            if self._i2c is not None and hasattr(self._i2c, "deinit"):
                self._i2c.deinit()
            self._i2c = self._ads = self._dac = None


class RpiPWM:
    """Software PWM on a claimed GPIO line; duty 0 stops the PWM and holds the line low."""

    def __init__(self, lgpio: Any, chip: int, pin: int, hz: float):
        self.lgpio, self.chip, self.pin, self.hz = lgpio, chip, pin, hz
        lgpio.gpio_claim_output(chip, pin, 0)

    def set_duty(self, duty_percent: float) -> None:
        if duty_percent <= 0:
            self.lgpio.tx_pwm(self.chip, self.pin, 0, 0)
            self.lgpio.gpio_write(self.chip, self.pin, 0)
        elif duty_percent >= 100:
            self.lgpio.tx_pwm(self.chip, self.pin, 0, 0)
            self.lgpio.gpio_write(self.chip, self.pin, 1)
        else:
            self.lgpio.tx_pwm(self.chip, self.pin, self.hz, duty_percent)

    def close(self) -> None:
        """Frees the line; it keeps its level (the kernel sets 0 first)."""
        self.lgpio.gpio_free(self.chip, self.pin)


class RpiTachometer:
    def __init__(self, lgpio: Any, chip: int, pin: int):
        self.lgpio, self.chip, self.pin = lgpio, chip, pin
        lgpio.gpio_claim_alert(chip, pin, lgpio.RISING_EDGE)
        self._callback = lgpio.callback(chip, pin, lgpio.RISING_EDGE)  # no function: lgpio tallies edges

    def count(self) -> int:
        return int(self._callback.tally())

    def close(self) -> None:
        self._callback.cancel()
        self.lgpio.gpio_free(self.chip, self.pin)


class RpiADC:
    """One ADS1115 input with its own gain (range); satisfies the kernel's ``ProgrammableGainInput``.

    The chip's gain is in the config register that every single-shot conversion writes, so each
    channel keeps its own: a read sets the shared ``ADS1115.gain`` to this channel's first.
    """

    full_scale_ranges_v = tuple(ADS_FULL_SCALE_V.values())

    def __init__(self, ads: Any, analog_in: Any, lock: threading.Lock, gain: float):
        self.ads, self.analog_in, self._lock, self.gain = ads, analog_in, lock, gain

    @property
    def full_scale_v(self) -> float:
        return ADS_FULL_SCALE_V[self.gain]

    def set_full_scale_v(self, volts: float) -> None:
        gain = next((g for g, v in ADS_FULL_SCALE_V.items() if v == volts), None)
        if gain is None:
            raise ValueError(f"{volts!r} V is not an ADS1115 range ({', '.join(map(str, self.full_scale_ranges_v))})")
        self.gain = gain

    def read_voltage(self) -> float:
        with self._lock:  # one ADS1115 multiplexes all channels
            if self.ads.gain != self.gain:
                self.ads.gain = self.gain
            return float(self.analog_in.voltage)

    def close(self) -> None: ...


class RpiLED:
    def __init__(self, dac: DAC43608, output: int):
        self.dac, self.output = dac, output

    def set_intensity(self, intensity_percent: float) -> None:
        self.dac.set_output(self.output, intensity_percent)

    def close(self) -> None: ...


def create(**kwargs: Any) -> RpiBackend:
    """The factory named in ``register_hardware``."""
    return RpiBackend(**kwargs)
