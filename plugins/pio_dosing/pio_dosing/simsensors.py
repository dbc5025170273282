"""A minimal stand-in for ``od_reading`` + ``growth_rate_calculating``, reading the simulator's photodiode.

For pio-dosing's closed-loop tests and benchmark when the real OD jobs (pio-od) are not
installed: it drives the IR LED, reads the 90° photodiode (median of 3 conversions, so the
simulator's rare spikes do not trigger a dilution), converts volts to OD with a two-point
calibration (dark, and one reading at the vial's known starting OD, as one would against a
spectrophotometer), and publishes, in the wire dialect:

- ``od_reading/ods`` and ``od_reading/od<channel>``;
- ``growth_rate_calculating/od_filtered`` (OD / starting OD);
- ``growth_rate_calculating/growth_rate``: slope of ln OD over the last ``growth_window_s``,
  using only readings since the last dosing event (a dilution is a jump, not a death rate),
  in 1/h of wall-clock time (a sped-up simulator shows sped-up rates).

Nothing here reads the simulator's hidden state except the starting OD for the calibration.
"""

from __future__ import annotations

import json
import math
import statistics
import threading
import time
from collections import deque
from typing import Any

from pioreactor_kernel.names import unit_topic
from pioreactor_kernel.timestamps import current_utc_timestamp


class SimOpticsPublisher:
    def __init__(self, client: Any, unit: str, experiment: str, *, channel: str = "2", angle: str = "90",
                 interval_s: float = 0.1, ir_percent: float = 50.0, saturation_od: float = 4.0,
                 growth_window_s: float = 2.0, min_growth_points: int = 6):
        self.client, self.unit, self.experiment = client, unit, experiment
        self.channel, self.angle, self.interval_s, self.ir_percent = channel, angle, interval_s, ir_percent
        self.saturation_od, self.growth_window_s, self.min_growth_points = saturation_od, growth_window_s, min_growth_points
        self._samples: deque[tuple[float, float]] = deque()  # (monotonic s, ln od) since the last dose
        self._lock = threading.Lock()
        self._reset_at = 0.0  # monotonic time of the last dosing event
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.readings = 0
        self.led_revocations = 0
        self.history: list[tuple[float, float]] = []  # (monotonic s, od) of every published reading

    def start(self) -> SimOpticsPublisher:
        from pioreactor_kernel import hardware

        self.devices = hardware.DeviceSet(owner="od_reading")
        self.led = self.devices.led("ir")
        self.adc = self.devices.analog_input(self.channel)
        self.v_dark = self._read()
        self.led.set_intensity(self.ir_percent)
        self.od0 = float(hardware.backend().true_state()["od"])  # type: ignore[attr-defined]
        v1 = self._read()
        self.sensitivity_v = (v1 - self.v_dark) / -math.expm1(-self.od0 / self.saturation_od)
        self.client.subscribe(unit_topic(self.unit, self.experiment, "dosing_events"), self._on_dose)
        self._thread = threading.Thread(target=self._run, name="sim-optics", daemon=True)
        self._thread.start()
        return self

    def _read(self) -> float:
        return statistics.median(self.adc.read_voltage() for _ in range(3))

    def od_from_volts(self, v: float) -> float:
        x = min(0.999, max(1e-6, (v - self.v_dark) / self.sensitivity_v))
        return -self.saturation_od * math.log1p(-x)

    def _on_dose(self, message: Any) -> None:
        with self._lock:
            self._samples.clear()
            self._reset_at = time.monotonic()

    def _run(self) -> None:
        next_t = time.monotonic()
        while not self._stop.wait(max(0.0, next_t - time.monotonic())):
            next_t += self.interval_s
            try:
                read_at = time.monotonic()
                volts = self._read()
                if self.led.revoked:  # the watchdog switched the LED off (we stalled): that reading was dark
                    self.led_revocations += 1
                    self.led.set_intensity(self.ir_percent)
                    continue
                self._publish(read_at, self.od_from_volts(volts))
            except Exception:  # noqa: BLE001 - a stand-in: keep going, the test will see stale data
                if self._stop.is_set():
                    return

    def _publish(self, read_at: float, od: float) -> None:
        stamp = current_utc_timestamp()
        reading = {"timestamp": stamp, "angle": self.angle, "od": od, "channel": self.channel,
                   "ir_led_intensity": self.ir_percent, "calibrated": 1, "calibration_name": "sim-two-point"}
        topic = unit_topic(self.unit, self.experiment, "od_reading")
        self.client.publish(f"{topic}/od{self.channel}", json.dumps(reading))
        self.client.publish(f"{topic}/ods", json.dumps({"timestamp": stamp, "ods": {self.channel: reading}}))
        growth = unit_topic(self.unit, self.experiment, "growth_rate_calculating")
        self.client.publish(f"{growth}/od_filtered", json.dumps({"od_filtered": od / self.od0, "timestamp": stamp}))
        self.readings += 1
        self.history.append((read_at, od))
        rate = self._growth_rate(read_at, od)
        if rate is not None:
            self.client.publish(f"{growth}/growth_rate", json.dumps({"growth_rate": rate, "timestamp": stamp}))

    def _growth_rate(self, now: float, od: float) -> float | None:
        with self._lock:
            if now < self._reset_at:  # read while a dose was still going on
                return None
            self._samples.append((now, math.log(max(od, 1e-9))))
            while self._samples and self._samples[0][0] < now - self.growth_window_s:
                self._samples.popleft()
            points = list(self._samples)
        if len(points) < self.min_growth_points:
            return None
        n = len(points)
        mt = sum(t for t, _ in points) / n
        my = sum(y for _, y in points) / n
        stt = sum((t - mt) ** 2 for t, _ in points)
        if stt <= 0:
            return None
        slope_per_s = sum((t - mt) * (y - my) for t, y in points) / stt
        return slope_per_s * 3600.0

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(5)
        self.devices.close()
