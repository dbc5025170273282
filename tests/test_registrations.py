"""The plugins' registrations served from the start-up index: same answers, no plugin loaded.

Each check runs in fresh processes, as ``pio run`` does: one loads the plugins (and writes the
index), the next answers from the index.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys

FULL = "from pioreactor_kernel.plugins import plugin_manager as registry\n"
SNAPSHOT = "from pioreactor_kernel.registrations import plugin_registry as registry\n"
DUMP = (
    "import sys, json\n"
    "r = registry()\n"
    "regs = {kind: sorted(repr((key, x.name, x.target, x.plugin, x.help, sorted(x.extra.items())))\n"
    "                     for key, x in table.items()) for kind, table in r.registrations.items()}\n"
    "print(json.dumps({'type': type(r).__name__, 'pluggy': 'pluggy' in sys.modules, 'regs': regs,\n"
    "                  'defaults': r.config_defaults(), 'dosing': sorted(r.automations('dosing'))}))\n"
)


def _run(code: str) -> dict:
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=os.environ.copy())
    assert r.returncode == 0, r.stderr
    return json.loads(r.stdout.strip().splitlines()[-1])


def _plugin(unit, name: str, text: str) -> None:
    path = unit.plugins_dir / f"{name}.py"
    existed = path.exists()
    path.write_text("from pioreactor_kernel.plugins import hookimpl\n" + text)
    if existed:  # a different mtime, even within the file system's timestamp granularity
        st = path.stat()
        os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns + 1_000_000_000))


def test_a_process_answers_from_the_index_as_the_plugins_would_without_loading_them(unit):
    full = _run(FULL + DUMP)
    assert full["type"] == "PioPluginManager" and full["pluggy"]
    served = _run(SNAPSHOT + DUMP)
    assert served["type"] == "PluginSnapshot" and not served["pluggy"]
    assert served["regs"] == full["regs"] and served["regs"]["job"]
    assert served["defaults"] == full["defaults"] and served["dosing"] == full["dosing"]


def test_a_changed_plugin_file_makes_the_next_process_load_the_plugins_again(unit):
    _plugin(unit, "my_lab", "@hookimpl\ndef config_defaults():\n    return {'my_lab': {'greeting': 'hi'}}\n")
    _run(FULL + DUMP)
    first = _run(SNAPSHOT + DUMP)
    assert first["type"] == "PluginSnapshot" and first["defaults"]["my_lab"] == {"greeting": "hi"}

    _plugin(unit, "my_lab", "@hookimpl\ndef config_defaults():\n    return {'my_lab': {'greeting': 'hello'}}\n")
    reloaded = _run(SNAPSHOT + DUMP)
    assert reloaded["type"] == "PioPluginManager" and reloaded["defaults"]["my_lab"] == {"greeting": "hello"}
    again = _run(SNAPSHOT + DUMP)  # the reload wrote a fresh index
    assert again["type"] == "PluginSnapshot" and again["defaults"]["my_lab"] == {"greeting": "hello"}


JOB = (
    "import sys\n"
    "from pioreactor_kernel.job import BackgroundJob\n"
    "class Tiny(BackgroundJob):\n    job_name = 'tiny'\n"
    "with Tiny() as job:\n    ready = job.state\n"
    "print('{\"ready\": \"%s\", \"pluggy\": %s}' % (ready, str('pluggy' in sys.modules).lower()))\n"
)


def test_a_job_loads_the_plugins_only_when_one_observes_jobs(unit, tmp_path):
    _run(FULL + DUMP)
    assert _run(JOB) == {"ready": "ready", "pluggy": False}

    seen = tmp_path / "seen"
    _plugin(unit, "observer", f"@hookimpl\ndef job_started(job):\n    open({str(seen)!r}, 'a').write(job.job_name)\n")
    _run(FULL + DUMP)
    assert _run(JOB) == {"ready": "ready", "pluggy": True}
    assert seen.read_text() == "tiny"


def test_plugins_registering_objects_or_failing_their_defaults_are_never_served_from_the_index(unit):
    _plugin(unit, "objects", "@hookimpl\ndef register_hardware(register):\n    register('odd', print)\n")
    _run(FULL + DUMP)
    assert _run(SNAPSHOT + DUMP)["type"] == "PioPluginManager"

    (unit.plugins_dir / "objects.py").unlink()
    _plugin(unit, "failing", "@hookimpl\ndef config_defaults():\n    raise RuntimeError('no defaults today')\n")
    _run(FULL + DUMP)
    assert _run(SNAPSHOT + DUMP)["type"] == "PioPluginManager"
