"""Blanks: the signal of the vial with media only, per channel and experiment, and the ``od_blank`` action.

Stored in the data dir (``storage/od_blanks/<experiment>.json``) so every process of the unit
finds it, and published retained at ``pioreactor/<unit>/<experiment>/od_blank/mean`` and
``.../od_blank/std`` (JSON ``{"<channel>": value}``) for the UI and the leader.
"""

from __future__ import annotations

import json
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from urllib.parse import quote

import click

from . import names


@dataclass
class ChannelBlank:
    angle: str
    mean: float
    std: float
    n: int


@dataclass
class Blank:
    experiment: str
    timestamp: str
    ir_led_intensity: float
    signal_unit: str
    channels: dict[str, ChannelBlank]

    def mean(self, channel: str) -> float | None:
        c = self.channels.get(channel)
        return c.mean if c else None


def _path(experiment: str) -> Path:
    from pioreactor_kernel.paths import sub_dir

    directory = sub_dir("storage") / "od_blanks"
    directory.mkdir(exist_ok=True)
    return directory / f"{quote(experiment, safe='')}.json"


def load(experiment: str) -> Blank | None:
    """The experiment's blank, or None (none measured, or the file is unreadable)."""
    path = _path(experiment)
    try:
        data = json.loads(path.read_text())
        channels = {ch: ChannelBlank(**c) for ch, c in data.pop("channels").items()}
        return Blank(channels=channels, **data)
    except FileNotFoundError:
        return None
    except (ValueError, TypeError, KeyError, AttributeError) as e:
        import logging

        logging.getLogger("pioreactor.od_blank").error("ignoring the unreadable blank %s: %s", path, e)
        return None


def save(blank: Blank) -> Path:
    path = _path(blank.experiment)
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(asdict(blank), indent=2))
    tmp.replace(path)
    return path


def clear(experiment: str) -> bool:
    path = _path(experiment)
    existed = path.exists()
    path.unlink(missing_ok=True)
    return existed


def measure(experiment: str, *, readings: int = 10, spacing_s: float = 0.5, ir_led_intensity: float | None = None) -> Blank:
    """Read the vial ``readings`` times with the OD hardware; the mean and SD per channel."""
    from pioreactor_kernel.config import get_config
    from pioreactor_kernel.timestamps import current_utc_timestamp

    from .acquisition import ODHardware, SamplingOptions

    config = get_config()
    intensity = ir_led_intensity if ir_led_intensity is not None else config.getfloat(
        names.OD_SECTION, "ir_led_intensity", 50.0)
    hw = ODHardware(names.OD_BLANK, SamplingOptions.from_config(config))
    try:
        means, sds, errors = hw.read_mean(float(intensity or 50.0), readings, spacing_s)
        angles, unit = hw.angles, hw.chain.unit
    finally:
        hw.close()
    if not means:
        raise click.ClickException("no channel gave a usable blank: " + "; ".join(f"{c}: {e}" for c, e in errors.items()))
    for ch, e in errors.items():
        click.echo(f"channel {ch} ({angles.get(ch)}): no blank, {e}", err=True)
    channels = {ch: ChannelBlank(angles[ch], means[ch], sds[ch], readings) for ch in means}
    return Blank(experiment, current_utc_timestamp(), float(intensity or 50.0), unit, channels)


def _publish(experiment: str, blank: Blank | None) -> None:
    from pioreactor_kernel.identity import unit_name
    from pioreactor_kernel.mqtt import BrokerUnavailable, publish_once
    from pioreactor_kernel.names import unit_topic

    unit = unit_name()
    mean = json.dumps({ch: c.mean for ch, c in blank.channels.items()}) if blank else ""
    std = json.dumps({ch: c.std for ch, c in blank.channels.items()}) if blank else ""
    try:
        publish_once(unit_topic(unit, experiment, *names.BLANK_MEAN), mean, retain=True)
        publish_once(unit_topic(unit, experiment, *names.BLANK_STD), std, retain=True)
    except (BrokerUnavailable, OSError) as e:
        click.echo(f"the blank is stored, but could not be published ({e})", err=True)


@click.command(name=names.OD_BLANK)
@click.option("--readings", type=click.IntRange(2, 500), default=10, show_default=True,
              help="Readings to average (each one oversampled)")
@click.option("--spacing-s", type=click.FloatRange(0.0, 60.0), default=0.5, show_default=True,
              help="Seconds between readings")
@click.option("--ir-led-intensity", type=click.FloatRange(0.5, 100.0), default=None,
              help="IR LED intensity (%); default: [od_reading] ir_led_intensity")
@click.option("--clear", "clear_", is_flag=True, help="Forget the experiment's blank instead")
def od_blank(readings: int, spacing_s: float, ir_led_intensity: float | None, clear_: bool) -> None:
    """Measure the blank (media only) for the current experiment: mean and spread per channel.

    od_reading must not be running (it holds the photodiodes). Later readings can be shown
    blank-subtracted (`[od_reading] subtract_blank`), and growth_rate_calculating subtracts it.
    """
    from pioreactor_kernel.hardware import ChannelBusy, HardwareError
    from pioreactor_kernel.identity import current_experiment
    from pioreactor_kernel.mqtt import BrokerUnavailable

    try:
        experiment = current_experiment()
    except BrokerUnavailable:
        raise click.ClickException("cannot tell the current experiment: no broker, and PIO_EXPERIMENT is not set") from None
    if clear_:
        click.echo(f"blank of {experiment} forgotten" if clear(experiment) else f"{experiment} had no blank")
        _publish(experiment, None)
        return
    started = time.monotonic()
    try:
        blank = measure(experiment, readings=readings, spacing_s=spacing_s, ir_led_intensity=ir_led_intensity)
    except ChannelBusy as e:
        raise click.ClickException(f"{e}. Stop od_reading first (`pio kill od_reading`), measure the blank, "
                                   "then start it again") from None
    except HardwareError as e:
        raise click.ClickException(str(e)) from None
    save(blank)
    _publish(experiment, blank)
    click.echo(f"blank for {experiment} ({readings} readings in {time.monotonic() - started:.1f} s, "
               f"IR {blank.ir_led_intensity:g} %):")
    for ch, c in sorted(blank.channels.items()):
        cv = f"{100 * c.std / c.mean:.2f} %" if c.mean else "n/a"
        click.echo(f"  channel {ch} ({c.angle:>3}): mean {c.mean:.6g} {blank.signal_unit}, sd {c.std:.3g} (cv {cv})")
        if c.mean and c.std / abs(c.mean) > 0.05:
            click.echo(f"  channel {ch} is noisy: bubbles, a smudged vial, or the vial not seated?", err=True)
