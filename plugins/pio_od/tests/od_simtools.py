"""Helpers for tests against the simulator: standards of known OD, pumping, waiting on topics."""

from __future__ import annotations

import json
import time

from pioreactor_kernel.hardware.testing import wait_for
from pioreactor_kernel.testing import Recorder


def measure_standards(unit, ods: list[float], readings: int = 3) -> list[tuple[float, float]]:
    """(true OD, signal) for a frozen culture at each OD: what `pio calibrate od` would record."""
    import pio_sim
    from pio_od.acquisition import ODHardware

    pairs = []
    for od in ods:
        unit.configure(sim={"initial_od": str(od), "speed": "0.000001"})
        pio_sim.reset(unit.data_dir)
        hw = ODHardware("standards")
        try:
            means, _, errors = hw.read_mean(50.0, readings, 0.0)
        finally:
            hw.close()
        assert "2" in means, errors
        pairs.append((unit.true_state()["od"], means["2"]))
    return pairs


def fresh_culture(unit, **sim: str) -> None:
    import pio_sim

    unit.configure(sim=sim)
    pio_sim.reset(unit.data_dir)


def pump(role: str, seconds: float) -> None:
    """Run a pump at full duty for ``seconds`` (the simulator moves liquid in real time)."""
    from pioreactor_kernel import hardware

    with hardware.open_pwm(role, owner="test") as pwm:
        pwm.set_duty(100)
        time.sleep(seconds)
        pwm.set_duty(0)


def wait_for_count(recorder, topic: str, n: int, timeout_s: float = 20.0) -> list[dict]:
    def arrived() -> bool:
        with recorder._lock:
            return sum(1 for t, _, _ in recorder.messages if t == topic) >= n

    wait_for(arrived, timeout_s, interval_s=0.05, what=f"{n} messages on {topic}")
    return recorder.json(topic)


class JsonRecorder(Recorder):
    def json(self, topic: str) -> list[dict]:
        return [json.loads(p) for p in self.payloads(topic) if p]

    def logs(self, level: str | None = None) -> list[dict]:
        out = []
        for topic, payload, _ in list(self.messages):
            if "/logs/" in topic:
                record = json.loads(payload)
                if level is None or record["level"] == level:
                    out.append(record)
        return out

    def wait_for_log(self, text: str, level: str | None = None, timeout_s: float = 10.0) -> list[dict]:
        """Wait until a log record containing ``text`` has arrived; every record of ``level`` then."""
        from pioreactor_kernel.hardware.testing import wait_for

        wait_for(lambda: any(text in r["message"] for r in self.logs(level)), timeout_s,
                 what=f"a {level or ''} log containing {text!r}")
        return self.logs(level)
