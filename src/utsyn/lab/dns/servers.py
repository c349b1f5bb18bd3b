"""The lab's name servers: one authoritative server for every lab zone, and open resolvers.

`LabDns` answers like a real authoritative server (AA, NXDOMAIN versus NODATA, referrals,
CNAME chains, DNSSEC records on DO, truncation, AXFR where allowed, REFUSED outside its
zones, never recursion, REFUSED to `version.bind` unless configured). `start_name_server`
serves the same data on a `dns_authoritative` host (a zone's own name server), with that
host's answer to `version.bind`. `start_open_resolver` serves the manifest's `dns_resolver`
services: it answers recursive queries for lab names from the same zone data and SERVFAIL
for everything else. Nothing here ever sends a packet beyond loopback: neither server
forwards, and both refuse to bind to an address off loopback.
"""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
import logging
from pathlib import Path
from typing import cast

from utsyn.errors import LabError
from utsyn.lab.context import IDLE_TIMEOUT, LabContext
from utsyn.lab.dns.answers import Authority, OpenResolver, Responder, responder
from utsyn.lab.manifest import ServiceKind
from utsyn.lab.zones import (
    LabZones,
    RRset,
    build_zones,
)

log = logging.getLogger(__name__)

# LabDns leaves its zones in LabContext.extra under this key, so open resolvers share them.
ZONES_KEY = "dns.zones"


# ---------------------------------------------------------------- transport


def _require_loopback(ip: str) -> None:
    if not ipaddress.ip_address(ip).is_loopback:
        raise LabError(
            "lab DNS: %(ip)s is not a loopback address; the lab never leaves loopback", ip=ip
        )


class _UdpProtocol(asyncio.DatagramProtocol):
    def __init__(self, respond: Responder) -> None:
        self.respond = respond
        self.transport: asyncio.DatagramTransport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # Not an isinstance check: Python 3.11's selector transport does not subclass it.
        self.transport = cast(asyncio.DatagramTransport, transport)

    def datagram_received(self, data: bytes, addr: tuple[str | object, ...]) -> None:
        replies = self.respond(data, False)
        if replies and self.transport is not None:
            self.transport.sendto(replies[0], addr)

    def error_received(self, exc: Exception) -> None:
        log.debug("lab DNS: UDP error %s", exc)


class DnsEndpoint:
    """UDP and TCP listeners on one loopback address and port."""

    def __init__(
        self, ip: str, port: int, respond: Responder, idle_timeout: float = IDLE_TIMEOUT
    ) -> None:
        _require_loopback(ip)
        self.ip = ip
        self.port = port
        self.respond = respond
        self.idle_timeout = idle_timeout
        self._udp: asyncio.DatagramTransport | None = None
        self._tcp: asyncio.Server | None = None
        self._connections: set[asyncio.Task[None]] = set()

    async def start(self) -> None:
        loop = asyncio.get_running_loop()
        try:
            self._udp, _ = await loop.create_datagram_endpoint(
                lambda: _UdpProtocol(self.respond), local_addr=(self.ip, self.port)
            )
            self._tcp = await asyncio.start_server(self._serve, self.ip, self.port)
        except OSError as exc:
            await self.stop()
            raise LabError(
                "lab DNS: cannot listen on %(ip)s:%(port)s: %(reason)s",
                ip=self.ip,
                port=self.port,
                reason=exc,
            ) from exc

    async def stop(self) -> None:
        if self._udp is not None:
            self._udp.close()
            self._udp = None
        if self._tcp is not None:
            self._tcp.close()
            for task in list(self._connections):
                task.cancel()
            await self._tcp.wait_closed()
            self._tcp = None

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._connections.add(task)
        try:
            await self._exchange(reader, writer)
        except (asyncio.IncompleteReadError, TimeoutError, ConnectionError):
            pass  # the client left, or idled too long: close as real servers do
        finally:
            self._connections.discard(task)
            writer.close()
            with contextlib.suppress(ConnectionError, asyncio.CancelledError):
                await writer.wait_closed()

    async def _exchange(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        """Length-prefixed queries (RFC 1035 4.2.2), several per connection (RFC 7766)."""
        while True:
            async with asyncio.timeout(self.idle_timeout):
                length = int.from_bytes(await reader.readexactly(2), "big")
                wire = await reader.readexactly(length)
            replies = self.respond(wire, True)
            if replies is None:
                return  # garbage: drop the connection
            for reply in replies:
                writer.write(len(reply).to_bytes(2, "big") + reply)
            await writer.drain()


# ---------------------------------------------------------------- the lab's servers


class LabDns:
    """The lab's authoritative name server on `ctx.dns_ip`."""

    def __init__(
        self,
        ctx: LabContext,
        port: int = 53,
        *,
        key_dir: Path | None = None,
        idle_timeout: float = IDLE_TIMEOUT,
    ) -> None:
        self.ctx = ctx
        self.port = port
        self.key_dir = key_dir
        self.idle_timeout = idle_timeout
        self.trust_anchor_path = ctx.state_dir / "trust-anchor.txt"
        self._zones: LabZones | None = None
        self._endpoint: DnsEndpoint | None = None

    @property
    def zones(self) -> LabZones:
        if self._zones is None:
            raise LabError("lab DNS: the zones exist only once the server has started")
        return self._zones

    @property
    def trust_anchor(self) -> RRset:
        """The `test.` KSK as a DNSKEY RRset: what a validator is told to trust."""
        return self.zones.trust_anchor

    async def start(self, listen: bool = True) -> None:
        """Build the zones and the trust anchor, and serve them unless `listen` is False (the
        real tier's name server serves them on the lab's DNS address instead)."""
        self._zones = build_zones(self.ctx, self.key_dir)
        self.ctx.extra[ZONES_KEY] = self._zones
        self.trust_anchor_path.parent.mkdir(parents=True, exist_ok=True)
        self.trust_anchor_path.write_text(self._zones.trust_anchor_text(), encoding="utf-8")
        if not listen:
            return
        respond = responder(Authority(self._zones).answer)
        self._endpoint = DnsEndpoint(self.ctx.dns_ip, self.port, respond, self.idle_timeout)
        await self._endpoint.start()

    async def stop(self) -> None:
        if self._endpoint is not None:
            await self._endpoint.stop()
            self._endpoint = None


async def start_open_resolver(
    ctx: LabContext,
    ip: str,
    port: int = 53,
    zones: LabZones | None = None,
    *,
    key_dir: Path | None = None,
    idle_timeout: float = IDLE_TIMEOUT,
) -> DnsEndpoint:
    """An open resolver on (ip, port), answering from the running `LabDns`'s zones when there
    is one (building and signing them again would cost as much as the whole DNS start)."""
    if zones is None:
        shared = ctx.extra.get(ZONES_KEY)
        zones = shared if isinstance(shared, LabZones) else build_zones(ctx, key_dir)
    endpoint = DnsEndpoint(ip, port, responder(OpenResolver(zones).answer), idle_timeout)
    await endpoint.start()
    return endpoint


async def start_name_server(
    ctx: LabContext,
    ip: str,
    port: int,
    version: str | None,
    *,
    key_dir: Path | None = None,
    idle_timeout: float = IDLE_TIMEOUT,
) -> DnsEndpoint:
    """A `dns_authoritative` service: another address of the lab's authoritative data (a
    zone's own name server), with its own answer to `version.bind`."""
    shared = ctx.extra.get(ZONES_KEY)
    zones = shared if isinstance(shared, LabZones) else build_zones(ctx, key_dir)
    respond = responder(Authority(zones, version).answer)
    endpoint = DnsEndpoint(ip, port, respond, idle_timeout)
    await endpoint.start()
    return endpoint


def open_resolver_addresses(ctx: LabContext) -> list[tuple[str, int]]:
    """(ip, port) of every `dns_resolver` service, ::1 included for the IPv6 host."""
    addresses = []
    for _, host in ctx.manifest.hosts():
        for service in host.services:
            if service.kind == ServiceKind.DNS_RESOLVER:
                addresses.append((ctx.addresses[host.name], service.effective_port))
                if host.ipv6:
                    addresses.append(("::1", service.effective_port))
    return addresses
