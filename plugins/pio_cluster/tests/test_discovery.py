"""Zeroconf on the loopback interface only (and, when root may make them, across network namespaces)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import threading
import uuid
from types import SimpleNamespace

import pytest
from click.testing import CliRunner
from clustertools import use_env, wait_agents_ready
from pioreactor_kernel.testing import wait_for

from pio_cluster.discovery import Advertiser, _zeroconf, browse, resolve_host

LOOPBACK = ["127.0.0.1"]


def name() -> str:
    return f"z{uuid.uuid4().hex[:8]}"


@pytest.fixture(scope="module")
def lab():
    """A worker and a leader advertising on loopback (started together), and a way to add more."""
    made: list[Advertiser] = []

    def make(unit: str, address: str, role: str = "worker", check_s: float = 2.0) -> Advertiser:
        adv = Advertiser(unit, role, "0.1.0", 1883, interfaces=LOOPBACK, addresses=[address], check_s=check_s)
        made.append(adv)
        return adv

    worker, leader = make(name(), "127.0.0.11", check_s=0.5), make(name(), "127.0.0.12", "leader", check_s=0.5)
    statuses: dict[str, dict] = {}
    threads = [threading.Thread(target=lambda a=a: statuses.__setitem__(a.unit, a.start())) for a in (worker, leader)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    try:
        yield SimpleNamespace(worker=worker, leader=leader, statuses=statuses, make=make)
    finally:
        for adv in made:
            adv.close()


def test_units_advertise_and_are_discovered_with_name_role_version_and_address(lab):
    assert lab.statuses[lab.worker.unit]["advertised"] and lab.statuses[lab.leader.unit]["advertised"]
    found = {f.name: f for f in browse(2.0, LOOPBACK)}
    w = found[lab.worker.unit]
    assert (w.role, w.version, w.addresses, w.conflict) == ("worker", "0.1.0", ["127.0.0.11"], None)
    assert found[lab.leader.unit].role == "leader" and found[lab.leader.unit].addresses == ["127.0.0.12"]


def test_the_leader_also_answers_to_pioreactor_local(lab):
    assert lab.statuses[lab.leader.unit]["alias"] == "pioreactor.local", lab.statuses
    assert resolve_host(lab.worker.zc, "pioreactor.local.", timeout_s=3.0) == ["127.0.0.12"]


def test_a_second_unit_with_the_same_name_reports_the_conflict_and_does_not_advertise(lab):
    second = lab.make(lab.worker.unit, "127.0.0.22").start()
    assert not second["advertised"]
    assert "already advertises unit" in second["conflict"] and "127.0.0.11" in second["conflict"]
    assert resolve_host(lab.leader.zc, f"{lab.worker.unit}.local.", timeout_s=3.0) == ["127.0.0.11"]


def test_a_host_name_already_answered_by_another_device_is_a_conflict(lab):
    from zeroconf import ServiceInfo

    unit = name()
    lab.worker.zc.register_service(ServiceInfo("_http._tcp.local.", f"{unit} web._http._tcp.local.", port=80,
                                               server=f"{unit}.local.", addresses=[bytes([127, 0, 0, 11])]),
                                   cooperating_responders=True)
    status = lab.make(unit, "127.0.0.32").start()
    assert not status["advertised"]
    assert f"host name {unit}.local is already answered by 127.0.0.11" in status["conflict"]


def test_discovery_marks_two_devices_advertising_one_name(lab):
    twin = lab.make(lab.leader.unit, "127.0.0.42")  # registered without our check, as a foreign device would be
    twin.zc = _zeroconf(LOOPBACK)
    info = twin.service_info()
    twin.zc.register_service(info, cooperating_responders=True)
    try:
        found = {f.name: f for f in browse(2.0, LOOPBACK)}
        assert found[lab.leader.unit].conflict and "2 devices advertise" in found[lab.leader.unit].conflict
        assert found[lab.worker.unit].conflict is None
    finally:
        twin.zc.unregister_service(info)
        twin.close()


def test_a_started_agent_advertises_its_unit_and_workers_discover_finds_it(cluster, fresh_unit, monkeypatch):
    worker = fresh_unit(leader=cluster.leader.name, PIO__cluster__zeroconf="true",
                        PIO__cluster__advertise_address="127.0.0.61").start_agent()
    wait_agents_ready(cluster.recorder, [worker])
    topic = f"pioreactor/{worker.name}/$experiment/agent/discovery"
    wait_for(lambda: json.loads(cluster.recorder.last(topic) or "{}").get("advertised"), 15, what="advertised")
    use_env(monkeypatch, cluster.leader)
    from pio_cluster.workers_cli import workers

    result = CliRunner().invoke(workers, ["discover", "--timeout", "2", "--add", "--json"])
    assert result.exit_code == 0, result.output
    rows = {row["name"]: row for row in map(json.loads, [x for x in result.output.splitlines() if x.startswith("{")])}
    assert rows[worker.name]["role"] == "worker" and rows[worker.name]["addresses"] == ["127.0.0.61"]
    assert f"added {worker.name}" in result.output
    listed = CliRunner().invoke(workers, ["list", "--json"])
    assert worker.name in listed.output
    for row in map(json.loads, listed.output.splitlines()):
        CliRunner().invoke(workers, ["remove", row["unit"]])


NETNS_SCRIPT = """
import sys, time
from pio_cluster.discovery import Advertiser, browse, interfaces_from
if sys.argv[1] == "advertise":
    adv = Advertiser(sys.argv[2], "worker", "0.1.0", 1883, interfaces=interfaces_from("all"), check_s=0.5)
    print(adv.start(), flush=True)
    time.sleep(float(sys.argv[3]))
    adv.close()
else:
    print(",".join(f"{f.name}@{'/'.join(f.addresses)}" for f in browse(1.5, interfaces_from("all"))))
"""


@pytest.mark.skipif(os.geteuid() != 0 or not shutil.which("ip"), reason="network namespaces need root and iproute2")
def test_discovery_across_network_namespaces(tmp_path):
    tag = uuid.uuid4().hex[:5]
    ns_a, ns_b, veth = f"pioc{tag}a", f"pioc{tag}b", f"pv{tag}"

    def ip(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(["ip", *args], capture_output=True, text=True, timeout=10)

    if ip("netns", "add", ns_a).returncode:
        pytest.skip("cannot create network namespaces here")
    try:
        ip("netns", "add", ns_b)
        steps = [
            ("link", "add", f"{veth}a", "netns", ns_a, "type", "veth", "peer", "name", f"{veth}b", "netns", ns_b),
            ("-n", ns_a, "addr", "add", "10.213.0.1/24", "dev", f"{veth}a"),
            ("-n", ns_b, "addr", "add", "10.213.0.2/24", "dev", f"{veth}b"),
            ("-n", ns_a, "link", "set", f"{veth}a", "up"), ("-n", ns_b, "link", "set", f"{veth}b", "up"),
            ("-n", ns_a, "link", "set", "lo", "up"), ("-n", ns_b, "link", "set", "lo", "up"),
        ]
        for step in steps:
            done = ip(*step)
            if done.returncode:
                pytest.skip(f"cannot set up the namespaces' link: {done.stderr.strip()}")
        script = tmp_path / "zc.py"
        script.write_text(NETNS_SCRIPT)
        unit = f"ns{tag}"
        advertiser = subprocess.Popen(["ip", "netns", "exec", ns_a, sys.executable, str(script), "advertise", unit, "8"],
                                      stdout=subprocess.PIPE, text=True)
        try:
            started = advertiser.stdout.readline()
            assert "'advertised': True" in started, started
            seen = subprocess.run(["ip", "netns", "exec", ns_b, sys.executable, str(script), "browse"],
                                  capture_output=True, text=True, timeout=30)
            assert f"{unit}@10.213.0.1" in seen.stdout, seen.stdout + seen.stderr
        finally:
            advertiser.kill()
            advertiser.wait()
    finally:
        ip("netns", "del", ns_a)
        ip("netns", "del", ns_b)
