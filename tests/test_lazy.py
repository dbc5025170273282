"""Deferred imports: a stand-in loads the real module on first use and never hides it after."""

from __future__ import annotations

import subprocess
import sys


def _run(code: str) -> str:
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.strip()


def test_the_job_process_does_not_load_ssl_hashlib_or_http_until_used():
    out = _run(
        "import sys, pioreactor_kernel.mqtt\n"
        "real = lambda n: n in sys.modules and '__file__' in sys.modules[n].__dict__\n"
        "print(real('ssl'), real('hashlib'), 'http.client' in sys.modules)"
    )
    assert out == "False False False"


def test_a_placeholder_answers_until_the_real_module_is_loaded_then_the_real_one_does():
    out = _run(
        "import sys, pioreactor_kernel._lazy as m, pioreactor_kernel.mqtt, paho.mqtt.client as c\n"
        "before = c.ssl.SSLWantReadError is m._NeverRaised\n"
        "import ssl\n"
        "ssl.create_default_context()\n"
        "after = c.ssl.SSLWantReadError is sys.modules['ssl'].SSLWantReadError\n"
        "import hashlib\n"
        "print(before, after, hashlib.sha1(b'pio').hexdigest()[:6])"
    )
    assert out == "True True ee9a47"  # sha1(b"pio")


def test_opening_hardware_does_not_map_openssl():
    out = _run("import sys, pioreactor_kernel.mqtt, pioreactor_kernel.hardware.leases\nprint('_hashlib' in sys.modules)")
    assert out == "False"


def test_a_job_process_leaves_urllib_parse_ipaddress_and_selectors_unloaded_and_they_work_when_used():
    out = _run(
        "import sys\n"
        "from pioreactor_kernel._lazy import defer_startup_imports\n"
        "defer_startup_imports()\n"
        "import pathlib, socket, pioreactor_kernel.mqtt\n"
        "real = lambda n: n in sys.modules and '__file__' in sys.modules[n].__dict__\n"
        "print(real('urllib.parse'), real('ipaddress'), real('selectors'))\n"
        "print(pathlib.Path('/tmp/a b').as_uri())\n"  # pathlib's placeholder loads the real function
        "from urllib.parse import urlsplit\n"  # a from-import on a stand-in gets the real name
        "import selectors\n"
        "print(urlsplit('mqtt://h:1/x').port, selectors.DefaultSelector.__name__, real('urllib.parse'))"
    )
    assert out.splitlines() == ["False False False", "file:///tmp/a%20b", "1 EpollSelector True"]
