"""Line-level edits of INI text that keep the user's comments and layout (config sync).

The cluster secret never travels over MQTT: ``pios sync-config`` strips it from what it sends,
and the agent puts its own back into what it writes.
"""

from __future__ import annotations

import configparser
import re
from pathlib import Path

from .names import SECTION

_HEADER = re.compile(r"^\s*\[([^\]]+)\]\s*$")


def _key_pattern(key: str) -> re.Pattern[str]:
    return re.compile(rf"^\s*{re.escape(key)}\s*[=:]", re.IGNORECASE)


def _sections(lines: list[str]) -> list[str | None]:
    """The section each line belongs to (None before the first header)."""
    current: str | None = None
    owners = []
    for line in lines:
        match = _HEADER.match(line)
        if match:
            current = match.group(1).strip()
        owners.append(current)
    return owners


def without_key(text: str, key: str, section: str = SECTION) -> str:
    lines = text.splitlines(keepends=True)
    pattern = _key_pattern(key)
    return "".join(line for line, owner in zip(lines, _sections(lines), strict=True)
                   if not (owner == section and pattern.match(line)))


def with_key(text: str, key: str, value: str, section: str = SECTION) -> str:
    """``text`` with ``key = value`` in ``section`` (replacing the key's lines, adding the section if needed)."""
    text = without_key(text, key, section)
    lines = text.splitlines(keepends=True)
    for i, line in enumerate(lines):
        match = _HEADER.match(line)
        if match and match.group(1).strip() == section:
            lines.insert(i + 1, f"{key} = {value}\n")
            return "".join(lines)
    if text and not text.endswith("\n"):
        text += "\n"
    return f"{text}\n[{section}]\n{key} = {value}\n"


def without_secret(text: str) -> str:
    return without_key(text, "secret")


def with_secret(text: str, secret: str) -> str:
    return with_key(text, "secret", secret)


def secret_in(path: Path) -> str:
    """The ``[cluster] secret`` the file at ``path`` sets ("" if none, or if the file does not parse)."""
    if not path.exists():
        return ""
    parser = configparser.ConfigParser(interpolation=None, strict=False)
    try:
        parser.read(path, encoding="utf-8")
    except configparser.Error:
        return ""
    return parser.get(SECTION, "secret", fallback="")
