"""pio-cluster reaches other plugins only through kernel services and MQTT, never by importing them;
what it offers (``cluster.workers``, ``cluster.send``) and what it does without pio-leader."""

from __future__ import annotations

from pathlib import Path

import pytest
from clustertools import reset_kernel, use_env
from pioreactor_kernel.testing import foreign_imports, plugin_imports_of_others

OWN = "pio_cluster"
PACKAGE = Path(__file__).resolve().parents[1] / OWN


def test_the_scan_sees_every_way_of_importing_a_plugin():
    source = ("import pio_leader\nimport os, pio_ui.store as s\nfrom pio_leader.storage import x\n"
              "def f():\n    from pio_leader import storage\n    return __import__('pio_leader.storage')\n"
              "from . import names\nfrom pio_cluster.names import SECTION\nimport pioreactor_kernel\n")
    assert foreign_imports(source, OWN) == ["line 1: pio_leader", "line 2: pio_ui.store", "line 3: pio_leader.storage",
                                       "line 5: pio_leader", "line 6: pio_leader.storage"]


def test_no_module_of_pio_cluster_imports_another_plugin():
    sources = sorted(PACKAGE.rglob("*.py"))
    assert len(sources) > 10
    found = plugin_imports_of_others(PACKAGE)
    assert not found, f"use pioreactor_kernel.services.service(<name>) instead (docs/cluster.md): {found}"


def test_without_pio_leader_the_inventory_is_local_and_the_workers_service_lists_it(fresh_unit, monkeypatch):
    from pioreactor_kernel.services import has_service, service

    unit = fresh_unit()
    use_env(monkeypatch, unit)
    monkeypatch.setenv("PIO_DISABLE_PLUGINS", "leader")
    reset_kernel()
    assert not has_service("leader.database") and has_service("cluster.workers") and has_service("cluster.send")
    from pio_cluster.inventory import Inventory, InventoryError, open_inventory

    inventory = Inventory()  # [cluster] inventory = auto: falls back to its own file
    try:
        assert inventory.where == str(unit.data_dir / "storage" / "cluster.sqlite")
        inventory.add("w2")
        inventory.add("w1", "10.0.0.11")
        inventory.set_active("w2", False)
    finally:
        inventory.close()
    workers = service("cluster.workers")()
    assert [(w["unit"], w["address"], w["active"]) for w in workers] == [("w1", "10.0.0.11", True), ("w2", None, False)]
    assert all(w["added_at"].endswith("Z") and w["last_seen_at"] is None for w in workers)

    monkeypatch.setenv("PIO__cluster__inventory", "leader")
    reset_kernel()
    with pytest.raises(InventoryError, match="pio-leader plugin is not installed or is disabled"):
        open_inventory()
