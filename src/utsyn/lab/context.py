"""What every lab server is given: the manifest, the address plan, the CA and the DNS address."""

from __future__ import annotations

import asyncio
import ipaddress
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from utsyn.errors import ManifestError
from utsyn.lab.manifest import Host, Manifest, Organisation

if TYPE_CHECKING:
    from utsyn.lab.ca import LabCA

# A connection handler for asyncio.start_server.
Handler = Callable[[asyncio.StreamReader, asyncio.StreamWriter], Awaitable[None]]

# Idle connections are closed after this many seconds, as real servers do.
IDLE_TIMEOUT = 10.0

DNS_IP = "127.53.0.1"  # the lab's authoritative name server
FIRST_HOST_OCTET = 20  # hosts live in 127.20.0.0 and up


def host_address(org_index: int, host_index: int, first_octet: int = FIRST_HOST_OCTET) -> str:
    """127.(first + org // 256).(org % 256).(host + 1): one exact loopback address per host.

    The default plan (first octet 20) ends below the name server's 127.53.0.0/16; another
    first octet lets a second lab run beside it (benchmarks, parallel test runs).
    """
    if host_index > 253:
        raise ManifestError("organisation #%(index)s has more than 254 hosts", index=org_index)
    second = first_octet + org_index // 256
    limit = 52 if first_octet < 53 else 255
    if second > limit:
        raise ManifestError("too many organisations for the lab's address plan")
    return f"127.{second}.{org_index % 256}.{host_index + 1}"


def address_plan(manifest: Manifest, first_octet: int = FIRST_HOST_OCTET) -> dict[str, str]:
    """Host name → IPv4 loopback address; explicit addresses in the manifest win."""
    if first_octet == 53 or not 1 <= first_octet <= 255:
        raise ManifestError(
            "first octet %(octet)s: use 1–255 but not 53 (the DNS range)", octet=first_octet
        )
    plan: dict[str, str] = {}
    taken = {h.ip for _, h in manifest.hosts() if h.ip} | {DNS_IP}
    for org_index, org in enumerate(manifest.organisations):
        for host_index, host in enumerate(org.hosts):
            ip = host.ip or host_address(org_index, host_index, first_octet)
            if host.ip is None and ip in taken:
                raise ManifestError(
                    "%(host)s: allocated address %(ip)s is already taken", host=host.name, ip=ip
                )
            if not ipaddress.ip_address(ip).is_loopback:
                raise ManifestError(
                    "%(host)s: %(ip)s is not a loopback address", host=host.name, ip=ip
                )
            plan[host.name] = ip
    return plan


@dataclass
class LabContext:
    manifest: Manifest
    addresses: dict[str, str]  # host name → IPv4
    ca: LabCA
    state_dir: Path
    dns_ip: str = DNS_IP
    dns_port: int = 53  # the lab's name server's port: where a real resolver forwards to
    extra: dict[str, object] = field(default_factory=dict)

    def organisation_of(self, host: Host) -> Organisation:
        for org in self.manifest.organisations:
            if host in org.hosts:
                return org
        raise KeyError(host.name)

    def address_of(self, name: str) -> str | None:
        """The IPv4 of a host name or alias, if the lab serves it."""
        if name in self.addresses:
            return self.addresses[name]
        for _, host in self.manifest.hosts():
            if name in host.aliases:
                return self.addresses[host.name]
        return None
