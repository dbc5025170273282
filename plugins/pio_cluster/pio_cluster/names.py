"""Every topic, config key and default of the cluster plugin, defined once (docs/cluster.md).

The agent is a unit-level job: it lives under the universal experiment ``$experiment`` (as the
Pioreactor's ``monitor`` does), so the leader addresses it without knowing the unit's experiment:

- ``pioreactor/<unit>/$experiment/agent/command``  leader -> agent, QoS 1, not retained, signed
- ``pioreactor/<unit>/$experiment/agent/reply``    agent -> leader, QoS 1, not retained, signed
- ``pioreactor/<unit>/$experiment/agent/$state``   the agent's state (``lost`` is its last will)
"""

from __future__ import annotations

from typing import Final

from pioreactor_kernel.names import ROOT, STATE, UNIVERSAL_EXPERIMENT

AGENT: Final = "agent"
COMMAND: Final = "command"
REPLY: Final = "reply"

# settings the agent publishes (retained)
VERSIONS: Final = "versions"
DISCOVERY: Final = "discovery"
COMMANDS_REFUSED: Final = "commands_refused"

ACTIONS: Final = ("run", "kill", "set", "config", "status", "install", "uninstall")

# zeroconf
SERVICE_TYPE: Final = "_pioreactor._tcp.local."
LEADER_ALIAS_TYPE: Final = "_pio-leader._tcp.local."  # its server name is the alias host
LEADER_ALIAS_HOST: Final = "pioreactor.local."

# config: [cluster] (leader_name and leader_address are the kernel's)
SECTION: Final = "cluster"
WORKER_SECTION: Final = "worker"
DEFAULTS: Final = {
    SECTION: {
        "secret": "",  # shared HMAC key of the cluster; at least 16 characters
        "command_timeout_s": "30",  # how long `pios` waits for every unit's answer
        "command_max_age_s": "120",  # an agent refuses a command older (or newer) than this: replays
        "job_ready_timeout_s": "20",  # an agent waits this long for a job it started to be ready
        "plugin_install_timeout_s": "600",
        "zeroconf": "true",  # advertise this unit with zeroconf
        "zeroconf_interfaces": "all",  # or a comma list of IPv4 addresses, e.g. 127.0.0.1
        "advertise_address": "",  # empty: this unit's IPv4 addresses on those interfaces
        "broker_bind": "0.0.0.0",  # `pio leader up`: loopback + LAN listener
        "inventory": "auto",  # auto | leader (pio-leader's database) | local (storage/cluster.sqlite)
    },
    WORKER_SECTION: {"start_jobs": ""},  # jobs `pio worker up` starts with the agent
}
MIN_SECRET_CHARS: Final = 16
MAX_COMMAND_BYTES: Final = 512 * 1024  # a synced config fits many times over


def agent_topic(unit: str, *rest: str) -> str:
    return "/".join((ROOT, unit, UNIVERSAL_EXPERIMENT, AGENT, *rest))


def command_topic(unit: str) -> str:
    return agent_topic(unit, COMMAND)


def reply_topic(unit: str) -> str:
    return agent_topic(unit, REPLY)


def agent_state_topic(unit: str) -> str:
    return agent_topic(unit, STATE)


ALL_REPLIES: Final = agent_topic("+", REPLY)
ALL_AGENT_STATES: Final = agent_topic("+", STATE)
ALL_COMMANDS: Final = agent_topic("+", COMMAND)
