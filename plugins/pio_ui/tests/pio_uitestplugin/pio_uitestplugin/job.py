"""``light_meter``: publishes a made-up light level every 0.2 s, scaled by a settable gain."""

from __future__ import annotations

import math
import time
from typing import Any

from pioreactor_kernel.job import BackgroundJob
from pioreactor_kernel.settings import Setting
from pioreactor_kernel.timing import RepeatedTimer


class LightMeter(BackgroundJob):
    """Measure ambient light (made up, for the UI's tests)."""

    job_name = "light_meter"
    published_settings = (
        Setting("gain", "float", unit="x", settable=True, minimum=0.1, maximum=10.0, default=1.0,
                description="Sensor gain"),
        Setting("lux", "float", unit="lux", description="Ambient light"),
    )

    def __init__(self, gain: float = 1.0, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.gain = gain
        self.lux = 0.0
        self.timer = RepeatedTimer(0.2, self._read, run_immediately=True).start()

    def _read(self) -> None:
        self.lux = round(self.gain * (500 + 100 * math.sin(time.time())), 2)

    def on_disconnected(self) -> None:
        self.timer.cancel()
