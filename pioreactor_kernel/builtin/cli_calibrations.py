"""`pio calibrations list|show|set-active|delete`."""

from __future__ import annotations

import click

from pioreactor_kernel import calibrations as store


@click.group()
def calibrations() -> None:
    """List, show, activate or delete calibrations (made by `pio calibrate <device>`)."""


@calibrations.command(name="list")
@click.option("--device", default=None, help="Only this device")
def list_(device: str | None) -> None:
    """Every calibration, per device; * marks the active one."""
    found = False
    for dev in [device] if device else store.devices():
        active = store.active_name(dev)
        for name in store.list_names(dev):
            found = True
            cal = store.load(dev, name)
            mark = "*" if name == active else " "
            click.echo(f"{mark} {dev:<16} {name:<28} {cal.calibration_type:<10} {cal.y} vs {cal.x}  {cal.created_at}")
    if not found:
        click.echo("no calibrations yet: `pio calibrate --help` lists the procedures")


@calibrations.command()
@click.argument("device")
@click.argument("name", required=False)
def show(device: str, name: str | None) -> None:
    """Print a calibration (the active one if NAME is omitted): its data, curve and residuals."""
    try:
        cal = store.load(device, name) if name else store.active(device)
    except store.CalibrationError as e:
        raise click.ClickException(str(e)) from None
    if cal is None:
        raise click.ClickException(f"device {device!r} has no active calibration")
    click.echo(f"{cal.name} ({cal.calibration_type}, device {cal.device}, created {cal.created_at})")
    click.echo(f"curve: {cal.curve_type} {cal.curve_data}")
    click.echo(f"{cal.x + ' [' + cal.x_unit + ']':>24} {cal.y + ' [' + cal.y_unit + ']':>24} {'fit':>12} {'residual':>12}")
    for x, y in zip(cal.recorded_x, cal.recorded_y, strict=False):
        fit = cal.predict(x)
        click.echo(f"{x:>24.4g} {y:>24.4g} {fit:>12.4g} {y - fit:>12.4g}")


@calibrations.command(name="set-active")
@click.argument("device")
@click.argument("name")
def set_active(device: str, name: str) -> None:
    """Make NAME the active calibration of DEVICE."""
    try:
        store.set_active(device, name)
    except store.CalibrationError as e:
        raise click.ClickException(str(e)) from None
    click.echo(f"{name} is now the active calibration of {device}")


@calibrations.command()
@click.argument("device")
@click.argument("name")
@click.confirmation_option(prompt="Delete this calibration?")
def delete(device: str, name: str) -> None:
    """Delete a calibration."""
    try:
        store.delete(device, name)
    except store.CalibrationError as e:
        raise click.ClickException(str(e)) from None
    click.echo(f"deleted {device}/{name}")
