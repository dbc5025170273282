"""Layered INI configuration.

Layers, lowest first: plugin defaults (the ``config_defaults`` hook) < the shared
``config.ini`` < the unit's ``unit_config.ini`` < environment variables
``PIO__<section>__<key>=value``. A fresh data dir needs no file at all: the defaults work.
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import TYPE_CHECKING

from .paths import data_dir

if TYPE_CHECKING:
    import configparser

ENV_PREFIX = "PIO__"
SHARED_FILE = "config.ini"
UNIT_FILE = "unit_config.ini"


class ConfigError(Exception):
    """A config file that cannot be read; the message names the file and line."""


def _read_file(path: Path) -> configparser.ConfigParser:
    import configparser

    parser = configparser.ConfigParser(interpolation=None, strict=True)
    try:
        with path.open(encoding="utf-8") as f:
            parser.read_file(f, source=str(path))
    except configparser.MissingSectionHeaderError as e:
        raise ConfigError(f"{path}, line {e.lineno}: a key before any [section] header: {e.line.strip()!r}") from None
    except configparser.ParsingError as e:
        lineno, line = e.errors[0]
        raise ConfigError(f"{path}, line {lineno}: cannot parse {line.strip()!r} (expected 'key = value' or '[section]')") from None
    except (configparser.DuplicateSectionError, configparser.DuplicateOptionError) as e:
        raise ConfigError(f"{path}, line {e.lineno}: {e.message.split(': ', 1)[-1]}") from None
    except UnicodeDecodeError as e:
        raise ConfigError(f"{path}: not UTF-8 text ({e})") from None
    return parser


class Config:
    """Read-only view over the layers; ``origin()`` tells which layer a value came from."""

    def __init__(self, layers: list[tuple[str, Mapping[str, Mapping[str, str]]]]):
        self._layers = layers  # lowest first: (name, {section: {key: value}})

    @classmethod
    def load(cls, defaults: Mapping[str, Mapping[str, str]] | None = None, directory: Path | None = None) -> Config:
        directory = directory or data_dir()
        layers: list[tuple[str, Mapping[str, Mapping[str, str]]]] = [("defaults", defaults or {})]
        for name in (SHARED_FILE, UNIT_FILE):
            path = directory / name
            if path.exists():
                layers.append((str(path), file_layer(path)))
        layers.append(("environment", env_layer(os.environ)))
        return cls(layers)

    def get(self, section: str, key: str, fallback: str | None = None) -> str | None:
        key = key.lower()
        for _, layer in reversed(self._layers):
            sec = layer.get(section)
            if sec is not None and key in sec:
                return sec[key]
        return fallback

    def getfloat(self, section: str, key: str, fallback: float | None = None) -> float | None:
        value = self.get(section, key)
        if value is None or value == "":
            return fallback
        try:
            return float(value)
        except ValueError:
            raise ConfigError(f"[{section}] {key} = {value!r} is not a number (from {self.origin(section, key)})") from None

    def getint(self, section: str, key: str, fallback: int | None = None) -> int | None:
        value = self.getfloat(section, key)
        return fallback if value is None else int(value)

    def getboolean(self, section: str, key: str, fallback: bool = False) -> bool:
        value = self.get(section, key)
        if value is None or value == "":
            return fallback
        lowered = value.strip().lower()
        if lowered in ("1", "yes", "true", "on"):
            return True
        if lowered in ("0", "no", "false", "off"):
            return False
        raise ConfigError(f"[{section}] {key} = {value!r} is not a boolean (from {self.origin(section, key)})")

    def getlist(self, section: str, key: str) -> list[str]:
        value = self.get(section, key) or ""
        return [item.strip() for item in value.split(",") if item.strip()]

    def section(self, section: str) -> dict[str, str]:
        merged: dict[str, str] = {}
        for _, layer in self._layers:
            merged.update(layer.get(section, {}))
        return merged

    def sections(self) -> list[str]:
        names: dict[str, None] = {}
        for _, layer in self._layers:
            names.update(dict.fromkeys(layer))
        return list(names)

    def origin(self, section: str, key: str) -> str | None:
        for name, layer in reversed(self._layers):
            if key.lower() in layer.get(section, {}):
                return name
        return None

    def items(self) -> Iterator[tuple[str, str, str, str]]:
        """(section, key, value, origin) for every effective value."""
        for section in self.sections():
            for key, value in self.section(section).items():
                yield section, key, value, self.origin(section, key) or ""


def file_layer(path: Path) -> dict[str, dict[str, str]]:
    """``{section: {key: value}}`` of a config file, from the start-up index while the file is unchanged.

    The index (entry.py) keeps the data dir's config files as parsed when it was written, with
    their mtime and size: a job reads its config without importing configparser (~2 ms).
    """
    from . import entry

    index = entry.load_index(recheck=False)
    cached = (index or {}).get("config_files", {}).get(str(path))
    if cached is not None:
        try:
            st = path.stat()
        except OSError:
            st = None
        if st is not None and (st.st_mtime_ns, st.st_size) == tuple(cached[:2]):
            return {section: dict(values) for section, values in cached[2].items()}
    parser = _read_file(path)
    return {s: dict(parser[s]) for s in parser.sections()}


def parsed_files(directory: Path | None = None) -> dict[str, tuple[int, int, dict[str, dict[str, str]]]]:
    """The data dir's readable config files as the start-up index keeps them: path -> (mtime, size, layer)."""
    directory = directory or data_dir()
    kept = {}
    for name in (SHARED_FILE, UNIT_FILE):
        path = directory / name
        try:
            st = path.stat()
            parser = _read_file(path)
        except (OSError, ConfigError):
            continue  # a broken file is reported by whoever reads it
        kept[str(path)] = (st.st_mtime_ns, st.st_size, {s: dict(parser[s]) for s in parser.sections()})
    return kept


def env_layer(environ: Mapping[str, str]) -> dict[str, dict[str, str]]:
    layer: dict[str, dict[str, str]] = {}
    for name, value in environ.items():
        if name.startswith(ENV_PREFIX):
            section, sep, key = name[len(ENV_PREFIX):].partition("__")
            if sep and section and key:
                layer.setdefault(section.lower(), {})[key.lower()] = value
    return layer


def set_value(section: str, key: str, value: str, *, shared: bool = False, directory: Path | None = None) -> Path:
    """Write one value into ``unit_config.ini`` (or the shared ``config.ini``), keeping the rest."""
    import configparser

    path = (directory or data_dir()) / (SHARED_FILE if shared else UNIT_FILE)
    parser = _read_file(path) if path.exists() else configparser.ConfigParser(interpolation=None)
    if not parser.has_section(section):
        parser.add_section(section)
    parser.set(section, key, value)
    tmp = path.with_suffix(".tmp")
    with tmp.open("w", encoding="utf-8") as f:
        parser.write(f)
    tmp.replace(path)
    return path


_cached: Config | None = None


def get_config(reload: bool = False) -> Config:
    """The process's config, with every loaded plugin's defaults as the lowest layer."""
    global _cached
    if _cached is None or reload:
        from .registrations import plugin_registry

        _cached = Config.load(plugin_registry().config_defaults())
    return _cached
