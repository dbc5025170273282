"""``pio run led_intensity --A 50 --B 0``: set LED channels; they stay lit after this command exits."""

from __future__ import annotations

import click

from . import CHANNELS


@click.command()
@click.option("--A", "a", type=float, default=None, help="Channel A intensity [%] (by default the IR LED)")
@click.option("--B", "b", type=float, default=None, help="Channel B intensity [%]")
@click.option("--C", "c", type=float, default=None, help="Channel C intensity [%]")
@click.option("--D", "d", type=float, default=None, help="Channel D intensity [%]")
@click.option("--source-of-event", default="led_intensity", show_default=True,
              help="Who asks (recorded in led_change_events)")
@click.option("--timeout", "timeout_s", type=click.FloatRange(0.1, 120), default=10.0, show_default=True,
              help="Seconds to wait for the LED owner's answer [s]")
def led_intensity(a: float | None, b: float | None, c: float | None, d: float | None, source_of_event: str,
                  timeout_s: float) -> None:
    """Set LED intensities (0-100 %); with no channel given, print the current ones.

    The unit's LED owner (job `leds`, started on demand) holds lit channels, so they stay lit.
    """
    from .api import LEDClient
    from .channels import LEDError, parse_intensities

    desired = {ch: v for ch, v in zip(CHANNELS, (a, b, c, d), strict=True) if v is not None}
    try:
        if desired:
            parse_intensities(desired)
        with LEDClient(source_of_event=source_of_event) as client:
            now = client.set(desired, timeout_s=timeout_s) if desired else client.intensities()
    except LEDError as e:
        raise click.ClickException(str(e)) from None
    click.echo("  ".join(f"{ch}: {now.get(ch, 0.0):g} %" for ch in CHANNELS))
