"""The current experiment: PIO_EXPERIMENT, else the leader's retained latest_experiment, else default."""

from __future__ import annotations

import pytest

from pioreactor_kernel.broker import free_port
from pioreactor_kernel.identity import current_experiment
from pioreactor_kernel.job import BackgroundJob
from pioreactor_kernel.mqtt import BrokerAddress, BrokerUnavailable, publish_once
from pioreactor_kernel.names import LATEST_EXPERIMENT_TOPIC
from pioreactor_kernel.testing import patched_env


class Tiny(BackgroundJob):
    job_name = "tiny"


@pytest.fixture
def worker(unit, own_broker, monkeypatch):
    """A unit whose jobs take the experiment from its own broker (nothing else publishes there)."""
    monkeypatch.delenv("PIO_EXPERIMENT")
    with patched_env({"PIO__mqtt__port": str(own_broker.port)}):
        yield BrokerAddress(host="127.0.0.1", port=own_broker.port)


@pytest.mark.parametrize("payload, expected", [
    ("trial7", "trial7"),
    ('{"experiment": "trial8", "created_at": "2026-11-26T00:00:00Z"}', "trial8"),  # newer Pioreactor releases
    ("a/b", "default"),  # not a topic level
])
def test_a_job_started_without_PIO_EXPERIMENT_joins_the_leaders_latest_experiment(worker, payload, expected):
    publish_once(LATEST_EXPERIMENT_TOPIC, payload, retain=True, address=worker)
    with Tiny() as job:
        assert job.experiment == expected and job.state == "ready"
    assert current_experiment(timeout_s=2) == expected


def test_with_nothing_retained_the_experiment_is_default(worker):
    with Tiny() as job:
        assert job.experiment == "default"


def test_a_broker_that_does_not_answer_gives_a_clear_error():
    with pytest.raises(BrokerUnavailable, match="no MQTT broker answered at 127.0.0.1"):
        current_experiment(address=BrokerAddress(host="127.0.0.1", port=free_port()), timeout_s=0.3)
