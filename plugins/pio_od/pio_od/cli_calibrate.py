"""``pio calibrate od``: OD600 standards -> a monotone curve of OD600 against the photodiode signal."""

from __future__ import annotations

import csv
import time
from collections.abc import Callable
from pathlib import Path

import click

from . import names
from .calibration import FitError, make_calibration, residuals

FILE_HELP = ("CSV of standards, one per row: od600,signal (a header naming the columns 'od600' and "
             "'signal' is optional); signals as od_reading publishes them raw")


@click.command()
@click.option("--angle", default=None, help="Photodiode angle to calibrate (90, 180, ...); default: the only one mapped")
@click.option("--name", "cal_name", default=None, help="Calibration name (default od<angle>-<date>)")
@click.option("--file", "pairs_file", type=click.Path(exists=True, dir_okay=False, path_type=Path), default=None,
              help=FILE_HELP)
@click.option("--readings", type=click.IntRange(1, 200), default=5, show_default=True,
              help="Readings averaged per standard (interactive)")
@click.option("--ir-led-intensity", type=click.FloatRange(0.5, 100.0), default=None,
              help="IR LED intensity (%); default: [od_reading] ir_led_intensity")
@click.option("--no-activate", is_flag=True, help="Store the calibration without making it active")
def calibrate_od(angle: str | None, cal_name: str | None, pairs_file: Path | None, readings: int,
                 ir_led_intensity: float | None, no_activate: bool) -> None:
    """Calibrate OD600: measure standards of known OD600 (or read them from --file), fit a monotone
    curve, show fit and residuals, and store it (active by default).

    Interactive: put each standard in the vial, enter its OD600; the unit measures it. Use a
    blank (OD600 0) and standards spanning the densities you expect: readings outside the
    standards are flagged. od_reading must not be running; restart it afterwards to use the
    new calibration.
    """
    from pioreactor_kernel import calibrations, hardware
    from pioreactor_kernel.config import get_config

    channels = hardware.hardware_map().photodiode_channels()
    angle, channel = _pick_channel(channels, angle)
    config = get_config()
    intensity = ir_led_intensity or config.getfloat(names.OD_SECTION, "ir_led_intensity", 50.0) or 50.0
    if pairs_file is not None:
        ods, signals = read_pairs(pairs_file)
        unit = "V/V" if names.REF in channels.values() else "V"
    else:
        ods, signals, unit = _measure_standards(channel, float(intensity), readings)
    name = cal_name or f"od{angle}-{time.strftime('%Y%m%d-%H%M%S')}"
    try:
        cal = make_calibration(name, angle, channel, signals, ods, signal_unit=unit, ir_led_intensity=float(intensity))
    except (FitError, ValueError) as e:
        raise click.ClickException(f"cannot fit a calibration: {e}") from None
    click.echo(f"\n{'OD600':>10} {'signal':>12} {'fit':>10} {'residual':>10}")
    worst = 0.0
    for x, y, fit, res in residuals(cal):
        worst = max(worst, abs(res))
        click.echo(f"{y:>10.4g} {x:>12.5g} {fit:>10.4g} {res:>+10.3g}")
    click.echo(f"monotone curve through {len(set(cal.recorded_x))} signals; largest residual {worst:.3g} OD600; "
               f"calibrated range OD600 {min(ods):g}-{max(ods):g} (signal {min(signals):.4g}-{max(signals):.4g} {unit})")
    try:
        path = calibrations.save(cal, activate=not no_activate)
    except calibrations.CalibrationError as e:
        raise click.ClickException(str(e)) from None
    state = "stored" if no_activate else "stored and active"
    click.echo(f"calibration {name} for {cal.device} {state} ({path}); restart od_reading to use it")


def _pick_channel(channels: dict[str, str], angle: str | None) -> tuple[str, str]:
    signal_channels = {ch: a for ch, a in channels.items() if a != names.REF}
    if not signal_channels:
        raise click.ClickException("no photodiode measures the culture: map one in [hardware.photodiodes]")
    angles = sorted(set(signal_channels.values()))
    if angle is None:
        if len(angles) > 1:
            angle = click.prompt("Which photodiode angle?", type=click.Choice(angles))
        else:
            angle = angles[0]
    matches = [ch for ch, a in sorted(signal_channels.items()) if a == angle]
    if not matches:
        raise click.ClickException(f"no photodiode at angle {angle!r}; mapped: " +
                                   ", ".join(f"{c} ({a})" for c, a in sorted(signal_channels.items())))
    return str(angle), matches[0]


def read_pairs(path: Path) -> tuple[list[float], list[float]]:
    """(od600s, signals) from a CSV file; a ClickException naming the line if one is not two numbers."""
    ods: list[float] = []
    signals: list[float] = []
    order = (0, 1)
    with path.open(newline="") as f:
        for lineno, row in enumerate(csv.reader(f), start=1):
            cells = [c.strip() for c in row]
            if not any(cells) or cells[0].startswith("#"):
                continue
            lowered = [c.lower() for c in cells]
            if lineno == 1 and "signal" in lowered:
                od_col = next((i for i, c in enumerate(lowered) if c in ("od600", "od")), None)
                if od_col is None:
                    raise click.ClickException(f"{path}: the header needs an 'od600' and a 'signal' column")
                order = (od_col, lowered.index("signal"))
                continue
            try:
                od, signal = float(cells[order[0]]), float(cells[order[1]])
            except (ValueError, IndexError):
                raise click.ClickException(f"{path}, line {lineno}: expected od600,signal, got {','.join(cells)!r}") from None
            ods.append(od)
            signals.append(signal)
    if len(ods) < 2:
        raise click.ClickException(f"{path}: at least two standards are needed, found {len(ods)}")
    return ods, signals


def measure_standard(channel: str, intensity: float, readings: int) -> tuple[float, float, str]:
    """(mean signal, SD, unit) of the vial as it is now, on ``channel``."""
    from pioreactor_kernel.config import get_config
    from pioreactor_kernel.hardware import ChannelBusy, HardwareError

    from .acquisition import ODHardware, SamplingOptions

    try:
        hw = ODHardware("od_calibration", SamplingOptions.from_config(get_config()))
    except ChannelBusy as e:
        raise click.ClickException(f"{e}. Stop od_reading first (`pio kill od_reading`)") from None
    except HardwareError as e:
        raise click.ClickException(str(e)) from None
    try:
        means, sds, errors = hw.read_mean(intensity, readings)
        unit = hw.chain.unit
    finally:
        hw.close()
    if channel not in means:
        raise click.ClickException(f"channel {channel} gave no reading: {errors.get(channel, 'unknown error')}")
    return means[channel], sds[channel], unit


def _measure_standards(channel: str, intensity: float, readings: int,
                       measure: Callable[[str, float, int], tuple[float, float, str]] | None = None,
                       ) -> tuple[list[float], list[float], str]:
    measure = measure or measure_standard
    ods: list[float] = []
    signals: list[float] = []
    unit = ""
    click.echo("Put each standard in the vial (start with the blank, OD600 0), enter its OD600, and the unit "
               "measures it. Enter 'done' when finished.")
    while True:
        prompt = f"Standard {len(ods) + 1}: OD600" + (" (or 'done')" if len(ods) >= 2 else "")
        answer = click.prompt(prompt, type=str).strip().lower()
        if answer in ("done", "d", "") and len(ods) >= 2:
            return ods, signals, unit
        try:
            od = float(answer)
        except ValueError:
            click.echo(f"{answer!r} is not a number", err=True)
            continue
        if not (0 <= od < 100):
            click.echo(f"OD600 {od} is outside 0-100", err=True)
            continue
        signal, sd, unit = measure(channel, intensity, readings)
        click.echo(f"  signal {signal:.5g} {unit} (sd {sd:.2g} over {readings} readings)")
        ods.append(od)
        signals.append(signal)
