"""pio-leader imports no other plugin, and what it offers them (``leader.database``,
``leader.experiments``, ``leader.export``) works through the kernel's services as documented."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import peewee
import pytest
from pioreactor_kernel.broker import free_port
from pioreactor_kernel.services import has_service, service
from pioreactor_kernel.testing import foreign_imports, plugin_imports_of_others

OWN = "pio_leader"
PACKAGE = Path(__file__).resolve().parents[1] / OWN


def test_the_scan_sees_every_way_of_importing_a_plugin():
    source = ("import pio_cluster\nimport os, pio_ui.store as s\nfrom pio_cluster.inventory import x\n"
              "def f():\n    from pio_ui import app\n    return importlib.import_module('pio_cluster.client')\n"
              "from . import storage\nfrom pio_leader.storage import open_database\nimport pioreactor_kernel\n")
    assert foreign_imports(source, OWN) == ["line 1: pio_cluster", "line 2: pio_ui.store", "line 3: pio_cluster.inventory",
                                       "line 5: pio_ui", "line 6: pio_cluster.client"]


def test_no_module_of_pio_leader_imports_another_plugin():
    sources = sorted(PACKAGE.rglob("*.py"))
    assert len(sources) > 10
    found = plugin_imports_of_others(PACKAGE)
    assert not found, f"use pioreactor_kernel.services.service(<name>) instead: {found}"


class PluginReading(peewee.Model):
    experiment = peewee.TextField()
    timestamp = peewee.TextField()
    value = peewee.FloatField()

    class Meta:
        table_name = "svc_plugin_readings"


def test_the_services_work_as_documented(leader_env):
    assert all(has_service(n) for n in ("leader.database", "leader.experiments", "leader.export"))
    opened = service("leader.database")()
    assert opened.where == leader_env.db_url and opened.postgres is False
    ex, export = service("leader.experiments"), service("leader.export")
    with opened.db.connection_context():
        ex.create("exp9", "a run")
        ex.assign("exp9", ["u2", "u1"])
        assert ex.get("exp9").units == ["u1", "u2"]
        with pytest.raises(ex.ExperimentError, match="already exists"):
            ex.create("exp9")
        known = export.datasets()
        assert {"od_readings", "temperature_readings"} <= set(known)
        assert export.count_rows(opened.db, known["od_readings"], "exp9") == 0
    opened.db.close()

    # a plugin's own tables, alone, in the leader's database (what pio-cluster's inventory does)
    own = service("leader.database")({"svc_plugin": ([PluginReading], {})}, plugin="svc")
    with own.db.connection_context():
        PluginReading.create(experiment="exp9", timestamp="2026-01-01T00:00:00.000000Z", value=1.5)
    own.db.close()
    with sqlite3.connect(leader_env.db_url.removeprefix("sqlite:///")) as db:
        assert db.execute("SELECT value FROM svc_plugin_readings").fetchall() == [(1.5,)]
        assert db.execute("SELECT version FROM schema_versions WHERE table_set = 'svc_plugin'").fetchone() == (1,)


def test_a_database_that_cannot_be_reached_is_a_runtime_error_without_the_password(leader_env, monkeypatch):
    pytest.importorskip("psycopg2", reason="pip install psycopg2-binary")
    from pioreactor_kernel import config

    monkeypatch.setenv("PIO__leader__database_url", f"postgresql://bob:s3cret@127.0.0.1:{free_port()}/pio")
    config._cached = None
    with pytest.raises(RuntimeError, match=r"postgresql://bob:\*\*\*@127\.0\.0\.1") as caught:
        service("leader.database")()
    assert "s3cret" not in str(caught.value)
