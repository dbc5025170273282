"""BackgroundJob: the lifecycle every job shares, on MQTT.

States ``init -> ready <-> sleeping -> disconnected``; ``lost`` is the last will, published by
the broker when the process dies or hangs (keep-alive ``[mqtt] keepalive_s``, default 2 s;
Mosquitto 2.0.11 checks keep-alives every 5 s: a hung job is ``lost`` 3-9 s after it stops,
docs/kernel.md). Settings are declared once, as
:class:`~pioreactor_kernel.settings.Setting` objects in ``published_settings``; assigning
``self.<setting> = value`` publishes it (retained), and ``.../<setting>/set`` changes it after
validation, calling ``set_<setting>(value)`` when the job defines one. A refused value is logged
as an error and the job keeps running.

A job is also a context manager, and several can live in one Python process::

    with Stirring(target_rpm=500) as stirring:
        ...
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import select
import signal
import threading
from collections.abc import Iterable
from types import FrameType, TracebackType
from typing import Any, ClassVar

from . import names, registry
from .identity import current_experiment, unit_name
from .logs import MQTTLogHandler, job_logger, setup_logging
from .mqtt import BrokerAddress, Message, MQTTClient, Will
from .names import DISCONNECTED, INIT, LOST, READY, SLEEPING
from .settings import InvalidSetting, Setting

_TRANSITIONS = {
    INIT: {READY, DISCONNECTED},
    READY: {SLEEPING, DISCONNECTED},
    SLEEPING: {READY, DISCONNECTED},
    DISCONNECTED: set(),
    LOST: set(),
}


class _JobMeta(type):
    """Runs ``_post_init`` after the subclass's ``__init__``, and cleans up when it fails."""

    def __call__(cls, *args: Any, **kwargs: Any) -> Any:
        job = cls.__new__(cls)  # type: ignore[call-overload]
        try:
            job.__init__(*args, **kwargs)
            job._post_init()
        except BaseException:
            if getattr(job, "_initialised", False):
                job._abort()
            raise
        return job


class BackgroundJob(metaclass=_JobMeta):
    job_name: ClassVar[str] = ""
    published_settings: ClassVar[tuple[Setting, ...]] = ()

    def __init__(self, unit: str | None = None, experiment: str | None = None, *,
                 address: BrokerAddress | None = None, source: str = "app") -> None:
        if not self.job_name:
            raise TypeError(f"{type(self).__name__} must set job_name")
        setup_logging()
        self._settings_by_name = {s.name: s for s in self.published_settings}
        self.unit = unit or unit_name()
        self.logger = job_logger(self.job_name)
        self._address = address or BrokerAddress.from_config()
        self.experiment = names.validate_name("experiment", experiment or _resolve_experiment(self._address))
        self._job_lock = registry.acquire(self.job_name, self.unit, self.experiment)
        self._initialised = True
        self.state = INIT
        self._disconnected = threading.Event()
        self._cleanup_lock = threading.Lock()
        self._base = names.job_topic(self.unit, self.experiment, self.job_name)
        self.client = MQTTClient(
            client_id=f"{self.unit}-{self.job_name}-{os.getpid()}-{id(self) & 0xFFFF:x}",
            address=self._address,
            will=Will(f"{self._base}/{names.STATE}", LOST),
        )
        self._log_handler = MQTTLogHandler(self.client, self.unit, self.experiment, self.job_name, source)
        self.logger.addHandler(self._log_handler)
        self.client.subscribe([names.job_topic(unit, self.experiment, self.job_name, "+", "set")
                               for unit in (self.unit, names.BROADCAST)], self._on_set_request)
        self.client.on_ready.append(self._republish_after_reconnect)
        self._publish_raw(names.STATE, INIT)
        self.client.connect()

    # ------------------------------------------------------------------ lifecycle
    def _post_init(self) -> None:
        self._publish_declarations()
        published = self.__dict__.get("_published", set())
        for setting in self.settings:  # values assigned before the client existed
            if setting.name not in published and hasattr(self, setting.name):
                self._publish_setting(setting, getattr(self, setting.name))
        self.set_state(READY)
        from .registrations import plugin_registry

        plugin_registry().notify("job_started", job=self)

    def set_state(self, new_state: str) -> None:
        if new_state == self.state:
            return
        if new_state not in _TRANSITIONS.get(self.state, set()):
            self.logger.error("cannot go from %s to %s", self.state, new_state)
            return
        if new_state == DISCONNECTED:
            self.clean_up()
            return
        old, self.state = self.state, new_state
        getattr(self, f"on_{old}_to_{new_state}", _noop)()
        getattr(self, f"on_{new_state}", _noop)()
        self._publish_raw(names.STATE, new_state)
        self.logger.debug("%s -> %s", old, new_state)

    def clean_up(self) -> None:
        """Stop the job: ``on_disconnected``, release what it holds, publish ``disconnected``."""
        with self._cleanup_lock:
            if self.state == DISCONNECTED:
                return
            self.state = DISCONNECTED
            try:
                self.on_disconnected()
            except Exception:
                if self.__dict__.get("_half_built"):  # __init__ failed: attributes may be missing
                    self.logger.debug("on_disconnected of a job that failed to start", exc_info=True)
                else:
                    self.logger.exception("on_disconnected failed")
            if self.__dict__.get("_devices") is not None:
                try:
                    self._devices.close()  # outputs off first; the job's own cleanup may have done it
                except Exception:
                    self.logger.exception("releasing hardware failed")
            from .registrations import plugin_registry

            plugin_registry().notify("job_stopped", job=self)
            for setting in self.settings:
                if not setting.persist:
                    self._publish_raw(setting.name, "")  # clears the retained value
            self._publish_raw(names.STATE, DISCONNECTED)
            self.logger.removeHandler(self._log_handler)
            self.client.disconnect()
            self._job_lock.release()
            self._disconnected.set()
            if self.__dict__.get("_wake_fd", -1) >= 0:  # stopped from another thread: wake the main one
                with contextlib.suppress(OSError):
                    os.write(self._wake_fd, b"\0")

    def _abort(self) -> None:
        """Undo a half-built job (its ``__init__`` raised)."""
        self._half_built = True
        try:
            if hasattr(self, "client"):
                self.clean_up()
            else:
                self._job_lock.release()
        except Exception:
            logging.getLogger("pioreactor").exception("cleaning up a job that failed to start")

    def block_until_disconnected(self) -> None:
        """Wait here until the job stops; SIGTERM and SIGINT stop it cleanly.

        The kernel may deliver a signal to any thread, and Python runs handlers only in the main
        thread, which a plain ``Event.wait`` would not wake. So the main thread sleeps in
        ``select`` on the signal wake-up pipe: any signal, to any thread, wakes it at once.
        """
        if threading.current_thread() is not threading.main_thread():
            self._disconnected.wait()
            return
        wake_r, wake_w = os.pipe()
        os.set_blocking(wake_w, False)
        os.set_blocking(wake_r, False)
        self._wake_fd = wake_w
        previous_fd = signal.set_wakeup_fd(wake_w, warn_on_full_buffer=False)
        for sig in (signal.SIGTERM, signal.SIGINT):
            signal.signal(sig, self._on_signal)
        try:
            while not self._disconnected.is_set():
                select.select([wake_r], [], [], 5.0)  # handlers run as soon as this returns
                with contextlib.suppress(BlockingIOError):
                    os.read(wake_r, 512)
        finally:
            signal.set_wakeup_fd(previous_fd)
            self._wake_fd = -1
            os.close(wake_r)
            os.close(wake_w)

    def wait_until_disconnected(self, timeout_s: float | None = None) -> bool:
        """True once the job has fully stopped (hardware released, ``disconnected`` published)."""
        return self._disconnected.wait(timeout_s)

    def _on_signal(self, signum: int, frame: FrameType | None) -> None:
        self.logger.debug("received %s", signal.Signals(signum).name)
        self.clean_up()

    def __enter__(self) -> BackgroundJob:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None) -> None:
        self.clean_up()

    # subclasses override these
    def on_ready(self) -> None: ...
    def on_sleeping(self) -> None: ...
    def on_disconnected(self) -> None: ...

    # ------------------------------------------------------------------ settings
    def __setattr__(self, name: str, value: Any) -> None:
        super().__setattr__(name, value)
        settings = self.__dict__.get("_settings_by_name")
        if settings and name in settings and "client" in self.__dict__:
            self._publish_setting(settings[name], value)

    def _publish_setting(self, setting: Setting, value: Any) -> None:
        self.__dict__.setdefault("_published", set()).add(setting.name)
        self._publish_raw(setting.name, setting.to_wire(value))

    def _publish_raw(self, suffix: str, payload: str) -> None:
        self.client.publish(f"{self._base}/{suffix}", payload, qos=1, retain=True)

    def _on_set_request(self, message: Message) -> None:
        parts = message.topic.split("/")
        attr = parts[-2]
        try:
            payload = message.payload.decode("utf-8")
        except UnicodeDecodeError:
            self.logger.error("refused %s/set: payload is not UTF-8 text", attr)
            return
        if attr == names.STATE:
            if payload not in (READY, SLEEPING, DISCONNECTED):
                self.logger.error("refused $state/set %r: expected ready, sleeping or disconnected", payload)
                return
            if payload == DISCONNECTED:  # not in the network thread: clean_up waits on it
                threading.Thread(target=self.set_state, args=(DISCONNECTED,), daemon=True).start()
            else:
                self.set_state(payload)
            return
        setting = self._settings_by_name.get(attr)
        if setting is None or not setting.settable:
            settable = ", ".join(s.name for s in self.settings if s.settable) or "none"
            self.logger.error("refused %s/set: %r is not a settable setting of %s (settable: %s)",
                              attr, attr, self.job_name, settable)
            return
        try:
            self._apply_setting(setting, setting.parse(payload))
        except InvalidSetting as e:
            self.logger.error("refused %s/set %r: %s", attr, payload[:100], e)
        except Exception as e:
            self.logger.exception("setting %s to %r failed: %s", attr, payload[:100], e)

    def _apply_setting(self, setting: Setting, value: Any) -> None:
        """Apply a validated ``/set``: ``set_<name>(value)`` when the job defines it, else assign."""
        setter = getattr(self, f"set_{setting.name}", None)
        if setter is not None:
            setter(value)
        else:
            setattr(self, setting.name, value)

    @property
    def settings(self) -> list[Setting]:
        """The settings this job publishes now (the class's, plus any declared at run time)."""
        return list(self._settings_by_name.values())

    def declare_settings(self, added: tuple[Setting, ...] = (), removed: tuple[str, ...] = ()) -> None:
        """Change the published settings at run time (e.g. an automation host switching automations)."""
        for name in removed:
            if self._settings_by_name.pop(name, None) is not None:
                self._publish_raw(name, "")
        for setting in added:
            self._settings_by_name[setting.name] = setting
        if "client" in self.__dict__:
            self._publish_declarations()

    def _publish_declarations(self) -> None:
        self._publish_raw(names.PROPERTIES, ",".join(s.name for s in self.settings))
        self._publish_raw(names.SETTINGS_SCHEMA, json.dumps([s.describe() for s in self.settings]))

    def _republish_after_reconnect(self) -> None:
        """Called by the client once re-subscribed after a reconnect: the retained state is ours again."""
        if self.client.reconnects and self.state != DISCONNECTED:
            self._publish_raw(names.STATE, self.state)

    # ------------------------------------------------------------------ helpers for subclasses
    @property
    def devices(self) -> Any:
        """This job's :class:`~pioreactor_kernel.hardware.DeviceSet`, released when the job stops."""
        if "_devices" not in self.__dict__:
            from .hardware import DeviceSet

            self._devices = DeviceSet(owner=self.job_name)
        return self._devices

    def publish(self, suffix: str, payload: str | bytes, *, retain: bool = False, qos: int = 1) -> None:
        """Publish under this job: ``pioreactor/<unit>/<experiment>/<job>/<suffix>``."""
        self.client.publish(f"{self._base}/{suffix}", payload, qos=qos, retain=retain)

    def publish_unit_topic(self, suffix: str, payload: str | bytes, *, retain: bool = False, qos: int = 1) -> None:
        """Publish at ``pioreactor/<unit>/<experiment>/<suffix>`` (e.g. ``dosing_events``)."""
        self.client.publish(names.unit_topic(self.unit, self.experiment, suffix), payload, qos=qos, retain=retain)

    def subscribe(self, topic_filter: str | Iterable[str], callback: Any, qos: int = 1) -> None:
        """Route messages matching ``topic_filter`` (or each of several, in one SUBSCRIBE) to ``callback``."""
        self.client.subscribe(topic_filter, callback, qos=qos)


def _resolve_experiment(address: BrokerAddress) -> str:
    return current_experiment(address=address, timeout_s=10.0)


def _noop() -> None:
    return None
