"""`pio leader up|down|status` and `pio worker up|down|status`: idempotent, and they say what they did."""

from __future__ import annotations

import sqlite3
import subprocess
import sys

from clustertools import SimUnit, use_env
from pioreactor_kernel.broker import Broker, free_port, port_open
from pioreactor_kernel.testing import wait_for


def pio(unit: SimUnit, *args: str, timeout: float = 90) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "pioreactor_kernel", *args], env=unit.process_env(),
                          capture_output=True, text=True, timeout=timeout)


def lines(result: subprocess.CompletedProcess[str]) -> dict[str, str]:
    return {line.split(":")[0]: line for line in result.stdout.splitlines() if ":" in line}


def command_log(unit: SimUnit) -> set[tuple]:
    path = unit.data_dir / "storage" / "pioreactor.sqlite"
    if not path.exists():
        return set()
    try:
        with sqlite3.connect(path) as db:
            return set(db.execute("SELECT kind, action, ok FROM cluster_command_log"))
    except sqlite3.OperationalError:  # the table is not there yet
        return set()


def jobs_installed(unit: SimUnit, monkeypatch) -> set[str]:
    use_env(monkeypatch, unit)
    from pioreactor_kernel.plugins import plugin_manager

    return set(plugin_manager().jobs)


def test_leader_up_starts_broker_and_agent_idempotently_and_down_stops_them(fresh_unit, monkeypatch):
    port = free_port()
    # the UI is started the same way as mqtt_to_db; left out here so that this suite does not test pio-ui's server
    leader = fresh_unit(cluster_in_file=True, PIO__mqtt__port=str(port), PIO_DISABLE_PLUGINS="ui")
    (leader.data_dir / "config.ini").write_text("# the lab's leader\n[cluster]\nzeroconf = false\n")
    installed = jobs_installed(leader, monkeypatch)
    try:
        up = pio(leader, "leader", "up")
        assert up.returncode == 0, up.stdout + up.stderr
        said = lines(up)
        assert f"started on 127.0.0.1:{port}" in said["broker"] and "persistence" in said["broker"]
        assert said["agent"].startswith("agent: started")
        for job in ("mqtt_to_db", "ui"):  # pio-leader's writer and pio-ui's server, when installed
            expected = f"{job}: started" if job in installed else f"{job}: not installed, skipped"
            assert said[job].startswith(expected), up.stdout
        assert "generated the cluster's [cluster] secret" in up.stdout
        config_text = (leader.data_dir / "config.ini").read_text()
        assert "# the lab's leader" in config_text and "secret = " in config_text
        assert port_open("127.0.0.1", port)
        conf = (leader.data_dir / "broker" / "mosquitto.conf").read_text()
        assert "persistence true" in conf and "max_queued_messages 0" in conf and f"listener {port} 127.0.0.1" in conf

        again = pio(leader, "leader", "up")
        assert again.returncode == 0, again.stdout + again.stderr
        assert "broker: already running" in again.stdout and "agent: already running" in again.stdout
        assert "generated" not in again.stdout
        assert pio(leader, "leader", "status").returncode == 0

        use_env(monkeypatch, leader)  # its agent takes the leader's own commands (a leader can be a worker too)
        from pio_cluster.client import ClusterClient

        with ClusterClient() as client:
            [answer] = client.send([leader.name], "status", {}, timeout_s=10)
        assert answer.ok, answer.detail
        if "mqtt_to_db" in installed:  # our register_tables parsers: the leader's database logs commands and replies
            wait_for(lambda: command_log(leader) >= {("command", "status", None), ("reply", "status", 1)}, 30,
                     what=f"the command log in the leader's database (has {command_log(leader)})")

        down = pio(leader, "leader", "down")
        assert down.returncode == 0, down.stdout + down.stderr
        assert "agent: stopped" in down.stdout and "broker: stopped" in down.stdout
        assert not port_open("127.0.0.1", port) and leader.held_jobs() == {}
        status = pio(leader, "leader", "status")
        assert status.returncode == 1 and "agent: stopped" in status.stdout
        assert "broker: not running" in pio(leader, "leader", "down").stdout
    finally:
        pio(leader, "leader", "down")
        Broker(leader.data_dir / "broker", port=port).stop()


def test_worker_up_starts_the_agent_and_its_start_jobs_and_down_stops_them(cluster, fresh_unit):
    worker = fresh_unit(leader=cluster.leader.name, PIO__worker__start_jobs="probe,not_a_job")
    up = pio(worker, "worker", "up")
    assert up.returncode == 0, up.stdout + up.stderr
    said = lines(up)
    assert said["agent"].startswith("agent: started") and said["probe"].startswith("probe: started")
    assert "not_a_job: not installed, skipped" in up.stdout
    assert set(worker.held_jobs()) == {"agent", "probe"}
    again = pio(worker, "worker", "up")
    assert "agent: already running" in again.stdout and "probe: already running" in again.stdout
    assert pio(worker, "worker", "status").returncode == 0

    down = pio(worker, "worker", "down")
    assert down.returncode == 0 and "probe: stopped" in down.stdout and "agent: stopped" in down.stdout
    assert worker.held_jobs() == {}
    assert pio(worker, "worker", "status").returncode == 1


def test_worker_up_without_a_broker_says_so_and_fails(fresh_unit):
    worker = fresh_unit(PIO__mqtt__port=str(free_port()))
    up = pio(worker, "worker", "up")
    assert up.returncode == 1 and "no MQTT broker answered" in up.stdout + up.stderr
    assert worker.held_jobs() == {}
