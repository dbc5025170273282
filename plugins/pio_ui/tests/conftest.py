"""Fixtures for pio-ui's tests: a real Mosquitto, a leader unit running the real `pio run ui`
(and `mqtt_to_db` when pio-leader is installed), a third-party test plugin installed for real,
and Debian's Chromium driven by Playwright. Screenshots go to artifacts/ui/ (not committed)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from pioreactor_kernel.broker import free_port
from pioreactor_kernel.pytest_plugin import reset_process_state
from pioreactor_kernel.testing import running_broker, unit_env, wait_for

from pio_ui.testing import CHROMIUM, CHROMIUM_ARGS, PASSWORD, Client

HERE = Path(__file__).parent
ROOT = HERE.parents[2]


@pytest.fixture(scope="session")
def broker(tmp_path_factory):
    with running_broker(tmp_path_factory.mktemp("ui-broker")) as b:
        yield b


@pytest.fixture(scope="session")
def testplugin_path(tmp_path_factory) -> Path:
    """The third-party test plugin, really pip-installed into a directory put on PYTHONPATH."""
    target = tmp_path_factory.mktemp("ui-site")
    subprocess.run([sys.executable, "-m", "pip", "install", "--quiet", "--no-deps", "--no-build-isolation",
                    "--target", str(target), str(HERE / "pio_uitestplugin")], check=True, capture_output=True)
    for leftover in (HERE / "pio_uitestplugin").glob("*.egg-info"):
        shutil.rmtree(leftover, ignore_errors=True)
    shutil.rmtree(HERE / "pio_uitestplugin" / "build", ignore_errors=True)
    return target


class Leader:
    def __init__(self, data_dir: Path, env: dict[str, str], url: str, port: int):
        self.data_dir, self.env, self.url, self.port = data_dir, env, url, port
        self.unit = env["PIO_UNIT"]
        self.procs: list[subprocess.Popen[bytes]] = []

    def client(self) -> Client:
        return Client(self.url)

    def pio(self, *args: str, timeout: float = 30) -> subprocess.CompletedProcess[str]:
        return subprocess.run([sys.executable, "-m", "pioreactor_kernel", *args], env=self.env, capture_output=True,
                              text=True, timeout=timeout)

    def true_state(self) -> dict:
        out = self.pio("sim", "status", "--json")
        assert out.returncode == 0, out.stderr
        return json.loads(out.stdout)


def _have(module: str) -> bool:
    import importlib.util

    return importlib.util.find_spec(module) is not None


@pytest.fixture(scope="session")
def leader(tmp_path_factory, broker, testplugin_path):
    data_dir = tmp_path_factory.mktemp("ui-leader")
    env = {**os.environ, **unit_env(data_dir, broker.port, unit="leader", experiment="exp1"),
           "PIO__ui__password": PASSWORD, "PIO__sim__speed": "60", "PIO__sim__seed": "7",
           "PYTHONPATH": os.pathsep.join(filter(None, [str(testplugin_path), os.environ.get("PYTHONPATH")]))}
    if env.get("PIO_LOAD_PLUGINS"):
        env["PIO_LOAD_PLUGINS"] += ",uitestplugin"
    env.pop("PIO_DISABLE_PLUGINS", None)
    port = free_port()
    lead = Leader(data_dir, env, f"http://127.0.0.1:{port}", port)
    logs = data_dir / "logs"
    logs.mkdir(exist_ok=True)
    if _have("pio_leader"):
        lead.procs.append(subprocess.Popen([sys.executable, "-m", "pioreactor_kernel", "run", "mqtt_to_db"], env=env,
                                           stdout=(logs / "mqtt_to_db.out").open("wb"), stderr=subprocess.STDOUT))
    ui_out = logs / "ui-server.out"
    lead.procs.append(subprocess.Popen([sys.executable, "-m", "pioreactor_kernel", "run", "ui", "--port", str(port),
                                        "--host", "127.0.0.1"], env=env, stdout=ui_out.open("wb"),
                                       stderr=subprocess.STDOUT))

    def answering() -> bool:
        if lead.procs[-1].poll() is not None:
            raise RuntimeError("the ui job exited:\n" + ui_out.read_text(errors="replace"))
        try:
            return lead.client().call("GET", "/api/session")[0] == 200
        except OSError:
            return False

    wait_for(answering, 60, 0.1, what="the UI server to answer")
    yield lead
    lead.pio("kill", "--all", timeout=60)
    for proc in lead.procs:
        if proc.poll() is None:
            proc.terminate()
    for proc in lead.procs:
        try:
            proc.wait(15)
        except subprocess.TimeoutExpired:
            proc.kill()


@pytest.fixture(scope="session")
def catalog(leader) -> dict:
    status, body = leader.client().login().call("GET", "/api/catalog")
    assert status == 200, body
    return body


@pytest.fixture(scope="module")
def browser():
    # per module, not per session: while Playwright's sync API is started its asyncio loop counts as
    # running in the main thread, and other suites run in the same pytest process after these
    # (pio-cluster's zeroconf) would adopt that loop, which runs only while Playwright waits
    sync_api = pytest.importorskip("playwright.sync_api", reason="pip install playwright")
    if not Path(CHROMIUM).exists():
        pytest.skip("Debian's chromium is not installed (apt-get install -y chromium)")
    with sync_api.sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield b
        b.close()


@pytest.fixture
def page(browser, leader, request):
    context = browser.new_context(viewport={"width": 1280, "height": 900}, accept_downloads=True)
    context.set_default_timeout(20_000)
    pg = context.new_page()
    errors: list[str] = []
    pg.on("pageerror", lambda e: errors.append(str(e)))
    pg.base_url = leader.url
    pg.js_errors = errors
    yield pg
    context.close()
    assert not errors, f"JavaScript errors on the page: {errors}"




@pytest.fixture
def store(tmp_path, monkeypatch):
    """A fresh leader database for the history tests, through pio-ui's Store."""
    monkeypatch.setenv("PIO_DATA_DIR", str(tmp_path))
    monkeypatch.delenv("PIO_LOAD_PLUGINS", raising=False)
    reset_process_state()
    from pio_ui.store import Store

    s = Store()
    assert s.available, s.error
    yield s
    reset_process_state()


@pytest.fixture
def make_app(tmp_path, monkeypatch, broker):
    """``make_app(**env)``: the real Flask app in this process, on a fresh data dir and the test broker."""
    hubs = []

    def make(**env: str):
        monkeypatch.setenv("PIO_DATA_DIR", str(tmp_path))
        monkeypatch.setenv("PIO__mqtt__port", str(broker.port))
        for key, value in env.items():
            monkeypatch.setenv(key, value)
        reset_process_state()
        from pio_ui.app import create_app

        flask_app, _, ctx = create_app(password="right-password")
        hubs.append(ctx.hub)
        return flask_app

    yield make
    for hub in hubs:
        hub.stop()
    reset_process_state()
