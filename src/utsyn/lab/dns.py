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
import io
import ipaddress
import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import cast

import dns.exception
import dns.flags
import dns.message
import dns.name
import dns.opcode
import dns.rcode
import dns.rdata
import dns.rdataclass
import dns.rdatatype
import dns.rrset
from dns.rdtypes.ANY.TXT import TXT

from utsyn.errors import LabError
from utsyn.lab.context import IDLE_TIMEOUT, LabContext
from utsyn.lab.manifest import ServiceKind
from utsyn.lab.zones import (
    MAX_TXT_STRING,
    LabZones,
    Name,
    RdataType,
    RRset,
    ServedZone,
    build_zones,
)

log = logging.getLogger(__name__)

SERVER_UDP_PAYLOAD = 1232  # the DNS Flag Day 2020 default: no IP fragmentation
CLASSIC_UDP_PAYLOAD = 512  # without EDNS (RFC 1035 4.2.1)
MAX_CNAME_HOPS = 8
AXFR_CHUNK = 16_000  # bytes of records per AXFR message, well below the 64 KiB limit
# LabDns leaves its zones in LabContext.extra under this key, so open resolvers share them.
ZONES_KEY = "dns.zones"

# The name BIND answers with its version in class CHAOS (a convention, cf. RFC 4892); BIND
# 9.18 refuses `version.server`, which Knot, NSD and Unbound answer as well.
VERSION_BIND = dns.name.from_text("version.bind.")
CHAOS_TTL = 0  # what BIND 9.18 sends: the answer is about this server, now
# BIND 9.18 with `version none;`: NOERROR, no answer, and this SOA (measured on Debian 12).
HIDDEN_VERSION_SOA = "version.bind. hostmaster.version.bind. 0 28800 7200 604800 86400"

# A responder turns one query's wire bytes into the reply messages, or None to drop it.
Responder = Callable[[bytes, bool], list[bytes] | None]


# ---------------------------------------------------------------- resolution


@dataclass
class Resolution:
    """What the zone data says about one question."""

    rcode: dns.rcode.Rcode = dns.rcode.NOERROR
    authoritative: bool = True  # False for a referral
    complete: bool = True  # False when a CNAME or a referral leads out of the lab's data
    answer: list[RRset] = field(default_factory=list)
    authority: list[RRset] = field(default_factory=list)
    additional: list[RRset] = field(default_factory=list)


class Lookup:
    """Looks questions up in the lab zones, as an authoritative server does (RFC 1034 4.3.2)."""

    def __init__(self, zones: LabZones) -> None:
        self.zones = zones

    def zone_for_question(self, qname: Name, qtype: RdataType) -> ServedZone | None:
        zone = self.zones.zone_for(qname)
        # The DS RRset of a zone lives in its parent (RFC 4035 3.1.4.1).
        if zone is not None and qtype == RdataType.DS and qname == zone.origin:
            return self.zones.parent_of(zone) or zone
        return zone

    def resolve(self, qname: Name, qtype: RdataType, dnssec: bool) -> Resolution | None:
        """None when no lab zone contains the name."""
        zone = self.zone_for_question(qname, qtype)
        if zone is None:
            return None
        result = Resolution()
        _Walk(self, result, dnssec).run(zone, qname, qtype)
        return result


class _Walk:
    """One question's walk through the zones; it fills in a Resolution."""

    def __init__(self, lookup: Lookup, result: Resolution, dnssec: bool) -> None:
        self.lookup = lookup
        self.result = result
        self.dnssec = dnssec

    def run(self, zone: ServedZone, qname: Name, qtype: RdataType) -> None:
        seen: set[Name] = set()
        current: ServedZone | None = zone
        while current is not None:
            seen.add(qname)
            target = self.step(current, qname, qtype)
            if target is None:
                break
            if target in seen or len(seen) > MAX_CNAME_HOPS:
                self.result.complete = False  # a CNAME loop: a resolver gives up
                break
            qname = target
            current = self.lookup.zone_for_question(qname, qtype)
            if current is None:
                self.result.complete = False  # the chain leaves the lab
        self.add_additional()

    def step(self, zone: ServedZone, qname: Name, qtype: RdataType) -> Name | None:
        """Answer `qname` from `zone`; returns the CNAME target to follow, if any."""
        cut = _delegation_above(zone, qname, qtype)
        if cut is not None:
            self.refer(zone, cut)
            return None
        owner, node = qname, zone.nodes.get(qname)
        if node is None and not zone.has_descendants(qname):
            wildcard = _wildcard(zone, qname)
            if wildcard is None:
                self.nxdomain(zone, qname)
                return None
            owner, node = wildcard, zone.nodes[wildcard]
            self.add_nsec_covering(zone, qname)  # proves the exact name is absent
        if node is None:  # an empty non-terminal
            self.nodata(zone, qname)
            return None
        return self.answer_from(zone, qname, owner, node, qtype)

    def answer_from(
        self,
        zone: ServedZone,
        qname: Name,
        owner: Name,
        node: dict[RdataType, RRset],
        qtype: RdataType,
    ) -> Name | None:
        if qtype == RdataType.ANY:
            types = [t for t in node if t != RdataType.NSEC or self.dnssec]
        elif qtype in node:
            types = [qtype]
        elif RdataType.CNAME in node:
            types = [RdataType.CNAME]
        else:
            self.nodata(zone, owner)
            return None
        for rdtype in types:
            self.add(self.result.answer, zone, owner, rdtype, qname)
        if types == [RdataType.CNAME] and qtype != RdataType.CNAME:
            target: Name = node[RdataType.CNAME][0].target
            return target
        return None

    def add(
        self,
        section: list[RRset],
        zone: ServedZone,
        owner: Name,
        rdtype: RdataType,
        as_name: Name | None = None,
    ) -> None:
        """Add an RRset (renamed when synthesised from a wildcard) and, on DO, its RRSIG."""
        rrsets = [zone.rrset(owner, rdtype)]
        if self.dnssec:
            rrsets.append(zone.signature(owner, rdtype))
        for rrset in rrsets:
            if rrset is None:
                continue
            if as_name is not None and as_name != owner:
                rrset = dns.rrset.from_rdata_list(as_name, rrset.ttl, list(rrset))
            if rrset not in section:
                section.append(rrset)

    def nxdomain(self, zone: ServedZone, qname: Name) -> None:
        self.result.rcode = dns.rcode.NXDOMAIN
        self.add(self.result.authority, zone, zone.origin, RdataType.SOA)
        self.add_nsec_covering(zone, qname)
        # ... and the NSEC that proves no wildcard could have matched (RFC 4035 3.1.3.2).
        self.add_nsec_covering(zone, _child(_closest_encloser(zone, qname), b"*"))

    def nodata(self, zone: ServedZone, name: Name) -> None:
        self.add(self.result.authority, zone, zone.origin, RdataType.SOA)
        self.add_nsec_covering(zone, name)

    def add_nsec_covering(self, zone: ServedZone, name: Name) -> None:
        if not (self.dnssec and zone.signed):
            return
        owner = zone.covering_nsec(name)
        if owner is not None:
            self.add(self.result.authority, zone, owner, RdataType.NSEC)

    def refer(self, zone: ServedZone, cut: Name) -> None:
        """A referral to a zone this server does not hold: NS, then DS or its absence."""
        if not self.result.answer:
            self.result.authoritative = False
        self.result.complete = False
        self.add(self.result.authority, zone, cut, RdataType.NS)
        if self.dnssec and zone.signed:
            has_ds = zone.rrset(cut, RdataType.DS) is not None
            self.add(self.result.authority, zone, cut, RdataType.DS if has_ds else RdataType.NSEC)

    def add_additional(self) -> None:
        """Addresses of the names that NS, MX and SRV records point to, as servers add them."""
        result = self.result
        present = {(r.name, r.rdtype) for r in result.answer}
        for rrset in [*result.answer, *result.authority]:
            for target in _targets(rrset):
                zone = self.lookup.zones.zone_for(target)
                for rdtype in (RdataType.A, RdataType.AAAA):
                    if zone is not None and (target, rdtype) not in present:
                        self.add(result.additional, zone, target, rdtype)


def _targets(rrset: RRset) -> list[Name]:
    if rrset.rdtype in (RdataType.NS, RdataType.SRV):
        return [rdata.target for rdata in rrset]
    if rrset.rdtype == RdataType.MX:
        return [rdata.exchange for rdata in rrset]
    return []


def _delegation_above(zone: ServedZone, qname: Name, qtype: RdataType) -> Name | None:
    """The topmost zone cut between the apex and `qname`, if any."""
    if not zone.delegations:
        return None
    ancestors = []
    current = qname
    while current != zone.origin and len(current) > len(zone.origin):
        ancestors.append(current)
        current = current.parent()
    for name in reversed(ancestors):
        # The parent side answers for the DS at the cut itself.
        if name in zone.delegations and not (name == qname and qtype == RdataType.DS):
            return name
    return None


def _closest_encloser(zone: ServedZone, qname: Name) -> Name:
    current = qname.parent()
    while current != zone.origin and current not in zone.nodes:
        if zone.has_descendants(current):
            break
        current = current.parent()
    return current


def _wildcard(zone: ServedZone, qname: Name) -> Name | None:
    wildcard = _child(_closest_encloser(zone, qname), b"*")
    return wildcard if wildcard in zone.nodes else None


def _child(parent: Name, label: bytes) -> Name:
    return dns.name.Name((label, *parent.labels))


# ---------------------------------------------------------------- messages


def _parse(wire: bytes) -> dns.message.Message | None:
    """The query, or None for anything that is not one (garbage, a response)."""
    try:
        query = dns.message.from_wire(wire)
    except Exception:  # hostile input may break the parser in any way; it must not stop us
        return None
    if query.flags & dns.flags.QR:
        return None  # never answer a response: that is how reflection loops start
    return query


def _response(query: dns.message.Message, rcode: dns.rcode.Rcode) -> dns.message.Message:
    response = dns.message.make_response(query, our_payload=SERVER_UDP_PAYLOAD)
    response.set_rcode(rcode)
    return response


def _precheck(
    query: dns.message.Message, classes: tuple[int, ...] = (dns.rdataclass.IN,)
) -> dns.message.Message | None:
    """An error response for a query no lookup should see, or None."""
    if query.opcode() != dns.opcode.QUERY:
        return _response(query, dns.rcode.NOTIMP)
    if len(query.question) != 1:
        return _response(query, dns.rcode.FORMERR)
    if query.edns > 0:
        return _response(query, dns.rcode.BADVERS)  # we speak EDNS version 0 only
    if query.question[0].rdclass not in classes:
        return _response(query, dns.rcode.REFUSED)
    return None


def _wants_dnssec(query: dns.message.Message) -> bool:
    return query.edns >= 0 and bool(query.ednsflags & dns.flags.DO)


def _fill(response: dns.message.Message, result: Resolution, dnssec: bool) -> None:
    response.set_rcode(result.rcode)
    response.answer = list(result.answer)
    response.authority = list(result.authority)
    response.additional = list(result.additional)
    if dnssec:
        response.use_edns(0, dns.flags.DO, SERVER_UDP_PAYLOAD)


def _render(response: dns.message.Message, query: dns.message.Message, tcp: bool) -> bytes:
    """Wire bytes that fit the client's limit: drop the additional section, then truncate."""
    if tcp:
        limit = 65535
    elif query.edns >= 0:
        limit = min(max(query.payload, CLASSIC_UDP_PAYLOAD), SERVER_UDP_PAYLOAD)
    else:
        limit = CLASSIC_UDP_PAYLOAD
    with contextlib.suppress(dns.exception.TooBig):
        return response.to_wire(max_size=limit)
    response.additional = []
    with contextlib.suppress(dns.exception.TooBig):
        return response.to_wire(max_size=limit)
    # Like BIND: an empty answer with TC set, so the client retries over TCP.
    response.answer = []
    response.authority = []
    response.flags |= dns.flags.TC
    return response.to_wire(max_size=limit)


Answerer = Callable[[dns.message.Message, bool], list[dns.message.Message]]


def _responder(answer: Answerer) -> Responder:
    def respond(wire: bytes, tcp: bool) -> list[bytes] | None:
        query = _parse(wire)
        if query is None:
            return None
        try:
            replies = answer(query, tcp)
        except Exception:  # a bug must cost one answer, not the server
            log.exception("lab DNS: failed to answer %s", query.question)
            replies = [_response(query, dns.rcode.SERVFAIL)]
        try:
            return [_render(reply, query, tcp) for reply in replies]
        except Exception:
            log.exception("lab DNS: failed to render the answer to %s", query.question)
            return None

    return respond


class Authority:
    """The authoritative server's answers: from its zones only, never recursive; in class
    CHAOS, its version when it is configured to tell (`version`), else REFUSED."""

    def __init__(self, zones: LabZones, version: str | None = None) -> None:
        self.zones = zones
        self.lookup = Lookup(zones)
        self.version = version

    def answer(self, query: dns.message.Message, tcp: bool) -> list[dns.message.Message]:
        error = _precheck(query, (dns.rdataclass.IN, dns.rdataclass.CH))
        if error is not None:
            return [error]
        question = query.question[0]
        if question.rdclass == dns.rdataclass.CH:
            return [self.chaos(query)]
        if question.rdtype == RdataType.AXFR:
            return self.transfer(query, tcp)
        if question.rdtype == RdataType.IXFR:
            return [_response(query, dns.rcode.NOTIMP)]
        dnssec = _wants_dnssec(query)
        result = self.lookup.resolve(question.name, question.rdtype, dnssec)
        if result is None:
            return [_response(query, dns.rcode.REFUSED)]  # not ours, and we do not recurse
        response = _response(query, result.rcode)
        _fill(response, result, dnssec)
        if result.authoritative:
            response.flags |= dns.flags.AA
        return [response]

    def chaos(self, query: dns.message.Message) -> dns.message.Message:
        """As BIND 9.18 answers: the version as configured, no data for `version none;`
        (an empty `version`); REFUSED for anything else, as NSD does with `hide-version`."""
        question = query.question[0]
        wanted = question.rdtype in (RdataType.TXT, RdataType.ANY)
        if self.version is None or not wanted or question.name != VERSION_BIND:
            return _response(query, dns.rcode.REFUSED)
        response = _response(query, dns.rcode.NOERROR)
        response.flags |= dns.flags.AA
        if not self.version:
            soa = dns.rdata.from_text(dns.rdataclass.CH, RdataType.SOA, HIDDEN_VERSION_SOA)
            response.authority = [dns.rrset.from_rdata(VERSION_BIND, 86400, soa)]
            return response
        data = self.version.encode()[:MAX_TXT_STRING]
        text = TXT(dns.rdataclass.CH, RdataType.TXT, [data])
        response.answer = [dns.rrset.from_rdata(question.name, CHAOS_TTL, text)]
        return response

    def transfer(self, query: dns.message.Message, tcp: bool) -> list[dns.message.Message]:
        """AXFR (RFC 5936): over TCP, for a zone apex whose manifest allows it."""
        zone = self.zones.zones.get(query.question[0].name)
        if not tcp or zone is None or not zone.transfer:
            return [_response(query, dns.rcode.REFUSED)]
        soa = zone.soa()
        records = [soa, *_zone_rrsets(zone), soa]
        messages: list[dns.message.Message] = []
        for chunk in _chunks(records):
            message = _response(query, dns.rcode.NOERROR)
            message.flags |= dns.flags.AA
            message.answer = chunk
            if messages:
                message.question = []  # only the first message repeats the question
            messages.append(message)
        return messages


def _zone_rrsets(zone: ServedZone) -> list[RRset]:
    rrsets = []
    for name in zone.names:
        for rdtype, rrset in zone.nodes[name].items():
            if not (name == zone.origin and rdtype == RdataType.SOA):
                rrsets.append(rrset)
        rrsets.extend(zone.signatures.get(name, {}).values())
    return rrsets


def _chunks(records: list[RRset]) -> list[list[RRset]]:
    chunks: list[list[RRset]] = [[]]
    size = 0
    for rrset in records:
        buffer = io.BytesIO()
        rrset.to_wire(buffer)
        length = len(buffer.getvalue())
        if size + length > AXFR_CHUNK and chunks[-1]:
            chunks.append([])
            size = 0
        chunks[-1].append(rrset)
        size += length
    return chunks


class OpenResolver:
    """A misconfigured recursive resolver: answers anyone, but only ever from lab data."""

    def __init__(self, zones: LabZones) -> None:
        self.lookup = Lookup(zones)

    def answer(self, query: dns.message.Message, tcp: bool) -> list[dns.message.Message]:
        error = _precheck(query)
        if error is not None:
            error.flags |= dns.flags.RA
            return [error]
        question = query.question[0]
        if question.rdtype in (RdataType.AXFR, RdataType.IXFR):
            return [_response(query, dns.rcode.REFUSED)]
        dnssec = _wants_dnssec(query)
        result = self.lookup.resolve(question.name, question.rdtype, dnssec)
        response = _response(query, dns.rcode.SERVFAIL)
        response.flags |= dns.flags.RA
        # Outside the lab a real resolver would go to the internet; this one must never.
        if result is not None and result.complete:
            _fill(response, result, dnssec)
            response.additional = []  # resolvers answer minimally
        return [response]


# ---------------------------------------------------------------- transport


def _require_loopback(ip: str) -> None:
    if not ipaddress.ip_address(ip).is_loopback:
        raise LabError(f"lab DNS: {ip} is not a loopback address; the lab never leaves loopback")


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
            raise LabError(f"lab DNS: cannot listen on {self.ip}:{self.port}: {exc}") from exc

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

    async def start(self) -> None:
        self._zones = build_zones(self.ctx, self.key_dir)
        self.ctx.extra[ZONES_KEY] = self._zones
        self.trust_anchor_path.parent.mkdir(parents=True, exist_ok=True)
        self.trust_anchor_path.write_text(self._zones.trust_anchor_text(), encoding="utf-8")
        respond = _responder(Authority(self._zones).answer)
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
    endpoint = DnsEndpoint(ip, port, _responder(OpenResolver(zones).answer), idle_timeout)
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
    respond = _responder(Authority(zones, version).answer)
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
