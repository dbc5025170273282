"""Who and where this unit is: its name, its leader, and the current experiment."""

from __future__ import annotations

import os
import socket
from typing import TYPE_CHECKING

from .names import DEFAULT_EXPERIMENT, LATEST_EXPERIMENT_TOPIC, validate_name

if TYPE_CHECKING:
    from .config import Config
    from .mqtt import BrokerAddress, MQTTClient

UNIT_ENV = "PIO_UNIT"
EXPERIMENT_ENV = "PIO_EXPERIMENT"


def unit_name(config: Config | None = None) -> str:
    """``PIO_UNIT``, else ``[unit] name`` in config, else the hostname (without domain)."""
    name = os.environ.get(UNIT_ENV)
    if not name:
        if config is None:
            from .config import get_config

            config = get_config()
        name = config.get("unit", "name") or socket.gethostname().split(".")[0]
    return validate_name("unit", name)


def leader_address(config: Config | None = None) -> str:
    if config is None:
        from .config import get_config

        config = get_config()
    return config.get("cluster", "leader_address") or config.get("mqtt", "host") or "localhost"


def is_leader(config: Config | None = None) -> bool:
    if config is None:
        from .config import get_config

        config = get_config()
    leader = config.get("cluster", "leader_name")
    return not leader or leader == unit_name(config)


def current_experiment(client: MQTTClient | None = None, timeout_s: float = 2.0,
                       address: BrokerAddress | None = None) -> str:
    """``PIO_EXPERIMENT``, else the leader's retained ``latest_experiment``, else ``default``.

    With ``client``, read through it; else in one round trip of its own (retained.py), to
    ``address`` (default: the config's broker), waiting up to ``timeout_s`` for the broker.
    """
    name = os.environ.get(EXPERIMENT_ENV)
    if name:
        return validate_name("experiment", name)
    if client is not None:
        from .mqtt import retained_value

        return experiment_from_payload(retained_value(client, LATEST_EXPERIMENT_TOPIC, timeout_s))
    from .mqtt import BrokerAddress, BrokerUnavailable
    from .retained import RetainedReadError, read_retained

    try:
        raw = read_retained(address or BrokerAddress.from_config(), LATEST_EXPERIMENT_TOPIC, timeout_s)
    except RetainedReadError as e:
        raise BrokerUnavailable(str(e)) from None
    return experiment_from_payload(raw)


def experiment_from_payload(raw: bytes | None) -> str:
    """The experiment named by a ``latest_experiment`` payload (plain, or the newer JSON object)."""
    if not raw:
        return DEFAULT_EXPERIMENT
    text = raw.decode("utf-8", errors="replace").strip()
    if text.startswith("{"):  # newer Pioreactor releases publish a JSON object
        import json

        try:
            text = str(json.loads(text).get("experiment") or "")
        except ValueError:
            text = ""
    try:
        return validate_name("experiment", text)
    except ValueError:
        return DEFAULT_EXPERIMENT
