"""Fixtures: one Mosquitto for the session; a leader and simulated workers (data dirs, agents)."""

from __future__ import annotations

import sys
import uuid
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
from pioreactor_kernel.testing import Recorder

sys.path.insert(0, str(Path(__file__).parent))  # clustertools (pytest runs with --import-mode=importlib)

from clustertools import SimUnit, make_unit, reset_kernel, use_env, wait_agents_ready  # noqa: E402


@pytest.fixture(scope="session")
def cluster(tmp_path_factory, broker):
    """A leader (this process's identity in `as_leader`) and workers w1, w2 (agents up) and w3 (down)."""
    base = tmp_path_factory.mktemp("cluster")
    tag = uuid.uuid4().hex[:6]
    leader = make_unit(base, broker.port, f"lead{tag}", leader=f"lead{tag}")
    workers = [make_unit(base, broker.port, f"w{i}{tag}", leader=leader.name) for i in (1, 2, 3)]
    recorder = Recorder(broker.port, "pioreactor/+/$experiment/agent/#")
    for w in workers[:2]:
        w.start_agent()
    try:
        wait_agents_ready(recorder, workers[:2])
        yield SimpleNamespace(leader=leader, workers=workers, up=workers[:2], down=workers[2], broker=broker,
                              recorder=recorder, base=base)
    finally:
        recorder.close()
        for unit in [*workers, leader]:
            unit.clean_up()


@pytest.fixture
def as_leader(cluster, monkeypatch):
    """This test process is the leader (its env), with fresh config and plugins."""
    use_env(monkeypatch, cluster.leader)
    yield cluster.leader
    reset_kernel()


@pytest.fixture
def fresh_unit(tmp_path, broker, monkeypatch):
    """A unit of its own (not started), for tests that change what runs or is configured."""
    made: list[SimUnit] = []

    def make(name: str | None = None, leader: str | None = None, **extra: Any) -> SimUnit:
        name = name or f"u{uuid.uuid4().hex[:8]}"
        unit = make_unit(tmp_path, broker.port, name, leader=leader or name, **extra)
        made.append(unit)
        return unit

    yield make
    for unit in made:
        unit.clean_up()

