"""Layered config: defaults < config.ini < unit_config.ini < environment; clear errors for bad files."""

from __future__ import annotations

import pytest

from pioreactor_kernel.config import Config, ConfigError, env_layer, get_config
from pioreactor_kernel.testing import pio


def test_layers_override_in_order(tmp_path, monkeypatch):
    (tmp_path / "config.ini").write_text("[stirring]\ntarget_rpm = 400\ninitial_duty = 30\n[mqtt]\nhost = leader\n")
    (tmp_path / "unit_config.ini").write_text("[stirring]\ntarget_rpm = 450\n")
    monkeypatch.setenv("PIO__mqtt__host", "10.0.0.2")
    cfg = Config.load({"stirring": {"target_rpm": "300", "pwm_hz": "200"}}, tmp_path)
    assert cfg.get("stirring", "pwm_hz") == "200"  # default
    assert cfg.get("stirring", "initial_duty") == "30"  # shared file
    assert cfg.getfloat("stirring", "target_rpm") == 450  # unit file beats shared
    assert cfg.get("mqtt", "host") == "10.0.0.2"  # environment beats all
    assert cfg.origin("stirring", "target_rpm") == str(tmp_path / "unit_config.ini")
    assert cfg.origin("mqtt", "host") == "environment"


def test_a_fresh_data_dir_needs_no_config_file(unit):
    cfg = get_config(reload=True)
    assert cfg.get("mqtt", "host") == "127.0.0.1"  # from the unit fixture's environment
    assert cfg.get("hardware", "backend") == "auto"  # kernel default through the config_defaults hook
    assert cfg.get("hardware.pwm", "1")  # the physical map, from the hardware layer's defaults


@pytest.mark.parametrize(
    ("text", "line", "words"),
    [
        ("[a]\nx = 1\nthis line is broken\n", 3, "cannot parse"),
        ("x = 1\n[a]\n", 1, "before any [section]"),
        ("[a]\nx = 1\n[b]\n[a]\n", 4, "section 'a' already exists"),
        ("[a]\nx = 1\nx = 2\n", 3, "option 'x'"),
    ],
)
def test_a_malformed_file_names_the_file_and_line(tmp_path, text, line, words):
    (tmp_path / "config.ini").write_text(text)
    with pytest.raises(ConfigError) as info:
        Config.load({}, tmp_path)
    message = str(info.value)
    assert str(tmp_path / "config.ini") in message and f"line {line}" in message and words in message


def test_bad_typed_value_names_its_origin(tmp_path):
    (tmp_path / "unit_config.ini").write_text("[mqtt]\nport = eighteen\n")
    cfg = Config.load({}, tmp_path)
    with pytest.raises(ConfigError, match="port = 'eighteen' is not a number.*unit_config.ini"):
        cfg.getint("mqtt", "port")


def test_environment_layer_parsing():
    assert env_layer({"PIO__MQTT__Port": "1", "PIO__x": "no key", "OTHER": "1"}) == {"mqtt": {"port": "1"}}


def test_pio_config_set_get_show(unit):
    r = pio("config", "set", "stirring.target_rpm", "475")
    assert r.returncode == 0, r.stderr
    assert "unit_config.ini" in r.stdout
    assert pio("config", "get", "stirring.target_rpm").stdout.strip() == "475"
    r = pio("config", "set", "--shared", "dosing.max_volume_ml", "18")
    assert (unit.data_dir / "config.ini").read_text().count("max_volume_ml = 18") == 1
    show = pio("config", "show", "--origin").stdout
    assert "target_rpm = 475" in show and "unit_config.ini" in show and "backend = auto    ; defaults" in show
    missing = pio("config", "get", "nope.nothing")
    assert missing.returncode == 1 and "nope.nothing is not set" in missing.stderr


def test_pio_reports_a_malformed_config_and_exits(unit):
    (unit.data_dir / "config.ini").write_text("[mqtt]\nport 1883\n")
    r = pio("config", "show")
    assert r.returncode == 2
    assert "config.ini, line 2" in r.stderr and "Traceback" not in r.stderr


def test_a_job_process_reads_unchanged_config_files_from_the_start_up_index(unit):
    import os
    import subprocess
    import sys

    (unit.data_dir / "config.ini").write_text("[stirring]\ntarget_rpm = 321\n")
    read = ("import sys\nfrom pioreactor_kernel.config import get_config\n"
            "print(get_config().get('stirring', 'target_rpm'), 'configparser' in sys.modules)")

    def run(code: str) -> str:
        r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=os.environ.copy())
        assert r.returncode == 0, r.stderr
        return r.stdout.strip()

    assert run(read) == "321 True"  # no index yet: parsed, and the plugins loaded write the index
    assert run(read) == "321 False"
    (unit.data_dir / "config.ini").write_text("[stirring]\ntarget_rpm = 4321\n")
    assert run(read) == "4321 True"
    assert run(read) == "4321 False"
    (unit.data_dir / "config.ini").write_text("[stirring\n")
    r = pio("config", "get", "stirring.target_rpm")
    assert r.returncode != 0 and "config.ini, line 1" in r.stderr
