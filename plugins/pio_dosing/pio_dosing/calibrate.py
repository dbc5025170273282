"""``pio calibrate pump --pump media|alt_media|waste``: timed doses, measured mL, a fitted line.

The pump runs for each duration in turn (tubes in a beaker on a scale, not in the vial: no
dosing event is published); after each run the volume it moved is asked for, or taken from
``--measured`` for scripts. A least-squares line ``ml = a * s + b`` is fitted and stored in
the kernel's calibration store as device ``<pump>_pump`` (and made active), with the duty
cycle it was measured at, which dosing then uses.
"""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Callable, Sequence
from typing import Any

import click

from . import names

DEFAULT_DURATIONS_S = (0.75, 1.5, 2.25, 3.0)


class CalibrationRefused(ValueError):
    pass


def fit_line(xs: Sequence[float], ys: Sequence[float]) -> tuple[float, float, float]:
    """Least-squares ``y = a x + b``; returns ``(a, b, r2)``. Needs two distinct x and a rising line."""
    if len(xs) != len(ys) or len(xs) < 2:
        raise CalibrationRefused(f"need at least two (duration, volume) pairs, got {len(xs)} durations and "
                                 f"{len(ys)} volumes")
    n = len(xs)
    mx, my = sum(xs) / n, sum(ys) / n
    sxx = sum((x - mx) ** 2 for x in xs)
    if sxx <= 0:
        raise CalibrationRefused("the durations must not all be equal")
    a = sum((x - mx) * (y - my) for x, y in zip(xs, ys, strict=True)) / sxx
    b = my - a * mx
    if not a > 0:
        raise CalibrationRefused(f"the measured volumes do not rise with the duration (slope {a:.3g} mL/s): "
                                 "check the tubing and the measurements, then calibrate again")
    ss_tot = sum((y - my) ** 2 for y in ys)
    ss_res = sum((y - (a * x + b)) ** 2 for x, y in zip(xs, ys, strict=True))
    return a, b, 1.0 - ss_res / ss_tot if ss_tot > 0 else 1.0


def check_volume(value: Any) -> float:
    try:
        ml = float(value)
    except (TypeError, ValueError):
        raise CalibrationRefused(f"{value!r} is not a volume in mL") from None
    if not math.isfinite(ml) or ml <= 0 or ml > 1000:
        raise CalibrationRefused(f"a measured volume of {value!r} mL is not plausible (expected 0 < mL <= 1000)")
    return ml


def run_pump_for(pump: str, seconds: float, duty_percent: float, owner: str = "pump_calibration",
                 stop: threading.Event | None = None) -> float:
    """Run ``pump`` for ``seconds`` at ``duty_percent``, no accounting; returns the seconds it ran."""
    from pioreactor_kernel import hardware

    stop = stop or threading.Event()
    with hardware.open_pwm(pump, owner=owner) as pwm:
        try:
            pwm.set_duty(duty_percent)
            started = time.monotonic()
            stop.wait(seconds)
        finally:
            pwm.off()
        return time.monotonic() - started


def calibrate(pump: str, durations_s: Sequence[float], measure: Callable[[int, float], float], *,
              duty_percent: float = 100.0, name: str | None = None, before_each: Callable[[int, float], None] | None = None,
              max_dose_s: float = 120.0, activate: bool = True) -> Any:
    """Run the timed doses, ask ``measure(i, seconds)`` for each volume, fit, store; returns the Calibration."""
    from pioreactor_kernel import calibrations
    from pioreactor_kernel.timestamps import current_utc_timestamp

    if pump not in names.PUMPS:
        raise CalibrationRefused(f"no pump {pump!r}: one of {', '.join(names.PUMPS)}")
    if not (math.isfinite(duty_percent) and 0 < duty_percent <= 100):
        raise CalibrationRefused(f"duty {duty_percent!r} % is outside 0-100 %")
    for s in durations_s:
        if not (math.isfinite(s) and 0 < s <= max_dose_s):
            raise CalibrationRefused(f"duration {s!r} s is outside 0..{max_dose_s:g} s ([dosing] max_dose_s)")
    volumes = []
    for i, seconds in enumerate(durations_s):
        if before_each is not None:
            before_each(i, seconds)
        run_pump_for(pump, seconds, duty_percent)
        volumes.append(check_volume(measure(i, seconds)))
    a, b, r2 = fit_line(list(durations_s), volumes)
    stamp = current_utc_timestamp()
    cal = calibrations.Calibration(
        device=names.calibration_device(pump), name=name or f"{pump}-{stamp[:19].replace(':', '-')}",
        calibration_type="pump", x="duration", y="volume", x_unit="s", y_unit="mL",
        recorded_x=list(durations_s), recorded_y=volumes, curve_type="poly", curve_data=[a, b], created_at=stamp,
        meta={"duty_percent": duty_percent, "r2": r2, "ml_per_s": a},
    )
    calibrations.save(cal, activate=activate)
    return cal


def _floats(text: str | None, what: str) -> list[float] | None:
    if text is None:
        return None
    try:
        return [float(v) for v in text.split(",") if v.strip()]
    except ValueError:
        raise click.BadParameter(f"{what} must be numbers separated by commas, got {text!r}") from None


@click.command(name="pump")
@click.option("--pump", type=click.Choice(list(names.PUMPS)), required=True, help="Which pump")
@click.option("--durations", default=",".join(map(str, DEFAULT_DURATIONS_S)), show_default=True,
              help="Seconds of each timed dose, comma-separated")
@click.option("--measured", default=None, help="The measured mL of each dose, comma-separated (for scripts)")
@click.option("--duty-percent", type=float, default=None, help="Pump duty [%] (default [dosing] pump_duty_percent)")
@click.option("--name", default=None, help="Name of the calibration (default: pump and time)")
@click.option("-y", "--yes", is_flag=True, help="Do not wait for Enter before each dose")
def calibrate_pump(pump: str, durations: str, measured: str | None, duty_percent: float | None, name: str | None,
                   yes: bool) -> None:
    """Calibrate a pump: run it for a few timed doses, enter what each moved, store the fitted line.

    Put the pump's outlet tube in a beaker on a scale (not in the vial). Dosing by mL then
    uses this calibration (`pio calibrations show <pump>_pump` prints it).
    """
    from pioreactor_kernel.calibrations import CalibrationError
    from pioreactor_kernel.config import get_config
    from pioreactor_kernel.hardware import HardwareError

    config = get_config()
    durations_s = _floats(durations, "--durations") or []
    given = _floats(measured, "--measured")
    if given is not None and len(given) != len(durations_s):
        raise click.BadParameter(f"{len(given)} measured volumes for {len(durations_s)} durations")
    duty = duty_percent if duty_percent is not None else config.getfloat(names.DOSING_SECTION, "pump_duty_percent", 100.0)

    def before_each(i: int, seconds: float) -> None:
        if not yes and given is None:
            click.prompt(f"dose {i + 1}/{len(durations_s)}: {seconds:g} s. Empty the beaker, then press Enter",
                         default="", show_default=False)
        click.echo(f"running pump `{pump}` for {seconds:g} s ...")

    def measure(i: int, seconds: float) -> float:
        if given is not None:
            return given[i]
        while True:
            raw = click.prompt(f"measured volume of the {seconds:g} s dose [mL]")
            try:
                return check_volume(raw)
            except CalibrationRefused as e:
                click.echo(f"  {e}; try again")

    try:
        cal = calibrate(pump, durations_s, measure, duty_percent=float(duty or 100.0), name=name,
                        before_each=before_each,
                        max_dose_s=config.getfloat(names.DOSING_SECTION, "max_dose_s", 120.0) or 120.0)
    except (CalibrationRefused, CalibrationError, HardwareError) as e:
        raise click.ClickException(str(e)) from None
    a, b = cal.curve_data
    click.echo(f"{cal.device}/{cal.name}: volume = {a:.4g} mL/s x duration {'+' if b >= 0 else '-'} {abs(b):.3g} mL "
               f"(R² {cal.meta['r2']:.4f}, at {cal.meta['duty_percent']:g} % duty); now active")
