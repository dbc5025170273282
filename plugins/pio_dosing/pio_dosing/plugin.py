"""The pio-dosing plugin: registrations only (no pump or automation code is imported here)."""

from __future__ import annotations

from typing import Any

from pioreactor_kernel.plugins import hookimpl


@hookimpl
def register_jobs(register: Any) -> None:
    register("add_media", "pio_dosing.actions:add_media_command", kind="action",
             help="Pump media into the vial (by mL, by seconds, or until stopped)")
    register("remove_waste", "pio_dosing.actions:remove_waste_command", kind="action",
             help="Pump liquid out of the vial down to the efflux tube")
    register("add_alt_media", "pio_dosing.actions:add_alt_media_command", kind="action",
             help="Pump alternative media (e.g. a drug) into the vial")
    register("dosing_automation", "pio_dosing.host:DosingAutomationHost",
             help="Run a dosing automation (silent, turbidostat, chemostat, pid_morbidostat, fed_batch)")


@hookimpl
def register_automations(register: Any) -> None:
    register("dosing", "silent", "pio_dosing.automations:Silent", help="Never doses")
    register("dosing", "turbidostat", "pio_dosing.automations:Turbidostat",
             help="Exchange a volume whenever OD reaches a target")
    register("dosing", "chemostat", "pio_dosing.automations:Chemostat",
             help="Exchange a fixed volume per interval (a dilution rate)")
    register("dosing", "pid_morbidostat", "pio_dosing.morbidostat:PIDMorbidostat",
             help="Hold a target growth rate with alt-media as the drug")
    register("dosing", "fed_batch", "pio_dosing.automations:FedBatch",
             help="Add media per interval, without removing waste, up to the vial's maximum")


@hookimpl
def register_commands(cli: Any) -> None:
    cli.add_lazy_command("calibrate pump", "pio_dosing.calibrate:calibrate_pump",
                         help="Calibrate a pump: timed doses, measured mL, a fitted mL-vs-seconds line")
    cli.add_lazy_command("bioreactor status", "pio_dosing.cli:status",
                         help="The vial's tracked volume and alt-media fraction")
    cli.add_lazy_command("bioreactor set", "pio_dosing.cli:set_values",
                         help="Correct the vial's tracked volume or alt-media fraction (e.g. after a refill)")


@hookimpl
def config_defaults() -> dict[str, dict[str, str]]:
    from pio_dosing.names import CONFIG_DEFAULTS

    return CONFIG_DEFAULTS
