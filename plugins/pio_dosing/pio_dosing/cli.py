"""``pio bioreactor status`` and ``pio bioreactor set``: the vial's tracked liquid, read and corrected."""

from __future__ import annotations

import click

from . import names


def _experiment() -> str:
    from pioreactor_kernel.identity import current_experiment

    return current_experiment()


@click.command()
@click.option("--experiment", default=None, help="Experiment (default: the current one)")
def status(experiment: str | None) -> None:
    """Print the tracked volume and alt-media fraction of this unit's vial."""
    from .vial import VialStore

    experiment = experiment or _experiment()
    store = VialStore()
    try:
        vial, limits = store.get(experiment), store.limits
    finally:
        store.close()
    click.echo(f"experiment {experiment}")
    click.echo(f"  {names.CURRENT_VOLUME_ML:<24} {vial.current_volume_ml:.3f} mL "
               f"(working {limits.max_working_volume_ml:g} mL, max {limits.max_volume_ml:g} mL)")
    click.echo(f"  {names.ALT_MEDIA_FRACTION:<24} {vial.alt_media_fraction:.4f}")


@click.command(name="set")
@click.option("--current-volume-ml", type=float, default=None, help="The vial's volume now [mL]")
@click.option("--alt-media-fraction", type=float, default=None, help="The alt-media fraction now [0-1]")
@click.option("--experiment", default=None, help="Experiment (default: the current one)")
def set_values(current_volume_ml: float | None, alt_media_fraction: float | None, experiment: str | None) -> None:
    """Correct the tracked values (after a refill or a sample), and publish them."""
    from pioreactor_kernel.mqtt import BrokerUnavailable, MQTTClient

    from .vial import VialStore, publish_state

    if current_volume_ml is None and alt_media_fraction is None:
        raise click.UsageError("give --current-volume-ml and/or --alt-media-fraction")
    experiment = experiment or _experiment()
    store = VialStore()
    try:
        vial = store.set(experiment, current_volume_ml, alt_media_fraction)
    except ValueError as e:
        raise click.ClickException(str(e)) from None
    finally:
        store.close()
    from pioreactor_kernel.identity import unit_name

    try:
        client = MQTTClient().connect(5)
    except BrokerUnavailable as e:
        click.echo(f"saved, but not published: {e}", err=True)
    else:
        try:
            publish_state(client, unit_name(), experiment, vial)
        finally:
            client.disconnect()
    click.echo(f"{names.CURRENT_VOLUME_ML} {vial.current_volume_ml:.3f} mL, "
               f"{names.ALT_MEDIA_FRACTION} {vial.alt_media_fraction:.4f}")
