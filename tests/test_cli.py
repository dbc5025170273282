"""The `pio` control plane, driven as a user would: real subprocesses against a real broker."""

from __future__ import annotations

import json
import re

from pioreactor_kernel import registry
from pioreactor_kernel.testing import pio, spawn_pio, wait_for

KERNEL_COMMANDS = ("broker", "calibrate", "calibrations", "config", "hardware", "jobs", "kill", "logs", "mqtt", "plugins",
                   "run", "version")


def test_help_lists_every_command_plugins_included(unit, with_test_plugins):
    r = pio("--help")
    assert r.returncode == 0
    for name in (*KERNEL_COMMANDS, "hello"):
        assert re.search(rf"^\s+{name}\s", r.stdout, re.M), name


def test_an_unknown_command_lists_what_exists(unit):
    r = pio("frobnicate")
    assert r.returncode == 2
    assert "no command 'frobnicate' in `pio`. Commands: " in r.stderr
    assert all(f" {name}," in r.stderr or f" {name}\n" in r.stderr for name in KERNEL_COMMANDS)


def test_run_help_lists_jobs_and_an_unknown_job_is_a_clear_error(unit, with_test_plugins):
    listing = pio("run", "--help").stdout
    assert "counter" in listing and "Counts up every interval" in listing and "say_hello" in listing
    r = pio("run", "nojob")
    assert r.returncode == 2 and "no job 'nojob'. Jobs: " in r.stderr
    assert "counter, " in r.stderr and "say_hello" in r.stderr


def test_run_job_help_shows_options_with_units_ranges_and_defaults(unit, with_test_plugins):
    text = pio("run", "counter", "--help").stdout
    assert "--target-rpm" in text and "[rpm]" in text and "range 0..3000" in text and "default: 500.0" in text
    assert "--mode [fast|slow]" in text and "--step INTEGER" in text


def test_run_refuses_an_out_of_range_option(unit, with_test_plugins):
    r = pio("run", "counter", "--target-rpm", "nan")
    assert r.returncode == 2 and "not a finite number" in r.stderr
    r = pio("run", "counter", "--step", "0")
    assert r.returncode == 2 and "below the minimum" in r.stderr


def test_run_an_action(unit, with_test_plugins):
    assert pio("run", "say_hello", "--name", "lab").stdout.strip() == "hello lab"


def test_jobs_kill_and_a_second_start_refused(unit, with_test_plugins):
    proc = spawn_pio("run", "counter", "--step", "2")
    wait_for(lambda: registry.read("counter"), what="counter running")
    listing = json.loads(pio("jobs", "--json").stdout)
    assert [(j["job"], j["pid"], j["unit"]) for j in listing] == [("counter", proc.pid, unit.name)]
    second = pio("run", "counter")
    assert second.returncode == 1 and "counter is already running" in second.stderr and str(proc.pid) in second.stderr
    r = pio("kill", "counter")
    assert "counter: stopped" in r.stdout
    assert proc.wait(10) == 0
    assert pio("jobs").stdout.strip() == "no jobs running"
    assert "not running" in pio("kill", "counter").stdout


def test_kill_all(unit, with_test_plugins):
    proc = spawn_pio("run", "counter")
    wait_for(lambda: registry.read("counter"), what="counter running")
    assert "counter: stopped" in pio("kill", "--all").stdout
    assert proc.wait(10) == 0


def test_mqtt_prints_the_live_log_readably(unit, with_test_plugins):
    proc = spawn_pio("run", "counter")
    try:
        r = pio("mqtt", "-t", f"pioreactor/{unit.name}/#", "-n", "3")
        assert r.returncode == 0, r.stderr
        assert f"pioreactor/{unit.name}/exp1/counter/" in r.stdout
        assert f"listening on 127.0.0.1:{unit.port}" in r.stderr  # the configured broker, not a default
    finally:
        proc.terminate()
        proc.wait(10)


def test_logs_show_the_unit_log_file(unit, with_test_plugins):
    proc = spawn_pio("run", "counter")
    wait_for(lambda: registry.read("counter"))
    pio("run", "counter")  # refused: leaves an error in the log file? (no: CLI errors go to stderr)
    proc.terminate()
    proc.wait(10)
    r = pio("logs", "-n", "20")
    assert r.returncode == 0


def test_version(unit, with_test_plugins):
    assert re.fullmatch(r"pioreactor-kernel \d+\.\d+\.\d+\n", pio("version").stdout)
    verbose = pio("version", "-v").stdout
    assert "pio-testplugin 1.2.3 (loaded)" in verbose and "pio-brokenplugin 0.0.1 (failed)" in verbose


def test_broker_status_and_an_unreachable_broker_is_a_clear_error(unit, with_test_plugins):
    from pioreactor_kernel.broker import free_port

    r = pio("run", "counter", env={"PIO__mqtt__port": str(free_port())})
    assert r.returncode == 1 and "no MQTT broker answered" in r.stderr and "Traceback" not in r.stderr
    assert "port" in pio("broker", "status").stdout


def test_a_job_refusing_its_start_gives_one_line_not_a_traceback(unit):
    folder = unit.plugins_dir
    (folder / "picky.py").write_text(
        "from pioreactor_kernel.plugins import hookimpl\n"
        "@hookimpl\ndef register_jobs(register):\n    register('picky', 'picky_job:Picky')\n"
    )
    (unit.data_dir / "picky_job.py").write_text(
        "from pioreactor_kernel.job import BackgroundJob\n"
        "from pioreactor_kernel.hardware.protocols import HardwareError\n"
        "class Picky(BackgroundJob):\n    job_name = 'picky'\n"
        "    def __init__(self, **kw):\n        super().__init__(**kw)\n"
        "        raise HardwareError('photodiode 2 is held by od_blank (pid 42)')\n"
    )
    r = pio("run", "picky", env={"PYTHONPATH": str(unit.data_dir)})
    assert r.returncode == 1 and "Error: photodiode 2 is held by od_blank (pid 42)" in r.stderr
    assert "Traceback" not in r.stderr


def test_kill_all_spares_services(unit):
    folder = unit.plugins_dir
    (folder / "svc.py").write_text(
        "from pioreactor_kernel.plugins import hookimpl\n"
        "@hookimpl\ndef register_jobs(register):\n"
        "    register('svc_job', 'svc_impl:Svc', service=True)\n    register('plain_job', 'svc_impl:Plain')\n"
    )
    (unit.data_dir / "svc_impl.py").write_text(
        "from pioreactor_kernel.job import BackgroundJob\n"
        "class Svc(BackgroundJob):\n    job_name = 'svc_job'\n"
        "class Plain(BackgroundJob):\n    job_name = 'plain_job'\n"
    )
    env = {"PYTHONPATH": str(unit.data_dir)}
    svc, plain = spawn_pio("run", "svc_job", env=env), spawn_pio("run", "plain_job", env=env)
    try:
        wait_for(lambda: registry.read("svc_job") and registry.read("plain_job"), what="both running")
        out = pio("kill", "--all", env=env).stdout
        assert "plain_job: stopped" in out and "svc_job" not in out
        assert registry.read("svc_job") is not None
        assert "svc_job: stopped" in pio("kill", "--all", "--include-services", env=env).stdout
    finally:
        for proc in (svc, plain):
            proc.terminate()
            proc.wait(10)


def test_sigint_right_after_ready_still_stops_cleanly(unit, with_test_plugins, recorder):
    import signal

    for _ in range(3):
        n = len(recorder.payloads(f"{unit.base}/counter/$state"))
        proc = spawn_pio("run", "counter")
        wait_for(lambda n=n: "ready" in recorder.payloads(f"{unit.base}/counter/$state")[n:], what="ready")
        proc.send_signal(signal.SIGINT)  # may land before the main thread waits for signals
        assert proc.wait(10) == 0, proc.stderr.read()
        recorder.wait_for_value(f"{unit.base}/counter/$state", "disconnected")


def test_a_job_with_simple_options_starts_without_the_click_cli(unit, with_test_plugins, recorder):
    """entry.py's fast path: a known job and valid `--option value` pairs skip the click CLI (launch.py)."""
    import signal

    pio("version", check=True)  # the first command indexes the installed jobs
    proc = spawn_pio("run", "counter", "--step", "3", "--mode=slow", env={"PYTHONPROFILEIMPORTTIME": "1"})
    recorder.wait_for_value(f"{unit.base}/counter/$state", "ready")
    assert recorder.last(f"{unit.base}/counter/step") == "3"
    assert recorder.last(f"{unit.base}/counter/mode") == "slow"
    assert recorder.last(f"{unit.base}/counter/target_rpm") == "500.0"  # the declared default, as click passes it
    proc.send_signal(signal.SIGINT)
    assert proc.wait(10) == 0
    imported = {line.split("|")[-1].strip() for line in proc.stderr.read().splitlines() if line.startswith("import time:")}
    assert "pioreactor_kernel.launch" in imported and "pioreactor_kernel.cli" not in imported


def test_the_fast_path_hands_anything_unusual_to_click(unit, with_test_plugins):
    pio("version", check=True)
    r = pio("run", "counter", "--step", "2.5")  # click's INTEGER refuses what Setting.parse would round
    assert r.returncode == 2 and "is not a valid integer" in r.stderr
    r = pio("run", "counter", "--bogus", "1")
    assert r.returncode == 2 and "No such option '--bogus'" in r.stderr
    assert "--target-rpm" in pio("run", "counter", "--help").stdout


def test_a_started_job_runs_with_the_cyclic_collector_on_and_its_start_up_frozen(unit, recorder):
    """entry.main turns the collector off for the start-up; launch.run turns it back on (gc.freeze first)."""
    import signal

    (unit.plugins_dir / "gcjob.py").write_text(
        "from pioreactor_kernel.plugins import hookimpl\n"
        "@hookimpl\ndef register_jobs(register):\n    register('gc_probe', 'gc_probe_impl:Probe')\n"
    )
    (unit.data_dir / "gc_probe_impl.py").write_text(
        "import gc, json\n"
        "from pioreactor_kernel.job import BackgroundJob\n"
        "from pioreactor_kernel.timing import RepeatedTimer\n"
        "class Probe(BackgroundJob):\n    job_name = 'gc_probe'\n"
        "    def __init__(self, **kw):\n        super().__init__(**kw)\n"
        "        self.timer = RepeatedTimer(0.1, self._report).start()\n"
        "    def _report(self):\n"
        "        self.publish('gc', json.dumps([gc.isenabled(), gc.get_freeze_count() > 0]))\n"
        "    def on_disconnected(self):\n        self.timer.cancel()\n"
    )
    env = {"PYTHONPATH": str(unit.data_dir)}
    pio("version", check=True, env=env)  # indexes the jobs: `pio run` takes the fast path
    proc = spawn_pio("run", "gc_probe", env=env)
    try:
        recorder.wait_for_value(f"{unit.base}/gc_probe/$state", "ready")
        wait_for(lambda: recorder.last(f"{unit.base}/gc_probe/gc") == "[true, true]", what="gc on and frozen")
    finally:
        proc.send_signal(signal.SIGINT)
        assert proc.wait(10) == 0, proc.stderr.read()
