"""Zeroconf: every unit advertises ``<unit>._pioreactor._tcp.local.``; the leader also answers to
``pioreactor.local``. Conflicts (another device already using the unit's name or host name) are
detected before advertising, and reported instead of silently renaming.

TXT properties of a unit's service: ``name`` (unit), ``role`` (leader|worker), ``version``
(kernel), ``cluster`` (this plugin's version), ``address`` (comma list), ``instance`` (random per
start: two records with one name and different instances are two devices).
"""

from __future__ import annotations

import socket
import threading
import time
import uuid
from dataclasses import dataclass, field
from typing import Any

from .names import LEADER_ALIAS_HOST, LEADER_ALIAS_TYPE, SERVICE_TYPE

CHECK_S = 2.0  # listen this long for another device using a name (answers wait out 1 s after an announcement)


@dataclass
class Found:
    """One unit seen on the network."""

    name: str
    role: str
    version: str
    addresses: list[str]
    port: int
    service: str
    instances: set[str] = field(default_factory=set)
    conflict: str | None = None


def interfaces_from(setting: str | None) -> Any:
    """``all`` (every interface) or a list of IPv4 addresses from ``[cluster] zeroconf_interfaces``."""
    from zeroconf import InterfaceChoice

    items = [s.strip() for s in (setting or "all").split(",") if s.strip()]
    return InterfaceChoice.All if not items or items == ["all"] else items


def local_addresses(interfaces: Any, configured: str | None = None) -> list[str]:
    """What to advertise: ``[cluster] advertise_address``, else the chosen interfaces' IPv4 addresses."""
    if configured:
        return [a.strip() for a in configured.split(",") if a.strip()]
    if isinstance(interfaces, list):
        return interfaces
    import ifaddr

    found = [ip.ip for adapter in ifaddr.get_adapters() for ip in adapter.ips
             if isinstance(ip.ip, str) and not ip.ip.startswith("127.")]
    return found or ["127.0.0.1"]


def _zeroconf(interfaces: Any) -> Any:
    from zeroconf import IPVersion, Zeroconf

    return Zeroconf(interfaces=interfaces, ip_version=IPVersion.V4Only)


def _props(info: Any) -> dict[str, str]:
    return {(k.decode() if isinstance(k, bytes) else str(k)): (v.decode() if isinstance(v, bytes) else str(v or ""))
            for k, v in (info.properties or {}).items()}


def resolve_host(zc: Any, host: str, timeout_s: float = 1.0) -> list[str]:
    """IPv4 addresses that answer for ``host`` (e.g. ``pioreactor.local.``); empty if none.

    Questions ask for multicast answers (QM): with several responders on one host sharing port
    5353, a unicast answer reaches only one of their sockets.
    """
    from zeroconf import AddressResolverIPv4, DNSQuestionType

    resolver = AddressResolverIPv4(host)
    answered = resolver.request(zc, int(timeout_s * 1000), question_type=DNSQuestionType.QM)
    return list(resolver.parsed_addresses()) if answered else []


class Advertiser:
    """Advertises one unit (and, for the leader, the ``pioreactor.local`` alias) until ``close()``."""

    def __init__(self, unit: str, role: str, version: str, port: int, *, interfaces: Any = None,
                 addresses: list[str] | None = None, cluster_version: str = "", check_s: float = CHECK_S):
        self.unit, self.role, self.version, self.port = unit, role, version, port
        self.check_s = check_s
        self.interfaces = interfaces if interfaces is not None else interfaces_from("all")
        self.addresses = addresses or local_addresses(self.interfaces)
        self.cluster_version = cluster_version
        self.instance = uuid.uuid4().hex[:12]
        self.zc: Any = None
        self._infos: list[Any] = []
        self._lock = threading.Lock()

    def service_info(self) -> Any:
        from zeroconf import ServiceInfo

        return ServiceInfo(
            SERVICE_TYPE, f"{self.unit}.{SERVICE_TYPE}", port=self.port, server=f"{self.unit}.local.",
            addresses=[socket.inet_aton(a) for a in self.addresses],
            properties={"name": self.unit, "role": self.role, "version": self.version, "cluster": self.cluster_version,
                        "address": ",".join(self.addresses), "instance": self.instance},
        )

    def start(self) -> dict[str, Any]:
        """Check for conflicts, then register; returns the status the agent publishes (``discovery``)."""
        from zeroconf import DNSQuestionType, NonUniqueNameException

        status: dict[str, Any] = {"advertised": False, "name": f"{self.unit}.{SERVICE_TYPE}", "role": self.role,
                                  "addresses": self.addresses, "conflict": None, "alias": None}
        with self._lock:
            self.zc = _zeroconf(self.interfaces)
            answers: dict[str, Any] = {}
            host_check = threading.Thread(target=lambda: answers.setdefault(
                "host", resolve_host(self.zc, f"{self.unit}.local.", self.check_s)), daemon=True)
            host_check.start()  # both questions at once: each waits its whole timeout when nobody answers
            other = self.zc.get_service_info(SERVICE_TYPE, status["name"], timeout=int(self.check_s * 1000),
                                             question_type=DNSQuestionType.QM)
            host_check.join()
            if other is not None and _props(other).get("instance") != self.instance:
                status["conflict"] = (f"another device already advertises unit {self.unit!r} at "
                                      f"{', '.join(other.parsed_addresses()) or '?'}: unit names must be unique")
                return status
            taken = [a for a in answers.get("host", []) if a not in self.addresses]
            if taken:
                status["conflict"] = (f"the host name {self.unit}.local is already answered by {', '.join(taken)} "
                                      f"(this unit is {', '.join(self.addresses)}): host names must be unique")
                return status
            try:
                info = self.service_info()
                self.zc.register_service(info, allow_name_change=False)
                self._infos.append(info)
            except NonUniqueNameException:
                status["conflict"] = f"another device answered to {status['name']} while registering it"
                return status
            status["advertised"] = True
            if self.role == "leader":
                status["alias"] = self._register_alias()
        return status

    def _register_alias(self) -> str:
        from zeroconf import NonUniqueNameException, ServiceInfo

        others = [a for a in resolve_host(self.zc, LEADER_ALIAS_HOST, self.check_s) if a not in self.addresses]
        if others:
            return f"conflict: {LEADER_ALIAS_HOST} is already answered by {', '.join(others)} (another leader?)"
        info = ServiceInfo(LEADER_ALIAS_TYPE, f"{self.unit}.{LEADER_ALIAS_TYPE}", port=self.port,
                           server=LEADER_ALIAS_HOST, addresses=[socket.inet_aton(a) for a in self.addresses],
                           properties={"name": self.unit})
        try:
            self.zc.register_service(info, allow_name_change=False)
        except NonUniqueNameException:
            return f"conflict: another leader advertises {LEADER_ALIAS_TYPE}"
        self._infos.append(info)
        return LEADER_ALIAS_HOST.rstrip(".")

    def close(self) -> None:
        with self._lock:
            if self.zc is not None:
                try:
                    for info in self._infos:
                        self.zc.unregister_service(info)
                finally:
                    self.zc.close()
                    self.zc = None
                    self._infos.clear()


def browse(timeout_s: float = 3.0, interfaces: Any = None) -> list[Found]:
    """Every unit that answers within ``timeout_s``, with name conflicts marked."""
    from zeroconf import DNSQuestionType, DNSText, ServiceBrowser, ServiceListener

    services: set[str] = set()

    class Listener(ServiceListener):
        def add_service(self, zc: Any, type_: str, name: str) -> None:
            services.add(name)

        def update_service(self, zc: Any, type_: str, name: str) -> None:
            services.add(name)

        def remove_service(self, zc: Any, type_: str, name: str) -> None:
            pass

    zc = _zeroconf(interfaces if interfaces is not None else interfaces_from("all"))
    try:
        browser = ServiceBrowser(zc, SERVICE_TYPE, Listener(), question_type=DNSQuestionType.QM)
        time.sleep(timeout_s)  # browsing is listening for a while: there is no "everyone answered" event
        browser.cancel()
        found: dict[str, Found] = {}
        for service in sorted(services):
            info = zc.get_service_info(SERVICE_TYPE, service, timeout=int(CHECK_S * 1000), question_type=DNSQuestionType.QM)
            if info is None:
                continue
            props = _props(info)
            name = props.get("name") or service.removesuffix(f".{SERVICE_TYPE}")
            texts = [r for r in zc.cache.entries_with_name(service) if isinstance(r, DNSText)]
            instances = {_instance_of(r.text) for r in texts} - {""}
            entry = found.setdefault(name, Found(name, props.get("role", "?"), props.get("version", "?"),
                                                 [], info.port or 0, service))
            entry.instances |= instances | {props.get("instance", "")} - {""}
            entry.addresses = sorted(set(entry.addresses) | set(info.parsed_addresses()))
        for entry in found.values():
            if len(entry.instances) > 1:
                entry.conflict = (f"{len(entry.instances)} devices advertise the unit name {entry.name!r} "
                                  f"({', '.join(entry.addresses)})")
        return sorted(found.values(), key=lambda f: f.name)
    finally:
        zc.close()


def _instance_of(text: bytes) -> str:
    i = 0
    while i < len(text):
        length = text[i]
        item = text[i + 1:i + 1 + length]
        if item.startswith(b"instance="):
            return item[len(b"instance="):].decode(errors="replace")
        i += 1 + length
    return ""
