"""Simulated units for the cluster tests and benchmark: data dirs, environments, agent processes."""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

from pioreactor_kernel.testing import unit_env, wait_for

HERE = Path(__file__).parent
SECRET = "test-cluster-secret-0123456789"
TEST_PLUGIN = "cluster_testjob"


@dataclass
class SimUnit:
    name: str
    data_dir: Path
    env: dict[str, str]
    agent: subprocess.Popen[str] | None = None
    extra: dict[str, str] = field(default_factory=dict)

    def start_agent(self) -> SimUnit:
        out = (self.data_dir / "agent.out").open("w")
        self.agent = subprocess.Popen([sys.executable, "-m", "pioreactor_kernel", "run", "agent"],
                                      env=self.process_env(), stdout=out, stderr=subprocess.STDOUT, text=True)
        out.close()
        return self

    def process_env(self) -> dict[str, str]:
        """This process's environment without any PIO variable of another unit, plus the unit's."""
        return {**{k: v for k, v in os.environ.items() if not k.startswith("PIO")}, **self.env}

    def stop_agent(self, timeout_s: float = 10.0) -> None:
        if self.agent is not None and self.agent.poll() is None:
            self.agent.send_signal(signal.SIGTERM)
            try:
                self.agent.wait(timeout_s)
            except subprocess.TimeoutExpired:
                self.agent.kill()
                self.agent.wait()
        self.agent = None

    def held_jobs(self) -> dict[str, dict]:
        """The jobs running in this unit's data dir (registry lock held), read without its env."""
        found = {}
        for path in sorted((self.data_dir / "run").glob("*.lock")):
            fd = os.open(path, os.O_RDONLY)
            try:
                fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
                fcntl.flock(fd, fcntl.LOCK_UN)
            except BlockingIOError:
                try:
                    found[path.stem] = json.loads(os.pread(fd, 4096, 0))
                except ValueError:
                    found[path.stem] = {}
            finally:
                os.close(fd)
        return found

    def clean_up(self) -> None:
        """Stop every job of the unit (the agent last) and its hardware watchdog."""
        for job, record in self.held_jobs().items():
            if job != "agent" and record.get("pid"):
                _terminate(record["pid"])
        self.stop_agent()
        for record in self.held_jobs().values():
            if record.get("pid"):
                _terminate(record["pid"])
        from pioreactor_kernel.hardware.watchdog import stop

        stop(self.data_dir)


def _terminate(pid: int, timeout_s: float = 5.0) -> None:
    try:
        os.kill(pid, signal.SIGTERM)
    except ProcessLookupError:
        return
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return
        time.sleep(0.02)
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signal.SIGKILL)


def make_unit(base: Path, port: int, name: str, leader: str, *, cluster_in_file: bool = False, **extra: str) -> SimUnit:
    """A unit's data dir (with the test job plugin) and environment: sim hardware, no zeroconf.

    The leader's name and the secret are in the environment, or (``cluster_in_file``) in the
    unit's config.ini as on a real unit.
    """
    data_dir = (base / name).resolve()
    env = unit_env(data_dir, port, unit=name, experiment="exp1")
    if cluster_in_file:
        (data_dir / "config.ini").write_text(f"[cluster]\nsecret = {SECRET}\nleader_name = {leader}\n")
    else:
        env.update({"PIO__cluster__secret": SECRET, "PIO__cluster__leader_name": leader})
    env.update({
        "PIO__cluster__zeroconf": "false",
        "PIO__cluster__zeroconf_interfaces": "127.0.0.1", "PIO__cluster__broker_bind": "127.0.0.1",
        "PIO__hardware__backend": "sim", "PIO__sim__seed": "7", "PIO__stirring__publish_interval_s": "1",
    })
    if os.environ.get("PIO_LOAD_PLUGINS") is not None:  # plugin isolation: the test job is ours
        env["PIO_LOAD_PLUGINS"] = ",".join(filter(None, [os.environ["PIO_LOAD_PLUGINS"], TEST_PLUGIN]))
    env.update(extra)
    (data_dir / "plugins").mkdir(parents=True, exist_ok=True)
    shutil.copy(HERE / f"{TEST_PLUGIN}.py", data_dir / "plugins" / f"{TEST_PLUGIN}.py")
    return SimUnit(name, data_dir, env, extra=extra)


def wait_agents_ready(recorder, units: list[SimUnit], timeout_s: float = 30.0) -> None:
    for unit in units:
        topic = f"pioreactor/{unit.name}/$experiment/agent/$state"
        wait_for(lambda t=topic, u=unit: recorder.last(t) == "ready" or (u.agent and u.agent.poll() is not None),
                 timeout_s, what=f"agent of {unit.name} ready")
        if unit.agent is not None and unit.agent.poll() is not None:
            raise RuntimeError(f"agent of {unit.name} exited: {(unit.data_dir / 'agent.out').read_text()[-2000:]}")


def reset_kernel() -> None:
    """Forget the process's cached config and plugins (after changing the environment)."""
    from pioreactor_kernel import config, plugins

    plugins.reset_plugin_manager()
    config._cached = None


def use_env(monkeypatch, unit: SimUnit) -> None:
    """This test process becomes ``unit`` (its environment), with fresh config and plugins."""
    for k in ("PIO_LOAD_PLUGINS", "PIO_DISABLE_PLUGINS", "PIO_EXPERIMENT"):
        monkeypatch.delenv(k, raising=False)
    for k, v in unit.env.items():
        monkeypatch.setenv(k, v)
    reset_kernel()
