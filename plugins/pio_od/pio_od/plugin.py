"""The pio-od plugin: registrations only (job code is imported when a job runs)."""

from __future__ import annotations

from typing import Any

from pioreactor_kernel.plugins import hookimpl


@hookimpl
def register_jobs(register: Any) -> None:
    register("od_reading", "pio_od.od_reading:ODReader", help="Read optical density (IR LED, photodiodes)")
    register("growth_rate_calculating", "pio_od.growth_rate:GrowthRateCalculator",
             help="Estimate filtered OD and growth rate (1/h) from OD readings and dosing events")
    register("od_blank", "pio_od.blank:od_blank", help="Measure the blank (media only) for the experiment",
             kind="action")


@hookimpl
def register_commands(cli: Any) -> None:
    cli.add_lazy_command("calibrate od", "pio_od.cli_calibrate:calibrate_od",
                         help="Calibrate OD600 against standards (prompts, or --file pairs.csv)")


@hookimpl
def config_defaults() -> dict[str, dict[str, str]]:
    from .names import GROWTH_DEFAULTS, GROWTH_SECTION, OD_DEFAULTS, OD_SECTION

    return {OD_SECTION: dict(OD_DEFAULTS), GROWTH_SECTION: dict(GROWTH_DEFAULTS)}
