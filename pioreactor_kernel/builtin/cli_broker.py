"""`pio broker up|down|status`: the unit's own Mosquitto (data dir broker/, port from [mqtt] port)."""

from __future__ import annotations

import click

from pioreactor_kernel.broker import Broker, BrokerError, port_open
from pioreactor_kernel.config import get_config
from pioreactor_kernel.paths import data_dir


def _broker(lan: bool = False) -> Broker:
    port = get_config().getint("mqtt", "port", 1883) or 1883
    return Broker(data_dir() / "broker", port=port, bind="0.0.0.0" if lan else "127.0.0.1")


@click.group()
def broker() -> None:
    """Start, stop or check this data dir's Mosquitto broker."""


@broker.command()
@click.option("--lan", is_flag=True, help="Listen on every interface (for workers), not only loopback")
def up(lan: bool) -> None:
    """Start the broker (idempotent) with a generated config."""
    b = _broker(lan)
    if b.pid() is not None:
        click.echo(f"broker already running (pid {b.pid()}) on port {b.port}")
        return
    try:
        b.start(daemon=True)
    except BrokerError as e:
        raise click.ClickException(str(e)) from None
    click.echo(f"broker started on {b.bind}:{b.port} (pid {b.pid()}; config {b.directory / 'mosquitto.conf'})")


@broker.command()
def down() -> None:
    """Stop the broker."""
    b = _broker()
    click.echo("broker stopped" if b.stop() else "broker was not running")


@broker.command()
def status() -> None:
    """Say whether the broker runs and answers."""
    b = _broker()
    pid = b.pid()
    answering = port_open("127.0.0.1", b.port)
    click.echo(f"broker: {'running (pid ' + str(pid) + ')' if pid else 'not started by us'}; "
               f"port {b.port} {'answers' if answering else 'closed'}")
    if not answering:
        raise SystemExit(1)
