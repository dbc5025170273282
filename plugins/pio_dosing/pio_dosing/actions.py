"""The pump actions ``add_media``, ``remove_waste``, ``add_alt_media``: from ``pio run`` and from Python.

Each runs as a short-lived job of that name (so ``pio kill add_media``, ``$state/set
disconnected`` and SIGTERM stop it, and two of the same never run at once)::

    from pio_dosing import add_media, remove_waste
    add_media(ml=1.0)                  # needs a calibration (or allow_uncalibrated=True)
    remove_waste(duration_s=3)
    add_media(continuously=True)       # until stopped: stop.set(), MQTT, or `pio kill add_media`
"""

from __future__ import annotations

import signal
import threading
from typing import Any

import click

from pioreactor_kernel.job import BackgroundJob

from . import names
from .pumps import Doser, DoseResult, DosingRefused


class PumpJob(BackgroundJob):
    """Runs one pump once; stopping the job stops the pump and accounts what it moved."""

    pump = ""

    def __init__(self, stop: threading.Event | None = None, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.stop_requested = stop or threading.Event()
        self._idle = threading.Event()
        self._idle.set()
        self._dosing_thread: int | None = None
        self.doser = Doser(client=self.client, unit=self.unit, experiment=self.experiment, owner=self.job_name,
                           logger=self.logger, stop=self.stop_requested)

    def run(self, *, ml: float | None = None, duration_s: float | None = None, continuously: bool = False,
            source_of_event: str = "manual", allow_uncalibrated: bool = False) -> DoseResult:
        self._idle.clear()
        self._dosing_thread = threading.get_ident()
        try:
            return self.doser.dose(self.pump, ml=ml, duration_s=duration_s, continuously=continuously,
                                   source_of_event=source_of_event, allow_uncalibrated=allow_uncalibrated)
        except DosingRefused as e:
            self.logger.error("refused: %s", e)
            raise
        finally:
            self._idle.set()

    def on_disconnected(self) -> None:
        self.stop_requested.set()
        # the dosing thread switches the pump off and publishes what it moved before we disconnect
        if threading.get_ident() != self._dosing_thread:
            self._idle.wait(10.0)
        self.doser.close()


class AddMedia(PumpJob):
    job_name = "add_media"
    pump = names.MEDIA


class RemoveWaste(PumpJob):
    job_name = "remove_waste"
    pump = names.WASTE


class AddAltMedia(PumpJob):
    job_name = "add_alt_media"
    pump = names.ALT_MEDIA


def _pump_once(job_class: type[PumpJob], ml: float | None, duration_s: float | None, continuously: bool,
               source_of_event: str, allow_uncalibrated: bool, unit: str | None, experiment: str | None,
               stop: threading.Event | None) -> DoseResult:
    job = job_class(stop=stop, unit=unit, experiment=experiment)
    with job:
        return job.run(ml=ml, duration_s=duration_s, continuously=continuously, source_of_event=source_of_event,
                       allow_uncalibrated=allow_uncalibrated)


def add_media(ml: float | None = None, duration_s: float | None = None, continuously: bool = False, *,
              source_of_event: str = "manual", allow_uncalibrated: bool = False, unit: str | None = None,
              experiment: str | None = None, stop: threading.Event | None = None) -> DoseResult:
    """Pump media in: ``ml`` (needs a calibration), ``duration_s``, or ``continuously`` until stopped."""
    return _pump_once(AddMedia, ml, duration_s, continuously, source_of_event, allow_uncalibrated, unit, experiment,
                      stop)


def remove_waste(ml: float | None = None, duration_s: float | None = None, continuously: bool = False, *,
                 source_of_event: str = "manual", allow_uncalibrated: bool = False, unit: str | None = None,
                 experiment: str | None = None, stop: threading.Event | None = None) -> DoseResult:
    """Pump liquid out (it stops at the efflux tube): ``ml``, ``duration_s``, or ``continuously``."""
    return _pump_once(RemoveWaste, ml, duration_s, continuously, source_of_event, allow_uncalibrated, unit,
                      experiment, stop)


def add_alt_media(ml: float | None = None, duration_s: float | None = None, continuously: bool = False, *,
                  source_of_event: str = "manual", allow_uncalibrated: bool = False, unit: str | None = None,
                  experiment: str | None = None, stop: threading.Event | None = None) -> DoseResult:
    """Pump alt-media in: ``ml`` (needs a calibration), ``duration_s``, or ``continuously``."""
    return _pump_once(AddAltMedia, ml, duration_s, continuously, source_of_event, allow_uncalibrated, unit,
                      experiment, stop)


def _command(job_class: type[PumpJob], summary: str) -> click.Command:
    @click.command(name=job_class.job_name, help=f"{summary}\n\nGive one of --ml, --duration-s, --continuously. "
                   "A continuous dose runs until `pio kill " + job_class.job_name + "`, Ctrl-C or "
                   "`$state/set disconnected`.")
    @click.option("--ml", type=float, default=None, help="Volume to move [mL] (needs a pump calibration)")
    @click.option("--duration-s", "--duration", "duration_s", type=float, default=None, help="Run for [s]")
    @click.option("--continuously", is_flag=True, help="Run until stopped")
    @click.option("--source-of-event", default="manual", show_default=True, help="Recorded in the dosing event")
    @click.option("--allow-uncalibrated", is_flag=True,
                  help="Dose by mL without a calibration, assuming [dosing] uncalibrated_ml_per_s")
    def command(ml: float | None, duration_s: float | None, continuously: bool, source_of_event: str,
                allow_uncalibrated: bool) -> None:
        from pioreactor_kernel.hardware import HardwareError
        from pioreactor_kernel.mqtt import BrokerUnavailable
        from pioreactor_kernel.registry import JobAlreadyRunning

        stop = threading.Event()
        for sig in (signal.SIGTERM, signal.SIGINT):  # only ask: the dose ends, accounts and switches off
            signal.signal(sig, lambda *_: stop.set())
        try:
            result = _pump_once(job_class, ml, duration_s, continuously, source_of_event, allow_uncalibrated,
                                None, None, stop)
        except (DosingRefused, HardwareError, JobAlreadyRunning, BrokerUnavailable) as e:
            raise click.ClickException(str(e)) from None
        how = "" if result.completed else " (stopped early)"
        click.echo(f"{result.event}: {result.volume_ml:.3g} mL in {result.seconds:.2f} s{how}; "
                   f"vial {result.vial.current_volume_ml:.2f} mL, alt-media fraction {result.vial.alt_media_fraction:.3g}")

    return command


add_media_command = _command(AddMedia, "Pump media into the vial.")
remove_waste_command = _command(RemoveWaste, "Pump liquid out of the vial (down to the efflux tube).")
add_alt_media_command = _command(AddAltMedia, "Pump alternative media (e.g. a drug) into the vial.")
