"""Plugin discovery, isolation of broken plugins, disabling, and one test per hook."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from pioreactor_kernel import hookdocs, hookspecs
from pioreactor_kernel.plugins import PioPluginManager, plugin_manager
from pioreactor_kernel.testing import pio

DOCS = Path(__file__).parents[1] / "docs" / "hooks.md"


def _plugins_json(env=None) -> dict[str, dict]:
    r = pio("plugins", "list", "--json", env=env)
    assert r.returncode == 0, r.stderr
    return {p["name"]: p for p in json.loads(r.stdout)}


def test_an_installed_plugin_is_discovered_and_a_broken_one_reported(unit, with_test_plugins):
    found = _plugins_json()
    test = found["testplugin"]
    assert test["status"] == "loaded" and test["dist"] == "pio-testplugin" and test["version"] == "1.2.3"
    assert set(test["hooks"]) == {"register_jobs", "register_commands", "config_defaults", "job_started"}
    broken = found["brokenplugin"]
    assert broken["status"] == "failed" and "ModuleNotFoundError" in broken["error"]
    assert "pio_a_module_that_does_not_exist" in broken["error"]
    text = pio("plugins", "list").stdout
    assert "FAILED" in text and "error: ModuleNotFoundError" in text
    # the broken plugin breaks neither pio nor the other plugins
    help_text = pio("--help")
    assert help_text.returncode == 0 and "hello" in help_text.stdout
    assert pio("hello").stdout.strip() == "hello from the test plugin"


def test_pio_help_imports_no_plugin_job_code(unit, with_test_plugins):
    code = ("import sys; from pioreactor_kernel.cli import main\n"
            "try: main(['--help'])\nexcept SystemExit: pass\n"
            "print('LOADED' if 'pio_testplugin.job' in sys.modules else 'LAZY', file=sys.stderr)")
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert r.stderr.strip().endswith("LAZY"), r.stderr
    assert "hello" in r.stdout


def test_a_single_file_plugin_in_the_data_dir_is_loaded(unit):
    folder = unit.plugins_dir
    (folder / "my_lab.py").write_text(
        "from pioreactor_kernel.plugins import hookimpl\n"
        "@hookimpl\ndef config_defaults():\n    return {'my_lab': {'greeting': 'hi'}}\n"
    )
    (folder / "typo.py").write_text("def oops(:\n")
    found = _plugins_json()
    assert found["my_lab"]["status"] == "loaded" and found["my_lab"]["source"].endswith("my_lab.py")
    assert found["typo"]["status"] == "failed" and "SyntaxError" in found["typo"]["error"]
    assert pio("config", "get", "my_lab.greeting").stdout.strip() == "hi"


def test_a_plugin_whose_registration_fails_is_undone(unit, monkeypatch):
    folder = unit.plugins_dir
    (folder / "half.py").write_text(
        "from pioreactor_kernel.plugins import hookimpl\n"
        "@hookimpl\ndef register_jobs(register):\n"
        "    register('half_job', 'x:y', help='registered before the failure')\n"
        "    raise RuntimeError('boom after one registration')\n"
    )
    pm = PioPluginManager().load()
    assert pm.plugins["half"].status == "failed" and "boom after one registration" in pm.plugins["half"].error
    assert "half_job" not in pm.jobs
    assert pm.pm.get_plugin("half") is None


def test_a_name_registered_twice_fails_the_second_plugin(unit):
    folder = unit.plugins_dir
    for name in ("a_first", "b_second"):
        (folder / f"{name}.py").write_text(
            "from pioreactor_kernel.plugins import hookimpl\n"
            f"@hookimpl\ndef register_jobs(register):\n    register('same', 'm:{name}')\n"
        )
    pm = PioPluginManager().load()
    assert pm.jobs["same"].plugin == "a_first"
    assert pm.plugins["b_second"].status == "failed" and "already registered by plugin 'a_first'" in pm.plugins["b_second"].error


def test_an_unknown_hook_name_is_reported(unit):
    folder = unit.plugins_dir
    (folder / "misspelt.py").write_text(
        "from pioreactor_kernel.plugins import hookimpl\n@hookimpl\ndef register_jobz(register):\n    pass\n"
    )
    pm = PioPluginManager().load()
    assert pm.plugins["misspelt"].status == "failed" and "register_jobz" in pm.plugins["misspelt"].error


@pytest.mark.parametrize(
    ("env", "config_text"),
    [({"PIO_LOAD_PLUGINS": ""}, None), ({"PIO_DISABLE_PLUGINS": "testplugin"}, None),
     ({}, "[plugins]\ndisabled = pio-testplugin\n")],
)
def test_plugins_can_be_disabled_but_not_the_kernel(unit, with_test_plugins, env, config_text):
    if config_text:
        (unit.data_dir / "config.ini").write_text(config_text)
    found = _plugins_json(env)
    assert found["testplugin"]["status"] == "disabled"
    assert found["kernel_commands"]["status"] == "loaded"
    assert "hello" not in pio("--help", env=env).stdout


def test_load_only_the_named_plugins(unit, with_test_plugins):
    found = _plugins_json({"PIO_LOAD_PLUGINS": "pio-testplugin"})
    assert found["testplugin"]["status"] == "loaded" and found["brokenplugin"]["status"] == "disabled"


def test_load_plugins_is_idempotent(unit, with_test_plugins):
    pm = plugin_manager()
    assert pm.load() is pm and plugin_manager() is pm
    assert {"counter", "say_hello"} <= set(pm.jobs)


# ---- one test per hook (a meta-test checks that each has its test and its docs entry) ----

def test_hook_register_jobs(unit, with_test_plugins):
    jobs = plugin_manager().jobs
    assert jobs["counter"].target == "pio_testplugin.job:Counter" and jobs["counter"].plugin == "testplugin"
    assert jobs["say_hello"].extra["kind"] == "action"


def test_hook_register_automations(unit):
    folder = unit.plugins_dir
    (folder / "autos.py").write_text(
        "from pioreactor_kernel.plugins import hookimpl\n@hookimpl\ndef register_automations(register):\n"
        "    register('feeding', 'pulse', 'autos_impl:Pulse', help='feeds in pulses')\n"
        "    register('misting', 'pulse', 'autos_impl:MistPulse')\n"
    )
    pm = plugin_manager()
    assert pm.automations("feeding")["pulse"].help == "feeds in pulses"
    assert pm.automations("misting")["pulse"].target == "autos_impl:MistPulse"
    assert pm.automations("no_such_kind") == {}


def test_hook_register_commands(unit, with_test_plugins):
    assert "Calibrate the test widget" in pio("calibrate", "--help").stdout
    assert pio("calibrate", "widget").stdout.strip() == "hello from the test plugin"


def test_hook_config_defaults(unit, with_test_plugins):
    assert pio("config", "get", "counter.interval_s").stdout.strip() == "0.5"


def test_hook_register_hardware(unit):
    _file_plugin(unit, "hw", "register_hardware", "register('fakeboard', 'hw_impl:make', help='a fake board')")
    assert plugin_manager().registrations["hardware"]["fakeboard"].help == "a fake board"


def test_hook_register_ui(unit):
    _file_plugin(unit, "panel", "register_ui", "register('panel', {'name': 'ph', 'title': 'pH', 'fields': []})")
    (reg,) = plugin_manager().registrations["ui"].values()
    assert reg.extra["ui_kind"] == "panel" and reg.target["title"] == "pH"


def test_hook_register_tables(unit):
    _file_plugin(unit, "tables", "register_tables", "register('ph_readings', 'tables_impl:tables')")
    assert plugin_manager().registrations["tables"]["ph_readings"].target == "tables_impl:tables"


def test_hook_register_services(unit):
    from pioreactor_kernel.services import ServiceUnavailable, has_service, service

    (unit.plugins_dir / "greeter.py").write_text(
        "from pioreactor_kernel.plugins import hookimpl\n"
        "def greet(name):\n    return f'hello {name}'\n"
        "@hookimpl\ndef register_services(register):\n"
        "    register('greeter.greet', 'pio_local_plugin_greeter:greet', help='Say hello')\n"
    )
    assert has_service("greeter.greet") and not has_service("greeter.wave")
    assert service("greeter.greet")("pH probe") == "hello pH probe"
    with pytest.raises(ServiceUnavailable, match=r"'greeter.wave' \(offered: .*greeter.greet"):
        service("greeter.wave")
    # another process finds it in the start-up index (the file plugin's module loads on use)
    code = ("from pioreactor_kernel.services import service\nfrom pioreactor_kernel.registrations import plugin_registry\n"
            "print(type(plugin_registry()).__name__, service('greeter.greet')('you'))")
    first, second = (subprocess.run([sys.executable, "-c", code], capture_output=True, text=True) for _ in range(2))
    assert first.stdout.strip() == "PioPluginManager hello you", first.stderr  # writes this sys.path's index
    assert second.stdout.strip() == "PluginSnapshot hello you", second.stderr


def test_hook_job_started(unit, with_test_plugins):
    from pio_testplugin import plugin as test_plugin
    from pio_testplugin.job import Counter

    with Counter():
        assert test_plugin.STARTED[-1] == "counter"


def test_hook_job_stopped(unit):
    folder = unit.plugins_dir
    (folder / "observer.py").write_text(
        "from pioreactor_kernel.plugins import hookimpl\nSTOPPED = []\n"
        "@hookimpl\ndef job_stopped(job):\n    STOPPED.append((job.job_name, job.state))\n"
        "@hookimpl\ndef job_started(job):\n    raise RuntimeError('a failing observer must not stop the job')\n"
    )
    from pioreactor_kernel.job import BackgroundJob

    class Tiny(BackgroundJob):
        job_name = "tiny"

    with Tiny() as job:
        assert job.state == "ready"
    assert sys.modules["pio_local_plugin_observer"].STOPPED == [("tiny", "disconnected")]


def _file_plugin(unit, name, hook, body):
    folder = unit.plugins_dir
    (folder / f"{name}.py").write_text(
        f"from pioreactor_kernel.plugins import hookimpl\n@hookimpl\ndef {hook}(register):\n    {body}\n"
    )


def test_every_hook_has_a_docs_entry_and_a_test():
    text = DOCS.read_text()
    assert text == hookdocs.render(), "docs/hooks.md is stale: python -m pioreactor_kernel.hookdocs > docs/hooks.md"
    tests = {name for name in globals() if name.startswith("test_hook_")}
    for hook in hookspecs.HOOK_NAMES:
        assert f"## `{hook}(" in text
        assert f"test_hook_{hook}" in tests, f"hook {hook} has no test named test_hook_{hook}"
