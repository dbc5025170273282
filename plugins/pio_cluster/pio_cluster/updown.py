"""``pio leader up|down|status`` and ``pio worker up|down|status``: bring a unit's services up or down.

Idempotent: what already runs is left alone and said so. The leader runs the broker (Mosquitto
with the kernel's generated config: persistence on, no per-client queue limit, listening on
``[cluster] broker_bind``), ``mqtt_to_db`` (pio-leader), the agent and ``ui`` (when installed).
A worker runs the agent and ``[worker] start_jobs``.
"""

from __future__ import annotations

import secrets
import sys
from typing import Any

import click
from pioreactor_kernel import registry
from pioreactor_kernel.config import SHARED_FILE, get_config
from pioreactor_kernel.identity import unit_name
from pioreactor_kernel.mqtt import BrokerUnavailable, MQTTClient
from pioreactor_kernel.paths import data_dir
from pioreactor_kernel.plugins import plugin_manager

from . import procs
from .configtext import with_secret
from .names import AGENT, MIN_SECRET_CHARS, SECTION, WORKER_SECTION

LEADER_JOBS = ("mqtt_to_db", AGENT, "ui")
READY_TIMEOUT_S = 30.0
CONNECT_TIMEOUT_S = 3.0  # a broker on this machine or the LAN answers well within it


def _broker() -> Any:
    from pioreactor_kernel.broker import Broker

    config = get_config()
    return Broker(data_dir() / "broker", port=config.getint("mqtt", "port", 1883) or 1883,
                  bind=config.get(SECTION, "broker_bind") or "0.0.0.0")


def start_jobs(jobs: list[str]) -> bool:
    """Start each job not running yet, in order; print one line each. False if any failed."""
    installed = plugin_manager().jobs
    wanted = [j for j in jobs if j in installed]
    for job in jobs:
        if job not in installed:
            click.echo(f"{job}: not installed, skipped")
    if not wanted:
        return True
    try:
        client = MQTTClient(f"pio-up-{unit_name()}-{id(jobs) & 0xFFFF:x}")
        watcher = procs.StateWatcher(client, unit_name())
        client.connect(CONNECT_TIMEOUT_S)
    except BrokerUnavailable as e:
        click.echo(f"cannot start {', '.join(wanted)}: {e}", err=True)
        return False
    ok = True
    try:
        client.sync()
        for job in wanted:
            held = registry.read(job)
            if held is not None:
                click.echo(f"{job}: already running (pid {held.pid}, experiment {held.experiment})")
                continue
            proc = procs.spawn(job)
            started, detail, _ = procs.wait_ready(proc, job, watcher, READY_TIMEOUT_S)
            if started:
                click.echo(f"{job}: started, {detail.split(' ', 1)[1]}; output {procs.out_file(job)}")
            else:
                ok = False
                click.echo(click.style(f"{job}: FAILED: {detail}", fg="red"))
    finally:
        client.disconnect(0.5)
    return ok


def stop_jobs(jobs: list[str]) -> None:
    for job in jobs:
        click.echo(procs.stop(job))


def job_status(jobs: list[str]) -> bool:
    installed = plugin_manager().jobs
    all_up = True
    for job in jobs:
        held = registry.read(job)
        if held is not None:
            click.echo(f"{job}: running (pid {held.pid}, experiment {held.experiment}, since {held.started_at})")
        elif job in installed:
            all_up = False
            click.echo(f"{job}: stopped")
        else:
            click.echo(f"{job}: not installed")
    return all_up


def ensure_secret() -> None:
    secret = get_config().get(SECTION, "secret") or ""
    if len(secret) >= MIN_SECRET_CHARS:
        return
    path = data_dir() / SHARED_FILE
    text = path.read_text(encoding="utf-8") if path.exists() else ""
    incoming = path.with_suffix(".incoming")
    incoming.write_text(with_secret(text, secrets.token_urlsafe(32)), encoding="utf-8")  # keeps the comments
    incoming.replace(path)
    get_config(reload=True)
    click.echo(f"generated the cluster's [cluster] secret in {path}: give every worker the same value "
               "(`pio config set cluster.secret <value>` on each; `pio config get cluster.secret` shows it)")


@click.group()
def leader() -> None:
    """Bring the leader's services up or down: broker, mqtt_to_db, agent, ui."""


@leader.command()
def up() -> None:
    """Start the broker, mqtt_to_db, the agent and the UI (those installed and not running)."""
    from pioreactor_kernel.broker import BrokerError, port_open

    ensure_secret()
    broker = _broker()
    pid = broker.pid()
    if pid is not None:
        click.echo(f"broker: already running (pid {pid}) on {broker.bind}:{broker.port}")
    elif port_open("127.0.0.1", broker.port):
        click.echo(f"broker: port {broker.port} already answers (a broker not started by us); using it")
    else:
        try:
            broker.start(daemon=True)
        except BrokerError as e:
            raise click.ClickException(f"broker: {e}") from None
        click.echo(f"broker: started on {broker.bind}:{broker.port} (pid {broker.pid()}; config "
                   f"{broker.directory / 'mosquitto.conf'}, persistence {broker.directory / 'db'})")
    if not start_jobs(list(LEADER_JOBS)):
        sys.exit(1)


@leader.command()
def down() -> None:
    """Stop the UI, the agent, mqtt_to_db, then the broker."""
    stop_jobs(list(reversed(LEADER_JOBS)))
    broker = _broker()
    click.echo(f"broker: stopped (port {broker.port})" if broker.stop() else "broker: not running (not started by us)")


@leader.command()
def status() -> None:
    """Say what runs on the leader (exit 1 if something installed is not running)."""
    from pioreactor_kernel.broker import port_open

    broker = _broker()
    pid, answers = broker.pid(), port_open("127.0.0.1", broker.port)
    click.echo(f"broker: {'running (pid ' + str(pid) + ')' if pid else 'not started by us'}; "
               f"port {broker.port} {'answers' if answers else 'closed'}")
    if not (job_status(list(LEADER_JOBS)) and answers):
        sys.exit(1)


def _worker_jobs() -> list[str]:
    jobs = get_config().getlist(WORKER_SECTION, "start_jobs")
    return [AGENT, *[j for j in jobs if j != AGENT]]


@click.group()
def worker() -> None:
    """Bring a worker up or down: the agent and [worker] start_jobs."""


@worker.command(name="up")
def worker_up() -> None:
    """Start the agent, then the jobs of [worker] start_jobs (those not running yet)."""
    if not start_jobs(_worker_jobs()):
        sys.exit(1)


@worker.command(name="down")
def worker_down() -> None:
    """Stop the jobs of [worker] start_jobs, then the agent."""
    stop_jobs(list(reversed(_worker_jobs())))


@worker.command(name="status")
def worker_status() -> None:
    """Say whether the agent and [worker] start_jobs run (exit 1 if one is stopped)."""
    if not job_status(_worker_jobs()):
        sys.exit(1)
