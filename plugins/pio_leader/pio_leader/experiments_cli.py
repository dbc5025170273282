"""`pio experiments`: create, list, show and switch experiments; assign units; notes and metadata."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import click

from . import experiments as ex


def _open() -> None:
    from .storage import StorageError, open_leader_database

    try:
        open_leader_database()
    except StorageError as e:
        raise click.ClickException(str(e)) from None


def _guard(fn: Callable[..., Any]) -> Callable[..., Any]:
    import functools

    @functools.wraps(fn)
    def wrapped(*args: Any, **kwargs: Any) -> Any:
        _open()
        try:
            return fn(*args, **kwargs)
        except (ex.ExperimentError, ValueError) as e:
            raise click.ClickException(str(e)) from None

    return wrapped


@click.group()
def experiments() -> None:
    """Experiments on the leader (the current one is what every unit publishes under)."""


@experiments.command()
@click.argument("name")
@click.option("-d", "--description", default="", help="What the experiment is about")
@click.option("--switch/--no-switch", default=True, show_default=True, help="Make it the current experiment")
@_guard
def create(name: str, description: str, switch: bool) -> None:
    """Create an experiment (and make it current)."""
    ex.create(name, description)
    click.echo(f"created experiment {name}")
    if switch:
        ex.switch(name)
        click.echo(f"current experiment: {name}")


@experiments.command(name="list")
@_guard
def list_() -> None:
    """List experiments, newest first."""
    for e in ex.list_all():
        units = f" [{', '.join(e.units)}]" if e.units else ""
        click.echo(f"{e.created_at}  {e.name}{units}  {e.description}")


@experiments.command()
@click.argument("name")
@_guard
def show(name: str) -> None:
    """An experiment's record: units, metadata, notes."""
    e = ex.get(name)
    click.echo(f"experiment  {e.name}\ncreated_at  {e.created_at}\ndescription {e.description}")
    click.echo(f"units       {', '.join(e.units) or '-'}")
    for key, value in e.metadata.items():
        click.echo(f"meta        {key} = {value}")
    for note in ex.notes(name):
        click.echo(f"note        {note.timestamp} {note.pioreactor_unit or ''} {note.note}")


@experiments.command()
@click.argument("name")
@_guard
def switch(name: str) -> None:
    """Make NAME the current experiment (the retained pioreactor/latest_experiment/experiment)."""
    ex.switch(name)
    click.echo(f"current experiment: {name}")


@experiments.command()
def current() -> None:
    """Print the current experiment."""
    click.echo(ex.current() or "(none set)")


@experiments.command()
@click.argument("name")
@click.argument("units", nargs=-1, required=True)
@click.option("--remove", is_flag=True, help="Unassign the units instead")
@_guard
def assign(name: str, units: tuple[str, ...], remove: bool) -> None:
    """Assign units to (or with --remove, take them off) an experiment."""
    if remove:
        ex.unassign(name, list(units))
    else:
        ex.assign(name, list(units))
    click.echo(f"{name}: {', '.join(ex.get(name).units) or 'no units'}")


@experiments.command()
@click.argument("name")
@click.argument("text")
@click.option("--unit", default=None, help="The unit the note is about")
@_guard
def note(name: str, text: str, unit: str | None) -> None:
    """Add a timestamped note to an experiment."""
    click.echo(f"noted at {ex.add_note(name, text, unit)}")


@experiments.command()
@click.argument("name")
@click.argument("key")
@click.argument("value")
@_guard
def meta(name: str, key: str, value: str) -> None:
    """Set a metadata KEY to VALUE (e.g. strain, media, operator)."""
    ex.set_metadata(name, key, value)
    click.echo(f"{name}: {key} = {value}")
