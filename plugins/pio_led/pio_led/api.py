"""The Python API: ask the unit's LED owner (job ``leds``) for a change, starting it if needed."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Mapping
from typing import Any

from pioreactor_kernel import registry
from pioreactor_kernel.identity import EXPERIMENT_ENV, current_experiment, unit_name
from pioreactor_kernel.mqtt import BrokerAddress, BrokerUnavailable, MQTTClient
from pioreactor_kernel.names import DISCONNECTED, LOST, READY, ROOT, SLEEPING
from pioreactor_kernel.paths import data_dir

from . import CHANGE_REQUEST, CHANGE_RESULT, CHANNELS, INTENSITY, OWNER_JOB
from .channels import LEDError, parse_intensities

_GONE = (DISCONNECTED, LOST)
OWNER_START_TIMEOUT_S = 30.0  # a cold `pio` start on a busy Pi Zero takes several seconds


class LEDClient:
    """A connection to the unit's LED owner; keep one for many changes (``led_automation`` does).

    Its own MQTT connection delivers the owner's answers, so :meth:`set` may be called from any
    thread, including another client's callback.
    """

    def __init__(self, unit: str | None = None, experiment: str | None = None, *,
                 source_of_event: str = "led_intensity", address: BrokerAddress | None = None):
        self.unit = unit or unit_name()
        self.experiment = experiment  # for a new owner; a running owner keeps its own
        self.source_of_event = source_of_event
        self._cond = threading.Condition()
        self._results: dict[str, dict[str, Any]] = {}
        self._states: dict[str, tuple[str, int]] = {}  # experiment -> (the owner's $state there, arrival number)
        self._arrivals = 0
        self._intensities: dict[str, dict[str, float]] = {}
        self._set_lock = threading.Lock()
        self.client = MQTTClient(address=address)
        base = f"{ROOT}/{self.unit}/+/{OWNER_JOB}"
        self.client.subscribe(f"{base}/{CHANGE_RESULT}", self._on_result)
        self.client.subscribe(f"{base}/$state", self._on_state)
        self.client.subscribe(f"{base}/{INTENSITY}", self._on_intensity)
        try:
            self.client.connect()
        except BrokerUnavailable as e:
            raise LEDError(f"LED changes go through MQTT: {e}") from None
        self.client.sync()  # retained states are in before the first ensure_owner()

    def _on_result(self, message: Any) -> None:
        try:
            result = json.loads(message.payload)
        except ValueError:
            return
        if isinstance(result, dict) and isinstance(result.get("request_id"), str):
            with self._cond:
                self._results[result["request_id"]] = result
                self._cond.notify_all()

    def _on_state(self, message: Any) -> None:
        with self._cond:
            self._arrivals += 1
            self._states[message.topic.split("/")[2]] = (message.payload.decode(errors="replace"), self._arrivals)
            self._cond.notify_all()

    def _on_intensity(self, message: Any) -> None:
        try:
            value = json.loads(message.payload)
        except ValueError:
            return
        if isinstance(value, dict):
            with self._cond:
                self._intensities[message.topic.split("/")[2]] = value

    # ------------------------------------------------------------------ public
    def set(self, desired_state: Mapping[str, float], *, source_of_event: str | None = None,
            timeout_s: float = 10.0) -> dict[str, float]:
        """Apply ``{"B": 50, ...}`` (percent) all at once; return every channel's intensity after.

        Raises :class:`LEDError` if the owner refuses (a channel held by another job, such as the
        IR LED while ``od_reading`` runs) or does not answer within ``timeout_s``. An owner that
        stops meanwhile (it exits when idle) is replaced and the request sent again.
        """
        wanted = parse_intensities(desired_state)
        with self._set_lock:
            for _attempt in range(3):
                experiment = self.ensure_owner()
                request_id = uuid.uuid4().hex
                request = {"request_id": request_id, "intensities": wanted,
                           "source_of_event": source_of_event or self.source_of_event}
                with self._cond:
                    sent_at = self._arrivals
                self.client.publish(f"{ROOT}/{self.unit}/{experiment}/{OWNER_JOB}/{CHANGE_REQUEST}",
                                    json.dumps(request))
                result = self._wait_for_answer(experiment, request_id, sent_at, timeout_s)
                if result is None or result.get("retry"):
                    continue  # the owner stopped before it could apply the change: start another
                if not result.get("ok"):
                    raise LEDError(str(result.get("error")))
                return {c: float(v) for c, v in result["intensities"].items()}
        raise LEDError(f"the {OWNER_JOB} job of {self.unit} kept stopping before applying the change; "
                       f"see {data_dir() / 'logs' / (OWNER_JOB + '.log')}")

    def _wait_for_answer(self, experiment: str, request_id: str, sent_at: int,
                         timeout_s: float) -> dict[str, Any] | None:
        """The owner's answer, or None if it stopped (``$state`` disconnected or lost) after we asked."""

        def answered_or_gone() -> bool:
            state, arrival = self._states.get(experiment, ("unknown", 0))
            return request_id in self._results or (arrival > sent_at and state in _GONE)

        with self._cond:
            if not self._cond.wait_for(answered_or_gone, timeout_s):
                raise LEDError(f"the {OWNER_JOB} job of {self.unit} did not answer within {timeout_s:g} s")
            return self._results.pop(request_id, None)

    def intensities(self) -> dict[str, float]:
        """The intensities the owner last published (all 0 if it never ran)."""
        record = registry.read(OWNER_JOB)
        experiment = record.experiment if record else (self.experiment or current_experiment(self.client))
        self.client.sync()
        with self._cond:
            known = self._intensities.get(experiment, {})
        return {c: float(known.get(c, 0.0)) for c in CHANNELS}

    def ensure_owner(self) -> str:
        """The experiment of the unit's running, ready LED owner; one is started (detached) if none runs."""
        deadline = time.monotonic() + OWNER_START_TIMEOUT_S
        spawned: subprocess.Popen[bytes] | None = None
        spawns = 0
        since = 0  # only a "ready" that arrived after this counts (a killed owner's retained "ready" is stale)
        while True:
            record = registry.read(OWNER_JOB)
            with self._cond:
                if record is None:
                    if spawned is None or spawned.poll() is not None:  # none yet, or it lost a race and exited
                        if spawns == 3:
                            raise LEDError(f"the LED owner (`pio run {OWNER_JOB}`) exited at start 3 times; see "
                                           f"{data_dir() / 'logs' / (OWNER_JOB + '.log')}")
                        since, spawns = self._arrivals, spawns + 1
                        spawned = spawn_owner(self.experiment)
                else:
                    state, arrival = self._states.get(record.experiment, ("unknown", 0))
                    if state == READY and arrival > since:
                        return record.experiment
                    if state == SLEEPING:
                        raise LEDError(f"the {OWNER_JOB} job (pid {record.pid}) is sleeping: wake it "
                                       f"(`$state/set ready`) or restart it (`pio kill {OWNER_JOB}`)")
                if time.monotonic() > deadline:
                    raise LEDError(f"the LED owner (`pio run {OWNER_JOB}`) is not ready after "
                                   f"{OWNER_START_TIMEOUT_S:g} s; see {data_dir() / 'logs' / (OWNER_JOB + '.log')}")
                self._cond.wait(0.05)

    def close(self) -> None:
        self.client.disconnect()

    def __enter__(self) -> LEDClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def led_intensity(desired_state: Mapping[str, float], *, unit: str | None = None, experiment: str | None = None,
                  source_of_event: str = "led_intensity", timeout_s: float = 10.0) -> dict[str, float]:
    """Set LED channels, e.g. ``led_intensity({"B": 50, "C": 0})``; return every channel's intensity after.

    The change outlives the caller: the unit's LED owner (job ``leds``, started if needed) holds
    lit channels. Raises :class:`~pio_led.channels.LEDError` with the reason when refused.
    """
    parse_intensities(desired_state)  # refuse bad input before connecting anywhere
    with LEDClient(unit, experiment, source_of_event=source_of_event) as client:
        return client.set(desired_state, timeout_s=timeout_s)


def spawn_owner(experiment: str | None = None) -> subprocess.Popen[bytes]:
    """Start ``pio run leds`` in its own session (it outlives us); its stray output goes to logs/leds.log."""
    logs = data_dir() / "logs"
    logs.mkdir(parents=True, exist_ok=True)
    env = {**os.environ, "PIO_LOG_STDERR": "0"}  # it logs to the unit's log file and MQTT; leds.log gets crashes
    if experiment:
        env[EXPERIMENT_ENV] = experiment
    with open(logs / f"{OWNER_JOB}.log", "ab") as log:
        proc = subprocess.Popen([sys.executable, "-m", "pioreactor_kernel", "run", OWNER_JOB], env=env,
                                stdin=subprocess.DEVNULL, stdout=log, stderr=log, close_fds=True,
                                start_new_session=True)
    threading.Thread(target=proc.wait, name="pio-leds-reaper", daemon=True).start()  # no zombie when it exits
    return proc
