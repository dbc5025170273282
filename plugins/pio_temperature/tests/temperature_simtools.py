"""The simulated vial for temperature tests: time scale, the hidden truth, and what pio_sim lacks (ambient)."""

from __future__ import annotations

import json
from typing import Any

from pioreactor_kernel import hardware
from pioreactor_kernel.mqtt import BrokerAddress, publish_once

from pio_temperature.config import DEFAULTS, THERMOSTAT_SECTION
from pio_temperature.pid import Gains

HEAT_SPEED = 60.0  # one real second is one simulated minute of the vial's heat balance
INTERVAL_S = 0.25  # 15 simulated seconds between readings (the default is 30 s)
HEATER_CHANNEL = "5"


def unit_environment(**overrides: str) -> dict[str, str]:
    """Config (as PIO__ variables, so subprocesses see it too) for a sped-up, seeded vial and a matching loop."""
    d = DEFAULTS[THERMOSTAT_SECTION]
    gains = Gains(float(d["kp"]), float(d["ki"]), float(d["kd"]),
                  derivative_filter_s=float(d["derivative_filter_s"])).scaled(HEAT_SPEED)
    env = {
        "PIO__hardware__backend": "sim",
        "PIO__sim__seed": "7",
        "PIO__sim__heat_speed": str(HEAT_SPEED),
        "PIO__temperature_automation__reading_interval_s": str(INTERVAL_S),
        "PIO__temperature_automation__stuck_readings": "8",
        f"PIO__{THERMOSTAT_SECTION}__kp": repr(gains.kp),
        f"PIO__{THERMOSTAT_SECTION}__ki": repr(gains.ki),
        f"PIO__{THERMOSTAT_SECTION}__kd": repr(gains.kd),
        f"PIO__{THERMOSTAT_SECTION}__derivative_filter_s": repr(gains.derivative_filter_s),
    }
    env.update({f"PIO__temperature_automation__{k}": v for k, v in overrides.items()})
    return env


def truth() -> dict[str, Any]:
    """The vial's true state, through this process's own sim backend (the one an in-process job drives)."""
    return hardware.backend().true_state()  # type: ignore[attr-defined, no-any-return]


def true_temperature() -> float:
    return float(truth()["temperature_c"])


def true_heater_duty(state: dict[str, Any] | None = None) -> float:
    return float((state or truth())["pwm"].get(HEATER_CHANNEL, 0.0))


def step_ambient(celsius: float, monkeypatch: Any) -> None:
    """Change the room's temperature now, for every process of this test.

    pio_sim has no run-time knob for the ambient yet (requested): advance the vial to now under
    the old ambient, then change this process's backend parameters and the environment's
    ``[sim] ambient_c`` (read by any backend opened later, e.g. ``pio_sim.true_state``).
    """
    backend: Any = hardware.backend()
    with backend.store.step():
        backend.params.ambient_c = celsius
        monkeypatch.setenv("PIO__sim__ambient_c", str(celsius))


def publish(unit: Any, suffix: str, payload: str | dict[str, Any]) -> None:
    body = payload if isinstance(payload, str) else json.dumps(payload)
    publish_once(f"{unit.job}/{suffix}", body, address=BrokerAddress("127.0.0.1", unit.port))


def logged(recorder: Any, unit: Any, level: str, text: str) -> list[str]:
    out = []
    for payload in recorder.payloads(f"{unit.base}/logs/app"):
        record = json.loads(payload)
        if record["level"] == level and text in record["message"]:
            out.append(record["message"])
    return out
