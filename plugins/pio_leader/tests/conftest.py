"""Fixtures: a real Mosquitto, a leader data dir per test, SQLite and a throwaway PostgreSQL."""

from __future__ import annotations

import glob
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest
from pioreactor_kernel import config, plugins
from pioreactor_kernel.broker import free_port
from pioreactor_kernel.testing import running_broker, unit_env

sys.path.insert(0, str(Path(__file__).parent))  # leader_helpers

from leader_helpers import new_postgres_database  # noqa: E402


@pytest.fixture(scope="session")
def broker(tmp_path_factory):
    with running_broker(tmp_path_factory.mktemp("broker")) as b:
        yield b


@pytest.fixture
def own_broker(tmp_path):
    """A broker this test alone uses (restarts)."""
    with running_broker(tmp_path / "own") as b:
        yield b


# ---------------------------------------------------------------------------- PostgreSQL
def _pg_bin() -> Path | None:
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"))
    return Path(found[-1]).parent if found else None


@pytest.fixture(scope="session")
def postgres_server():
    """A throwaway PostgreSQL cluster on a free port with its own data dir; yields its base URL."""
    bin_dir = _pg_bin()
    if bin_dir is None:
        pytest.skip("PostgreSQL binaries not found in /usr/lib/postgresql/*/bin (apt-get install -y postgresql)")
    try:
        import psycopg2  # noqa: F401
    except ImportError:
        pytest.skip("psycopg2 is not installed (pip install psycopg2-binary)")
    root = Path(tempfile.mkdtemp(prefix="pio-pg-"))
    as_postgres: list[str] = []
    if os.geteuid() == 0:  # PostgreSQL refuses to run as root
        shutil.chown(root, "postgres", "postgres")
        as_postgres = ["runuser", "-u", "postgres", "--"]
    data, port = root / "data", free_port()
    subprocess.run([*as_postgres, str(bin_dir / "initdb"), "-D", str(data), "-A", "trust", "-U", "postgres",
                    "--no-sync"], check=True, capture_output=True)
    opts = f"-p {port} -k {root} -c listen_addresses=127.0.0.1 -c fsync=off -c synchronous_commit=off"
    subprocess.run([*as_postgres, str(bin_dir / "pg_ctl"), "-D", str(data), "-o", opts, "-l", str(root / "log"),
                    "-w", "start"], check=True, capture_output=True)
    try:
        yield f"postgresql://postgres@127.0.0.1:{port}"
    finally:
        subprocess.run([*as_postgres, str(bin_dir / "pg_ctl"), "-D", str(data), "-m", "immediate", "stop"],
                       capture_output=True)
        shutil.rmtree(root, ignore_errors=True)


@pytest.fixture(params=["sqlite", "postgres"])
def db_url(request, tmp_path):
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'leader.sqlite'}"
    return new_postgres_database(request.getfixturevalue("postgres_server"))


# ---------------------------------------------------------------------------- the leader
def _reset() -> None:
    plugins.reset_plugin_manager()
    config._cached = None


class Leader:
    def __init__(self, data_dir: Path, port: int, db_url: str):
        self.data_dir, self.port, self.db_url = data_dir, port, db_url
        self.env = {**unit_env(data_dir, port, unit="leader", experiment=None), "PIO__leader__database_url": db_url}

    def count(self, model) -> int:
        return model.select().count()


@pytest.fixture
def leader_env(tmp_path, broker, monkeypatch):
    """A leader's data dir and config (SQLite), pointed at the session broker."""
    return _leader(tmp_path, broker.port, f"sqlite:///{tmp_path / 'leader.sqlite'}", monkeypatch)


def _leader(tmp_path: Path, port: int, url: str, monkeypatch) -> Leader:
    leader = Leader(tmp_path / "data", port, url)
    for k, v in leader.env.items():
        monkeypatch.setenv(k, v)
    for k in ("PIO_LOAD_PLUGINS", "PIO_DISABLE_PLUGINS", "PIO_EXPERIMENT"):
        monkeypatch.delenv(k, raising=False)
    _reset()
    return leader


@pytest.fixture
def make_leader(tmp_path, monkeypatch):
    made = []

    def make(port: int, url: str | None = None) -> Leader:
        made.append(_leader(tmp_path, port, url or f"sqlite:///{tmp_path / 'leader.sqlite'}", monkeypatch))
        return made[-1]

    yield make
    _reset()


@pytest.fixture
def writer(make_leader, broker, db_url):
    """``mqtt_to_db`` running in this process (SQLite and PostgreSQL), its session subscribed."""
    make_leader(broker.port, db_url)
    from pio_leader.writer import MQTTToDB

    job = MQTTToDB()
    assert job.ingest.wait_until_running(10)
    yield job
    job.clean_up()


@pytest.fixture
def publisher(broker):
    from pioreactor_kernel.mqtt import BrokerAddress, MQTTClient

    client = MQTTClient(address=BrokerAddress("127.0.0.1", broker.port)).connect()
    yield client
    client.disconnect()
