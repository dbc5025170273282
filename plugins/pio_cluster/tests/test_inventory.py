"""`pio workers add|remove|list|activate|deactivate|status`, in pio-leader's database or our own file."""

from __future__ import annotations

import json
import sqlite3

import pytest
from click.testing import CliRunner
from clustertools import use_env

from pio_cluster.workers_cli import workers


def invoke(*args: str):
    return CliRunner().invoke(workers, list(args))


def listed() -> dict[str, dict]:
    result = invoke("list", "--json")
    assert result.exit_code == 0, result.output
    return {row["unit"]: row for row in map(json.loads, result.output.splitlines())}


def leader_loaded() -> bool:
    from pioreactor_kernel.plugins import plugin_manager

    info = plugin_manager().plugins.get("leader")
    return info is not None and info.status == "loaded"


@pytest.mark.parametrize("store", ["local", "leader"])
def test_workers_are_added_listed_deactivated_and_removed(fresh_unit, monkeypatch, store):
    leader = fresh_unit(PIO__cluster__inventory=store)
    use_env(monkeypatch, leader)
    if store == "leader" and not leader_loaded():
        pytest.skip("pio-leader is not installed or not loaded")
    added = invoke("add", "w1", "--address", "10.0.0.11")
    assert added.exit_code == 0, added.output
    assert invoke("add", "w2").exit_code == 0
    assert set(listed()) == {"w1", "w2"} and listed()["w1"]["address"] == "10.0.0.11"
    assert invoke("deactivate", "w2").exit_code == 0
    assert listed()["w2"]["active"] is False and listed()["w1"]["active"] is True
    from pio_cluster.inventory import Inventory

    assert Inventory().active_units() == ["w1"]
    assert invoke("activate", "w2").exit_code == 0 and listed()["w2"]["active"] is True
    assert invoke("remove", "w1").exit_code == 0
    assert set(listed()) == {"w2"}
    missing = invoke("remove", "w1")
    assert missing.exit_code == 1 and "not in the inventory" in missing.output
    bad = invoke("add", "a/b")
    assert bad.exit_code == 2 and "invalid unit name" in bad.output

    where = "pioreactor.sqlite" if store == "leader" else "cluster.sqlite"
    with sqlite3.connect(leader.data_dir / "storage" / where) as db:
        assert db.execute("SELECT unit, active FROM cluster_workers").fetchall() == [("w2", 1)]
        if store == "leader":  # declared through register_tables: pio-leader's schema versions know it
            assert db.execute("SELECT version FROM schema_versions WHERE table_set = 'cluster'").fetchone() == (1,)


def test_an_inventory_store_that_does_not_exist_is_a_clear_error(fresh_unit, monkeypatch):
    use_env(monkeypatch, fresh_unit(PIO__cluster__inventory="mongodb"))
    result = invoke("list")
    assert result.exit_code == 1 and "expected auto, leader or local" in result.output


def test_workers_status_reports_reachable_jobs_versions_and_clock_offset(cluster, as_leader):
    for unit in cluster.workers:
        assert invoke("add", unit.name).exit_code == 0
    try:
        result = invoke("status", "--json", "--timeout", "10")
        assert result.exit_code == 1, result.output  # the down unit is active and unreachable
        rows = {row["unit"]: row for row in map(json.loads, result.output.splitlines())}
        for unit in cluster.up:
            row = rows[unit.name]
            assert row["reachable"] and row["kernel"] and "pio-cluster" in row["plugins"]
            assert abs(row["clock_offset_s"]) < 5 and row["round_trip_s"] < 10
        assert not rows[cluster.down.name]["reachable"]
        assert "no agent has ever connected" in rows[cluster.down.name]["detail"]
        assert listed()[cluster.up[0].name]["last_seen_at"] is not None
        assert invoke("deactivate", cluster.down.name).exit_code == 0
        assert invoke("status", "--timeout", "10").exit_code == 0  # an inactive unit may be down
    finally:
        for unit in cluster.workers:
            invoke("remove", unit.name)
