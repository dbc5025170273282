"""`pio mqtt` (the live event log) and `pio logs` (this unit's log file)."""

from __future__ import annotations

import json
import time
from pathlib import Path

import click


def format_message(topic: str, payload: bytes, retained: bool) -> str:
    """One readable line per message: time, topic, and the payload (logs pretty-printed)."""
    text = payload.decode("utf-8", errors="replace")
    stamp = time.strftime("%H:%M:%S")
    flag = " (retained)" if retained else ""
    if "/logs/" in topic and text.startswith("{"):
        try:
            log = json.loads(text)
            return f"{stamp} {log.get('level', ''):<8} [{topic.split('/')[1]} {log.get('task', '')}] {log.get('message', '')}{flag}"
        except ValueError:
            pass
    if len(text) > 400:
        text = text[:400] + f"... ({len(payload)} bytes)"
    return f"{stamp} {topic} {text}{flag}"


@click.command()
@click.option("-t", "--topic", "topics", multiple=True, default=["pioreactor/#"], show_default=True,
              help="Topic filter (repeatable)")
@click.option("--no-retained", is_flag=True, help="Skip retained messages sent on subscribing")
@click.option("-n", "--count", type=int, default=None, help="Exit after this many messages")
def mqtt(topics: tuple[str, ...], no_retained: bool, count: int | None) -> None:
    """Print the live MQTT event log, from the broker in config ([mqtt] host, port)."""
    import threading

    from pioreactor_kernel.mqtt import BrokerUnavailable, Message, MQTTClient

    done = threading.Event()
    seen = 0

    def show(message: Message) -> None:
        nonlocal seen
        if no_retained and message.retain:
            return
        click.echo(format_message(message.topic, bytes(message.payload), message.retain))
        seen += 1
        if count is not None and seen >= count:
            done.set()

    client = MQTTClient()
    client.subscribe(list(topics), show, qos=0)
    try:
        client.connect(5)
    except BrokerUnavailable as e:
        raise click.ClickException(str(e)) from None
    click.echo(f"# listening on {client.address.host}:{client.address.port} to {', '.join(topics)}", err=True)
    try:
        while not done.wait(0.5):
            pass
    except KeyboardInterrupt:
        pass
    finally:
        client.disconnect(0.2)


@click.command()
@click.option("-f", "--follow", is_flag=True, help="Keep printing new lines")
@click.option("-n", "--lines", default=50, show_default=True, help="How many of the last lines to show")
def logs(follow: bool, lines: int) -> None:
    """Show this unit's log file (data dir logs/pioreactor.log)."""
    from pioreactor_kernel.logs import LOG_FILE
    from pioreactor_kernel.paths import sub_dir

    path = sub_dir("logs") / LOG_FILE
    if not path.exists():
        click.echo(f"no log yet at {path}")
        if not follow:
            return
        path.touch()
    for line in _tail(path, lines):
        click.echo(line)
    if follow:
        with path.open(encoding="utf-8", errors="replace") as f:
            f.seek(0, 2)
            try:
                while True:
                    line = f.readline()
                    if line:
                        click.echo(line.rstrip("\n"))
                    else:
                        time.sleep(0.2)
            except KeyboardInterrupt:
                pass


def _tail(path: Path, lines: int) -> list[str]:
    with path.open("rb") as f:
        f.seek(0, 2)
        size = f.tell()
        f.seek(max(0, size - 200 * max(lines, 1)))
        data = f.read().decode("utf-8", errors="replace").splitlines()
    return data[-lines:] if lines > 0 else []
