"""`pio config show|get|set`."""

from __future__ import annotations

import click

from pioreactor_kernel.config import ConfigError, get_config, set_value


@click.group()
def config() -> None:
    """Show, get or set configuration (defaults < config.ini < unit_config.ini < PIO__section__key)."""


@config.command()
@click.option("--origin", is_flag=True, help="Show which layer each value comes from")
def show(origin: bool) -> None:
    """Print the effective configuration."""
    current = None
    for section, key, value, where in sorted(get_config().items()):
        if section != current:
            click.echo(f"\n[{section}]" if current else f"[{section}]")
            current = section
        click.echo(f"{key} = {value}" + (f"    ; {where}" if origin else ""))


@config.command()
@click.argument("name", metavar="SECTION.KEY")
def get(name: str) -> None:
    """Print one value (exit 1 if unset)."""
    section, key = _split(name)
    value = get_config().get(section, key)
    if value is None:
        raise click.ClickException(f"{name} is not set")
    click.echo(value)


@config.command(name="set")
@click.argument("name", metavar="SECTION.KEY")
@click.argument("value")
@click.option("--shared", is_flag=True, help="Write to the shared config.ini instead of unit_config.ini")
def set_(name: str, value: str, shared: bool) -> None:
    """Write one value to this unit's unit_config.ini (or, with --shared, config.ini)."""
    section, key = _split(name)
    try:
        path = set_value(section, key, value, shared=shared)
    except ConfigError as e:
        raise click.ClickException(str(e)) from None
    click.echo(f"{section}.{key} = {value}  (in {path})")


def _split(name: str) -> tuple[str, str]:
    section, dot, key = name.rpartition(".")
    if not dot or not section or not key:
        raise click.BadParameter(f"{name!r}: expected SECTION.KEY, e.g. mqtt.port")
    return section, key
