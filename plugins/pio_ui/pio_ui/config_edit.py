"""The config editor: show the unit's config files with secrets masked, validate before saving,
keep every previous version.

A save is refused when the text does not parse (the kernel's own reader says which line), or
when a key the plugins declare with a number or boolean default gets a value of another type.
Values of keys named like a secret (password, secret, token, key) are shown as ``********`` and
kept as they were when saved back unchanged.
"""

from __future__ import annotations

import configparser
import re
import tempfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from pioreactor_kernel.config import SHARED_FILE, UNIT_FILE, ConfigError, _read_file
from pioreactor_kernel.timestamps import current_utc_timestamp

from .names import CONFIG_HISTORY_DIR

FILES = (SHARED_FILE, UNIT_FILE)
MASK = "********"
SECRET = re.compile(r"password|secret|token|(^|_)key$", re.I)
MAX_VERSIONS = 50


def _mask(text: str) -> str:
    out = []
    for line in text.splitlines():
        m = re.match(r"^(\s*)([^#;\[\s][^=:]*?)(\s*[=:]\s*)(.*)$", line)
        out.append(f"{m.group(1)}{m.group(2)}{m.group(3)}{MASK}" if m and SECRET.search(m.group(2)) and m.group(4) else line)
    return "\n".join(out) + ("\n" if text.endswith("\n") else "")


def _kind(value: str) -> str:
    text = value.strip().lower()
    if text in ("true", "false", "yes", "no", "on", "off"):
        return "boolean"
    try:
        float(text)
        return "number"
    except ValueError:
        return "text"


class ConfigEditor:
    def __init__(self, data_dir: Path, defaults: Mapping[str, Mapping[str, str]]):
        self.data_dir, self.defaults = data_dir, defaults
        self.history = data_dir / CONFIG_HISTORY_DIR

    def _path(self, name: str) -> Path:
        if name not in FILES:
            raise ValueError(f"only {', '.join(FILES)} can be edited")
        return self.data_dir / name

    def show(self) -> dict[str, Any]:
        files = {}
        for name in FILES:
            path = self._path(name)
            files[name] = _mask(path.read_text(encoding="utf-8")) if path.exists() else ""
        versions = sorted((p.name for p in self.history.glob("*.ini")), reverse=True) if self.history.is_dir() else []
        defaults = {s: {k: (MASK if SECRET.search(k) and v else v) for k, v in keys.items()}
                    for s, keys in self.defaults.items()}
        return {"files": files, "history": versions[:MAX_VERSIONS], "defaults": defaults}

    def validate(self, name: str, text: str) -> configparser.ConfigParser:
        with tempfile.TemporaryDirectory() as tmp:
            path = Path(tmp) / name
            path.write_text(text, encoding="utf-8")
            try:
                parser = _read_file(path)
            except ConfigError as e:
                raise ValueError(str(e).replace(str(path), name)) from None
        problems = []
        for section in parser.sections():
            for key, value in parser[section].items():
                default = self.defaults.get(section, {}).get(key)
                if default in (None, "") or value.strip() == "" or value == MASK:
                    continue
                want, got = _kind(default), _kind(value)
                if want != "text" and want != got:
                    problems.append(f"[{section}] {key} = {value!r}: expected a {want} (default {default!r})")
        if problems:
            raise ValueError("; ".join(problems))
        return parser

    def save(self, name: str, text: str, dry_run: bool = False) -> dict[str, Any]:
        path = self._path(name)
        if len(text) > 200_000:
            raise ValueError("config text is too long")
        old = path.read_text(encoding="utf-8") if path.exists() else ""
        text = self._unmask(text, old)
        self.validate(name, text)
        if dry_run:
            return {"ok": True, "valid": True}
        if old:
            self.history.mkdir(parents=True, exist_ok=True)
            stamp = current_utc_timestamp().replace(":", "-")
            (self.history / f"{stamp}_{name}").write_text(old, encoding="utf-8")
            for stale in sorted(self.history.glob(f"*_{name}"))[:-MAX_VERSIONS]:
                stale.unlink()
        tmp = path.with_suffix(".ui-tmp")
        tmp.write_text(text, encoding="utf-8")
        tmp.replace(path)
        return {"ok": True, "saved": name}

    def _unmask(self, text: str, old: str) -> str:
        if MASK not in text:
            return text
        previous: dict[tuple[str, str], str] = {}
        section = ""
        for line in old.splitlines():
            s = line.strip()
            if s.startswith("[") and s.endswith("]"):
                section = s[1:-1]
            elif "=" in s and not s.startswith(("#", ";")):
                k, v = s.split("=", 1)
                previous[(section, k.strip().lower())] = v.strip()
        out, section = [], ""
        for line in text.splitlines():
            s = line.strip()
            if s.startswith("[") and s.endswith("]"):
                section = s[1:-1]
            elif "=" in s and s.split("=", 1)[1].strip() == MASK:
                key = s.split("=", 1)[0].strip()
                kept = previous.get((section, key.lower()))
                if kept is None:
                    raise ValueError(f"[{section}] {key}: type the value (it was not set before)")
                line = f"{key} = {kept}"
            out.append(line)
        return "\n".join(out) + "\n"

    def old(self, name: str, stamp: str) -> str | None:
        self._path(name)
        if not re.fullmatch(r"[0-9T.Z-]+_" + re.escape(name), stamp):
            return None
        path = self.history / stamp
        return _mask(path.read_text(encoding="utf-8")) if path.exists() else None
