"""Signed messages, the agent's gate, config text edits, option parsing and the audit-log parsers."""

from __future__ import annotations

import json
import time

import pytest
from clustertools import SECRET
from pioreactor_kernel.names import parse_topic
from pioreactor_kernel.timestamps import current_utc_timestamp, to_timestamp

from pio_cluster.configtext import with_key, with_secret, without_secret
from pio_cluster.inventory import parse_command, parse_reply
from pio_cluster.pios import parse_job_options
from pio_cluster.protocol import COMMAND_PURPOSE, Command, CommandVerifier, Refused, Reply, seal


def to_timestamp_ago(seconds: float) -> str:
    from datetime import UTC, datetime

    return to_timestamp(datetime.fromtimestamp(time.time() - seconds, UTC))


def verifier() -> CommandVerifier:
    return CommandVerifier("w1", "leader", SECRET, max_age_s=60)


def command(**changes) -> Command:
    fields = {"unit": "w1", "action": "run", "args": {"job": "probe"}, "leader": "leader"}
    return Command(**{**fields, **changes})


def test_a_signed_command_from_the_leader_is_accepted_once():
    gate = verifier()
    sealed = command().seal(SECRET).encode()
    accepted = gate.verify(sealed)
    assert (accepted.action, accepted.args) == ("run", {"job": "probe"})
    with pytest.raises(Refused, match="replay"):
        gate.verify(sealed)


@pytest.mark.parametrize(("payload", "reason"), [
    (b"not json", "not a JSON message"),
    (json.dumps({"unit": "w1", "action": "run", "args": {"job": "probe"}}).encode(), "not a signed message"),
    (command().seal("another-secret-of-the-same-length").encode(), "signature does not verify"),
    (command(leader="intruder").seal(SECRET).encode(), "not from the leader"),
    (command(unit="w2").seal(SECRET).encode(), "addressed to unit 'w2'"),
    (command(action="shell").seal(SECRET).encode(), "unknown action"),
    (command(issued_at=to_timestamp_ago(3600)).seal(SECRET).encode(), "a replay, or the clocks differ"),
    (b"x" * 600_000, "over the limit"),
])
def test_the_gate_refuses_what_is_not_a_fresh_command_from_the_leader(payload, reason):
    with pytest.raises(Refused, match=reason):
        verifier().verify(payload)


def test_a_tampered_body_does_not_verify():
    envelope = json.loads(command().seal(SECRET))
    envelope["body"] = envelope["body"].replace('"probe"', '"stirring"')
    with pytest.raises(Refused, match="signature"):
        verifier().verify(json.dumps(envelope).encode())


def test_a_unit_without_a_usable_secret_refuses_everything():
    for secret in (None, "", "short"):
        with pytest.raises(Refused, match="secret"):
            CommandVerifier("w1", "leader", secret).verify(command().seal(SECRET).encode())


def test_a_reply_cannot_be_replayed_as_a_command():
    body = command().body()
    as_reply = seal(body, SECRET, b"pioreactor-cluster-reply\n")
    with pytest.raises(Refused, match="signature"):
        verifier().verify(as_reply.encode())
    assert verifier().verify(seal(body, SECRET, COMMAND_PURPOSE).encode()).id == body["id"]


def test_an_unsigned_success_reply_counts_as_a_failure():
    forged = Reply("abc12345", "w1", "run", True, "all good").seal(None).encode()
    reply = Reply.parse(forged, SECRET)
    assert not reply.ok and "not signed" in reply.detail
    genuine = Reply.parse(Reply("abc12345", "w1", "run", True, "all good").seal(SECRET).encode(), SECRET)
    assert genuine.ok and genuine.verified


def test_sync_config_text_edits_keep_comments_and_never_carry_the_secret():
    text = "# lab config\n[cluster]\n# the key\nsecret = s3cr3t-s3cr3t-s3cr3t\nleader_name = old\n\n[stirring]\ntarget_rpm = 400\n"
    sent = with_key(without_secret(text), "leader_name", "lead")
    assert "s3cr3t" not in sent and "# lab config" in sent and "# the key" in sent
    assert "leader_name = lead" in sent and "leader_name = old" not in sent and "target_rpm = 400" in sent
    assert "secret = mine" in with_secret(sent, "mine")
    assert with_secret("[stirring]\nx = 1", "k").endswith("[cluster]\nsecret = k\n")


def test_job_options_are_parsed_from_the_command_line():
    assert parse_job_options(["--target-rpm", "400", "--flag", "--x=1", "--neg", "-5"]) == {
        "target_rpm": "400", "flag": True, "x": "1", "neg": "-5"}


def test_the_audit_log_keeps_commands_and_replies_without_their_config_text():
    sealed = command(action="config", args={"shared": "[cluster]\nsecret = x\n"}).seal(SECRET).encode()
    topic = parse_topic("pioreactor/w1/$experiment/agent/command")
    row = parse_command(topic, sealed)
    assert row[:3] == ("command", json.loads(json.loads(sealed)["body"])["id"], "w1") and "secret" not in row[-1]
    reply = Reply("abc12345", "w1", "run", False, "no job 'x'", timestamp=current_utc_timestamp()).seal(SECRET)
    assert parse_reply(topic, reply.encode())[4:] == ("run", False, "no job 'x'")
    with pytest.raises((ValueError, KeyError, TypeError)):
        parse_reply(topic, b"garbage")


def test_a_restarted_agent_still_refuses_a_replay(tmp_path):
    seen = tmp_path / "seen.json"
    sealed = command().seal(SECRET).encode()
    CommandVerifier("w1", "leader", SECRET, seen_file=seen).verify(sealed)
    with pytest.raises(Refused, match="replay"):
        CommandVerifier("w1", "leader", SECRET, seen_file=seen).verify(sealed)
    seen.write_text("{not json")
    CommandVerifier("w1", "leader", SECRET, seen_file=seen).verify(command().seal(SECRET).encode())
