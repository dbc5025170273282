"""The agent refuses what is not from the leader, and checks everything it is asked to run."""

from __future__ import annotations

import json

import pytest
from clustertools import SECRET
from pioreactor_kernel.mqtt import BrokerAddress, publish_once
from pioreactor_kernel.testing import wait_for

from pio_cluster.names import command_topic, reply_topic
from pio_cluster.protocol import Command, Reply


def send_raw(cluster, unit: str, payload: str) -> None:
    publish_once(command_topic(unit), payload, address=BrokerAddress("127.0.0.1", cluster.broker.port))


def reply_to(cluster, unit: str, command_id: str, timeout_s: float = 20.0) -> Reply:
    def find() -> Reply | None:
        for payload in cluster.recorder.payloads(reply_topic(unit)):
            reply = Reply.parse(payload.encode(), SECRET)
            if reply.id == command_id:
                return reply
        return None

    return wait_for(find, timeout_s, what=f"the reply of {unit} to {command_id}")


def refused_count(cluster, unit: str) -> int:
    return int(cluster.recorder.last(f"pioreactor/{unit}/$experiment/agent/commands_refused") or 0)


def command(cluster, unit: str, action: str, args: dict, **changes) -> Command:
    return Command(unit, action, args, changes.pop("leader", cluster.leader.name), **changes)


def test_a_command_signed_with_another_key_is_refused_and_nothing_runs(cluster):
    unit = cluster.up[0]
    before = refused_count(cluster, unit.name)
    forged = command(cluster, unit.name, "run", {"job": "probe"})
    send_raw(cluster, unit.name, forged.seal("not-the-cluster-secret-at-all"))
    reply = reply_to(cluster, unit.name, forged.id)
    assert not reply.ok and "not from the leader" in reply.detail and "signature" in reply.detail
    wait_for(lambda: refused_count(cluster, unit.name) == before + 1, 10, what="commands_refused counted")
    assert "probe" not in unit.held_jobs()


def test_a_command_claiming_another_leader_is_refused(cluster):
    unit = cluster.up[0]
    forged = command(cluster, unit.name, "kill", {"all": True}, leader="impostor")
    send_raw(cluster, unit.name, forged.seal(SECRET))
    reply = reply_to(cluster, unit.name, forged.id)
    assert not reply.ok and "claims to come from 'impostor'" in reply.detail


def test_an_unsigned_command_is_refused(cluster):
    unit = cluster.up[1]
    body = {"id": "0123456789abcdef", "leader": cluster.leader.name, "unit": unit.name, "action": "run",
            "args": {"job": "probe"}}
    send_raw(cluster, unit.name, json.dumps(body))
    send_raw(cluster, unit.name, json.dumps({"v": 1, "body": json.dumps(body), "sig": ""}))
    reply = reply_to(cluster, unit.name, body["id"])
    assert not reply.ok and "refused: not from the leader" in reply.detail
    assert "probe" not in unit.held_jobs()


def test_a_replayed_command_is_refused(cluster):
    unit = cluster.up[1]
    genuine = command(cluster, unit.name, "status", {})
    sealed = genuine.seal(SECRET)
    send_raw(cluster, unit.name, sealed)
    assert reply_to(cluster, unit.name, genuine.id).ok
    cluster.recorder.messages.clear()
    send_raw(cluster, unit.name, sealed)
    reply = reply_to(cluster, unit.name, genuine.id)
    assert not reply.ok and "replay" in reply.detail


@pytest.mark.parametrize(("args", "reason"), [
    ({"job": "not_installed_job"}, "no job 'not_installed_job' is installed"),
    ({"job": "probe; reboot"}, "no job 'probe; reboot' is installed"),
    ({"job": "probe && rm -rf /tmp/x"}, "invalid job name"),
    ({"job": "agent"}, "agent is already running"),
    ({"job": "probe", "options": {"shell": "rm -rf /"}}, "probe has no option 'shell'"),
    ({"job": "probe", "options": {"level": "nan"}}, "not a finite number"),
    ({"job": "probe", "options": {"level": "11"}}, "above the maximum"),
    ({"job": "probe", "options": {"level": "1; reboot"}}, "is not a number"),
    ({"job": "probe", "options": {"--level=1 --label": "x"}}, "is not an option name"),
    ({"job": "probe", "options": ["--level", "1"]}, "options must be a JSON object"),
])
def test_the_agent_refuses_jobs_not_installed_and_options_not_declared(cluster, args, reason):
    unit = cluster.up[0]
    genuine = command(cluster, unit.name, "run", args)
    send_raw(cluster, unit.name, genuine.seal(SECRET))
    reply = reply_to(cluster, unit.name, genuine.id)
    assert not reply.ok and reason in reply.detail, reply.detail
    assert "probe" not in unit.held_jobs()


def test_the_agent_refuses_package_names_that_would_be_pip_options(cluster):
    unit = cluster.up[0]
    genuine = command(cluster, unit.name, "install", {"packages": ["--index-url=http://evil/simple", "x"]})
    send_raw(cluster, unit.name, genuine.seal(SECRET))
    reply = reply_to(cluster, unit.name, genuine.id)
    assert not reply.ok and "is not a package requirement" in reply.detail
