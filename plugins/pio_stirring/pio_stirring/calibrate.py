"""``pio calibrate stirring``: sweep duty cycles, measure RPM, fit RPM vs duty, store and show it."""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Sequence

import click

from . import CALIBRATION_DEVICE, CONFIG_SECTION, JOB_NAME
from .curve import Fit, polyfit

STALL_FRACTION = 0.05  # points below this fraction of the fastest are "stalled" and left out of the fit


def sweep(duties: Sequence[float], settle_s: float, measure_s: float, pulses_per_revolution: float,
          echo: Callable[[str], None] = print) -> list[tuple[float, float]]:
    """Drive the motor at each duty (in the order given), wait ``settle_s``, count RPM over ``measure_s``."""
    from pioreactor_kernel import hardware

    points = []
    with hardware.DeviceSet(owner="stirring_calibration") as devices:
        motor = devices.pwm(hardware.STIRRING)
        tachometer = devices.edge_counter(hardware.TACHOMETER)
        for duty in duties:
            motor.set_duty(duty)
            time.sleep(settle_s)
            t0, c0 = time.monotonic(), tachometer.count()
            time.sleep(measure_s)
            t1, c1 = time.monotonic(), tachometer.count()
            rpm = (c1 - c0) / pulses_per_revolution / (t1 - t0) * 60.0
            points.append((float(duty), rpm))
            echo(f"  duty {duty:5.1f} %  ->  {rpm:7.1f} RPM")
        motor.set_duty(0)
    return points


def fit_points(points: Sequence[tuple[float, float]], degree: int) -> tuple[Fit, list[tuple[float, float]],
                                                                             list[tuple[float, float]]]:
    """Fit the points above the stall; return (fit, fitted points, stalled points)."""
    fastest = max((rpm for _, rpm in points), default=0.0)
    if fastest <= 0:
        raise click.ClickException("the tachometer counted nothing at any duty cycle: is the motor connected, "
                                   "the stir bar in place, and the tachometer wired? ([stirring] tachometer)")
    moving = sorted((d, r) for d, r in points if r >= STALL_FRACTION * fastest)
    stalled = sorted((d, r) for d, r in points if r < STALL_FRACTION * fastest)
    if len(moving) < degree + 2:
        raise click.ClickException(f"only {len(moving)} duty cycles turned the stirrer (stalled at "
                                   f"{', '.join(f'{d:g} %' for d, _ in stalled)}): raise --min-duty or add --steps")
    fit = polyfit([d for d, _ in moving], [r for _, r in moving], degree)
    return fit, moving, stalled


def terminal_plot(points: Sequence[tuple[float, float]], fit: Fit, width: int = 60, height: int = 16) -> str:
    """A scatter of the measured points (o) over the fitted curve (.), with axes, as text."""
    xs = [d for d, _ in points]
    x_lo, x_hi = min(xs), max(xs)
    curve = [(x_lo + (x_hi - x_lo) * i / (width - 1), 0.0) for i in range(width)]
    curve = [(x, fit.predict(x)) for x, _ in curve]
    ys = [r for _, r in points] + [y for _, y in curve]
    y_lo, y_hi = min(ys), max(ys)
    span_x, span_y = (x_hi - x_lo) or 1.0, (y_hi - y_lo) or 1.0
    grid = [[" "] * width for _ in range(height)]

    def put(x: float, y: float, mark: str) -> None:
        col = round((x - x_lo) / span_x * (width - 1))
        row = height - 1 - round((y - y_lo) / span_y * (height - 1))
        grid[row][col] = mark

    for x, y in curve:
        put(x, y, ".")
    for x, y in points:
        put(x, y, "o")
    lines = [f"{y_hi:8.0f}" if i == 0 else f"{y_lo:8.0f}" if i == height - 1 else " " * 8 for i in range(height)]
    out = [f"{label} |{''.join(row)}" for label, row in zip(lines, grid, strict=True)]
    out.append(" " * 9 + "+" + "-" * width)
    out.append(" " * 9 + f"{x_lo:<10g}{'duty cycle (%)':^{width - 20}}{x_hi:>10g}")
    return "RPM\n" + "\n".join(out)


def describe_fit(fit: Fit, degree: int) -> str:
    text = ""
    for power, c in zip(range(degree, -1, -1), fit.coefficients, strict=True):
        term = f"{abs(c):.4g}" + ("" if power == 0 else " * duty" if power == 1 else f" * duty^{power}")
        text += (("-" if c < 0 else "") if not text else (" - " if c < 0 else " + ")) + term
    return f"RPM = {text}   (RMSE {fit.rmse:.1f} RPM, R^2 {fit.r_squared:.4f})"


def _positive(ctx: click.Context, param: click.Parameter, value: float) -> float:
    if not math.isfinite(value) or value <= 0:
        raise click.BadParameter(f"{value!r} must be a positive number of seconds")
    return value


def _percent(ctx: click.Context, param: click.Parameter, value: float) -> float:
    if not math.isfinite(value) or not 0 <= value <= 100:
        raise click.BadParameter(f"{value!r} must be a duty cycle between 0 and 100 %")
    return value


@click.command()
@click.option("--min-duty", default=20.0, show_default=True, callback=_percent, help="Lowest duty cycle [%]")
@click.option("--max-duty", default=80.0, show_default=True, callback=_percent, help="Highest duty cycle [%]")
@click.option("--steps", default=7, show_default=True, type=click.IntRange(3, 50), help="Duty cycles to measure")
@click.option("--settle-s", default=4.0, show_default=True, callback=_positive, help="Wait after each change [s]")
@click.option("--measure-s", default=4.0, show_default=True, callback=_positive, help="Count pulses for [s]")
@click.option("--degree", default=1, show_default=True, type=click.IntRange(1, 3), help="Polynomial degree of the fit")
@click.option("--name", default=None, help="Calibration name (default: stirring-<timestamp>)")
@click.option("-y", "--yes", is_flag=True, help="Do not ask for confirmation")
def calibrate_stirring(min_duty: float, max_duty: float, steps: int, settle_s: float, measure_s: float, degree: int,
                       name: str | None, yes: bool) -> None:
    """Sweep the stirring motor's duty cycle, fit RPM vs duty and store it as the active stirring calibration.

    Needs a vial with liquid and a stir bar in place, and the stirring job stopped.
    """
    from pioreactor_kernel import calibrations, hardware, registry
    from pioreactor_kernel.config import get_config
    from pioreactor_kernel.timestamps import current_utc_timestamp

    if min_duty >= max_duty:
        raise click.BadParameter(f"--min-duty ({min_duty:g}) must be below --max-duty ({max_duty:g})")
    running = registry.read(JOB_NAME)
    if running is not None:
        raise click.ClickException(f"the stirring job is running (pid {running.pid}): stop it first with "
                                   "`pio kill stirring`")
    config = get_config()
    if not config.getboolean(CONFIG_SECTION, "tachometer", True):
        raise click.ClickException("[stirring] tachometer = false: a stirring calibration needs the tachometer")
    pulses = config.getfloat(CONFIG_SECTION, "pulses_per_revolution", 2.0) or 2.0
    name = name or "stirring-" + current_utc_timestamp()[:19].replace(":", "-")
    if not yes:
        seconds = steps * (settle_s + measure_s)
        click.confirm(f"The stirrer will spin up to {max_duty:g} % duty for about {seconds:.0f} s. "
                      "Is a vial with liquid and a stir bar in place?", abort=True)
    # from fast to slow: a spinning bar keeps turning at duties it could not start from
    duties = [max_duty - (max_duty - min_duty) * i / (steps - 1) for i in range(steps)]
    click.echo(f"sweeping {steps} duty cycles from {max_duty:g} % down to {min_duty:g} %")
    try:
        points = sweep(duties, settle_s, measure_s, pulses, echo=click.echo)
    except hardware.HardwareError as e:
        raise click.ClickException(str(e)) from None
    fit, moving, stalled = fit_points(points, degree)
    click.echo("")
    click.echo(terminal_plot(moving, fit))
    click.echo("")
    click.echo(describe_fit(fit, degree))
    click.echo(f"{'duty (%)':>10} {'RPM':>10} {'fit':>10} {'residual':>10}")
    for (duty, rpm), residual in zip(moving, fit.residuals, strict=True):
        click.echo(f"{duty:>10.1f} {rpm:>10.1f} {rpm - residual:>10.1f} {residual:>+10.1f}")
    for duty, rpm in stalled:
        click.echo(f"{duty:>10.1f} {rpm:>10.1f} {'(stalled: left out of the fit)':>32}")
    calibration = calibrations.Calibration(
        device=CALIBRATION_DEVICE, name=name, calibration_type="stirring", x="duty_cycle", y="rpm", x_unit="%",
        y_unit="RPM", recorded_x=[d for d, _ in moving], recorded_y=[r for _, r in moving], curve_type="poly",
        curve_data=list(fit.coefficients),
        meta={"rmse_rpm": fit.rmse, "r_squared": fit.r_squared, "stalled_points": [list(p) for p in stalled],
              "settle_s": settle_s, "measure_s": measure_s, "pulses_per_revolution": pulses},
    )
    try:
        path = calibrations.save(calibration)
    except calibrations.CalibrationError as e:
        raise click.ClickException(str(e)) from None
    click.echo(f"saved {path} as the active stirring calibration; the next `pio run stirring` starts from it")
