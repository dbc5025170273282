"""`pios` from the leader to simulated workers on one broker: per-unit results, exit codes, effects."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner
from clustertools import use_env, wait_agents_ready
from pioreactor_kernel.testing import wait_for

from pio_cluster.client import ClusterClient, ClusterError
from pio_cluster.pios import pios

PIOS = str(Path(sys.executable).parent / "pios")


def run_pios(cluster, *args: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    return subprocess.run([PIOS, *args], env=cluster.leader.process_env(), capture_output=True, text=True,
                          timeout=timeout)


def lines_by_unit(output: str) -> dict[str, str]:
    return {line.split()[0]: line for line in output.splitlines() if line.strip() and not line[0].isdigit()}


def retained(cluster, unit: str, job: str, setting: str) -> str | None:
    from pioreactor_kernel.testing import Recorder

    rec = Recorder(cluster.broker.port, f"pioreactor/{unit}/exp1/{job}/{setting}")
    try:
        rec.client.sync()
        return rec.last(f"pioreactor/{unit}/exp1/{job}/{setting}")
    finally:
        rec.close()


def test_pios_run_to_three_units_with_one_down_reports_it_unreachable_and_the_others_ok(cluster, monkeypatch):
    names = [w.name for w in cluster.workers]
    result = run_pios(cluster, "run", "probe", "--level", "4.5", "--units", ",".join(names), "--timeout", "30")
    assert result.returncode == 1, result.stdout + result.stderr
    lines = lines_by_unit(result.stdout)
    for unit in cluster.up:
        assert lines[unit.name].split()[1] == "ok", result.stdout
        assert "probe ready" in lines[unit.name]
        assert unit.held_jobs()["probe"]["experiment"] == "exp1"
        assert retained(cluster, unit.name, "probe", "level") == "4.5"
        assert retained(cluster, unit.name, "probe", "$state") == "ready"
    assert lines[cluster.down.name].split()[1] == "unreachable"
    assert "2 ok, 0 failed, 1 unreachable (3 units)" in result.stdout
    assert cluster.down.held_jobs() == {}

    use_env(monkeypatch, cluster.leader)  # the rest in this process: same code, no interpreter start-up
    again = CliRunner().invoke(pios, ["run", "probe", "--units", names[0]])
    assert again.exit_code == 1 and "failed" in again.output and "already running" in again.output

    changed = CliRunner().invoke(pios, ["set", "probe", "level", "7", "--units", ",".join(names[:2])])
    assert changed.exit_code == 0, changed.output
    assert all(retained(cluster, u.name, "probe", "level") == "7.0" for u in cluster.up)
    refused = CliRunner().invoke(pios, ["set", "probe", "level", "70", "--units", names[0]])
    assert refused.exit_code == 1 and "above the maximum" in refused.output
    assert retained(cluster, names[0], "probe", "level") == "7.0"

    killed = run_pios(cluster, "kill", "--all-jobs", "--units", ",".join(names[:2]), "--json")
    assert killed.returncode == 0, killed.stdout + killed.stderr
    assert [json.loads(line)["status"] for line in killed.stdout.splitlines()] == ["ok", "ok"]
    assert all(set(u.held_jobs()) == {"agent"} for u in cluster.up)  # every job but the unit's services
    assert all(retained(cluster, u.name, "probe", "$state") == "disconnected" for u in cluster.up)


def test_pios_runs_an_action_with_its_declared_options_and_reports_its_output(cluster, as_leader):
    unit = cluster.up[1]
    with ClusterClient() as client:
        [done] = client.send([unit.name], "run", {"job": "probe_action", "options": {"count": "3", "loud": True}},
                             timeout_s=30)
        [bad] = client.send([unit.name], "run", {"job": "probe_action", "options": {"count": "3x"}}, timeout_s=10)
    assert done.ok and "wrote 3 marks" in done.detail, done.detail
    assert (unit.data_dir / "probe_action.txt").read_text() == "XXX"
    assert bad.status == "failed" and "is not a valid integer" in bad.detail


def test_a_job_that_fails_at_start_is_reported_failed_with_its_reason(cluster, as_leader):
    unit = cluster.up[1]
    (unit.data_dir / "config.ini").write_text("[mqtt]\nkeepalive_s = not-a-number\n")
    try:
        with ClusterClient() as client:
            [result] = client.send([unit.name], "run", {"job": "probe"}, timeout_s=30)
        assert result.status == "failed" and "exited at start" in result.detail and "not a number" in result.detail
    finally:
        (unit.data_dir / "config.ini").unlink()


def test_pios_status_reports_versions_jobs_and_clock_offset(cluster, as_leader):
    with ClusterClient() as client:
        results = client.send([u.name for u in cluster.workers], "status", {}, timeout_s=10)
    up, down = results[:2], results[2]
    assert all(r.ok for r in up) and down.status == "unreachable"
    for r in up:
        assert r.data["kernel"] and any(p["name"] == "cluster" for p in r.data["plugins"])
        assert "probe" in r.data["jobs"]
        assert abs(r.clock_offset_s) < 5  # one machine, one clock: only the round trip
    runner = CliRunner()
    result = runner.invoke(pios, ["status", "--units", cluster.up[0].name])
    assert result.exit_code == 0, result.output
    assert "kernel" in result.output


def test_pios_without_units_uses_the_active_workers_of_the_inventory(cluster, as_leader):
    from pio_cluster.inventory import Inventory

    inventory = Inventory()
    for unit in cluster.workers:
        inventory.add(unit.name)
    inventory.set_active(cluster.down.name, False)
    try:
        result = CliRunner().invoke(pios, ["status"])
        assert result.exit_code == 0, result.output
        assert "2 ok, 0 failed, 0 unreachable (2 units)" in result.output
        assert cluster.down.name not in result.output
    finally:
        for unit in cluster.workers:
            inventory.remove(unit.name)


def test_sync_config_writes_the_leaders_config_without_its_secret(cluster, as_leader):
    unit = cluster.up[0]
    leader_dir = cluster.leader.data_dir
    (leader_dir / "config.ini").write_text("# our lab\n[cluster]\nsecret = leaders-own-secret-value-xyz\n"
                                           "command_max_age_s = 90\n\n[stirring]\ntarget_rpm = 321\n")
    (leader_dir / f"config_{unit.name}.ini").write_text("[stirring]\ntarget_rpm = 123\n")
    (unit.data_dir / "config.ini").write_text(f"[cluster]\nsecret = {'w' * 20}\n")
    try:
        with ClusterClient() as client:
            [result] = client.send([unit.name], "config", _sync_args(unit.name), timeout_s=10)
        assert result.ok, result.detail
        shared = (unit.data_dir / "config.ini").read_text()
        assert "# our lab" in shared and "target_rpm = 321" in shared
        assert f"leader_name = {cluster.leader.name}" in shared
        assert "leaders-own-secret-value-xyz" not in shared and f"secret = {'w' * 20}" in shared  # its own kept
        assert (unit.data_dir / "unit_config.ini").read_text() == "[stirring]\ntarget_rpm = 123\n"

        result = CliRunner().invoke(pios, ["sync-config", "--units", unit.name])
        assert result.exit_code == 0, result.output
    finally:
        for path in (leader_dir / "config.ini", leader_dir / f"config_{unit.name}.ini", unit.data_dir / "config.ini",
                     unit.data_dir / "unit_config.ini"):
            path.unlink(missing_ok=True)


def _sync_args(unit: str) -> dict:
    from pioreactor_kernel.identity import unit_name
    from pioreactor_kernel.paths import data_dir

    from pio_cluster.configtext import with_key, without_secret

    shared = with_key(without_secret((data_dir() / "config.ini").read_text()), "leader_name", unit_name())
    return {"shared": shared, "unit": (data_dir() / f"config_{unit}.ini").read_text()}


def test_a_config_that_would_cut_the_unit_from_its_leader_is_refused(cluster, as_leader, fresh_unit):
    unit = fresh_unit(leader=cluster.leader.name, cluster_in_file=True).start_agent()
    wait_agents_ready(cluster.recorder, [unit])
    before = (unit.data_dir / "config.ini").read_text()
    with ClusterClient() as client:
        [broken] = client.send([unit.name], "config", {"shared": "[cluster\nnope"}, timeout_s=10)
        [orphan] = client.send([unit.name], "config", {"unit": "[cluster]\nleader_name = someone_else\n"},
                               timeout_s=10)
        [unkeyed] = client.send([unit.name], "config", {"shared": "[stirring]\ntarget_rpm = 1\n"}, timeout_s=10)
    assert broken.status == "failed" and "not a valid config file" in broken.detail
    assert orphan.status == "failed" and "leader would be 'someone_else'" in orphan.detail
    assert not (unit.data_dir / "unit_config.ini").exists()
    # the secret stays (the leader never sends it); without a leader_name the unit would lead itself
    assert unkeyed.status == "failed" and f"leader would be {unit.name!r}" in unkeyed.detail
    assert (unit.data_dir / "config.ini").read_text() == before


def test_plugins_uninstall_runs_pip_with_an_argument_list(cluster, as_leader):
    result = CliRunner().invoke(pios, ["plugins", "uninstall", "pio-not-installed-anywhere", "--units",
                                       cluster.up[0].name, "--timeout", "120"])
    assert result.exit_code == 0, result.output
    assert "not installed" in result.output


def test_pios_refuses_to_run_on_a_worker(cluster, monkeypatch):
    use_env(monkeypatch, cluster.up[0])
    with pytest.raises(ClusterError, match="sent from the leader"):
        ClusterClient()


@pytest.mark.skipif(os.environ.get("PIO_LOAD_PLUGINS") is not None, reason="needs the stirring plugin loaded")
def test_pios_run_stirring_spins_the_simulated_motors_of_the_units_that_answered(cluster, as_leader):
    pio_sim = pytest.importorskip("pio_sim")
    pytest.importorskip("pio_stirring")
    with ClusterClient() as client:
        results = client.send([u.name for u in cluster.workers], "run",
                              {"job": "stirring", "options": {"target_rpm": 400}}, timeout_s=30)
        assert [r.status for r in results] == ["ok", "ok", "unreachable"], [r.detail for r in results]
        for unit in cluster.up:
            wait_for(lambda u=unit: pio_sim.true_state(u.data_dir)["rpm"] > 300, 20, what=f"{unit.name} stirring")
        assert pio_sim.true_state(cluster.down.data_dir)["rpm"] < 1
        stopped = client.send([u.name for u in cluster.up], "kill", {"jobs": ["stirring"]}, timeout_s=20)
        assert all(r.ok for r in stopped), [r.detail for r in stopped]
    for unit in cluster.up:
        wait_for(lambda u=unit: pio_sim.true_state(u.data_dir)["pwm"].get("1", 0) == 0, 10, what="motor off")
