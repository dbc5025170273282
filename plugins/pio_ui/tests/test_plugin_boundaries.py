"""pio-ui reaches other plugins only through kernel services and MQTT, never by importing them;
without pio-leader (or pio-cluster) the pages that need it answer with the reason."""

from __future__ import annotations

from pathlib import Path

import pytest
from pioreactor_kernel.testing import foreign_imports, plugin_imports_of_others

OWN = "pio_ui"
PACKAGE = Path(__file__).resolve().parents[1] / OWN


def test_the_scan_sees_every_way_of_importing_a_plugin():
    source = ("import pio_leader\nimport os, pio_cluster.client as c\nfrom pio_leader.storage import x\n"
              "def f():\n    from pio_leader import experiments\n    return importlib.import_module('pio_cluster')\n"
              "from . import store\nfrom pio_ui.store import Store\nimport pioreactor_kernel\n")
    assert foreign_imports(source, OWN) == ["line 1: pio_leader", "line 2: pio_cluster.client", "line 3: pio_leader.storage",
                                       "line 5: pio_leader", "line 6: pio_cluster"]


def test_no_module_of_pio_ui_imports_another_plugin():
    sources = sorted(PACKAGE.rglob("*.py"))
    assert len(sources) > 10
    found = plugin_imports_of_others(PACKAGE)
    assert not found, f"use pioreactor_kernel.services.service(<name>) instead (docs/ui.md): {found}"


@pytest.fixture
def app_without_leader(make_app):
    """The real app in this process, with the leader and cluster plugins disabled as a user would."""
    return make_app(PIO_UNIT="leader", PIO_DISABLE_PLUGINS="leader,cluster")


def test_without_pio_leader_experiments_and_export_answer_503_saying_so(app_without_leader):
    from pioreactor_kernel.services import has_service

    assert not any(has_service(s) for s in ("leader.database", "leader.experiments", "leader.export", "cluster.send"))
    client = app_without_leader.test_client()
    csrf = client.post("/api/login", json={"password": "right-password"}).get_json()["csrf"]
    needs_leader = [("GET", "/api/experiments", None), ("POST", "/api/experiments", {"name": "exp2"}),
                    ("POST", "/api/experiments/current", {"experiment": "exp2"}),
                    ("GET", "/api/experiments/exp1/notes", None),
                    ("GET", "/api/export/datasets", None),
                    ("POST", "/api/export", {"experiment": "exp1", "datasets": ["od_readings"]})]
    for method, path, body in needs_leader:
        r = client.open(path, method=method, json=body, headers={"X-CSRF-Token": csrf})
        assert r.status_code == 503, (method, path, r.status_code, r.get_data(as_text=True))
        assert "pio-leader is not installed" in r.get_json()["error"], (path, r.get_json())
    # the live views go on without it
    units = client.get("/api/units")
    assert units.status_code == 200 and units.get_json()["assigned"] == []
    assert client.get("/api/history?series=temperature&width=100").get_json().get("history") is False
    # and a start on another unit says that pio-cluster is needed
    r = client.post("/api/units/worker9/jobs/ui/start", json={}, headers={"X-CSRF-Token": csrf})
    assert r.status_code == 409 and "install pio-cluster" in r.get_json()["error"], r.get_json()
