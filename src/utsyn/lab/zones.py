"""The lab's DNS data: every zone the manifest implies, signed where the manifest says so.

`build_zones` turns the manifest into served zones: the `test.` zone (the lab's root of trust,
always signed, holding the delegations and DS records), one zone per organisation `Domain`,
and the reverse zone `127.in-addr.arpa.`. The result is compiled into plain lookup tables
that `utsyn.lab.dns` answers from; nothing here touches the network.
"""

from __future__ import annotations

import base64
import hashlib
import struct
import time
from bisect import bisect_left
from dataclasses import dataclass
from pathlib import Path

import dns.dnssec
import dns.exception
import dns.name
import dns.rdata
import dns.rdataclass
import dns.rdatatype
import dns.reversename
import dns.rrset
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from dns.dnssecalgs.ecdsa import PrivateECDSAP256SHA256
from dns.dnssectypes import Algorithm, DSDigest
from dns.rdtypes.ANY.DNSKEY import DNSKEY
from dns.rdtypes.ANY.NS import NS
from dns.rdtypes.ANY.NSEC import NSEC, Bitmap
from dns.rdtypes.ANY.PTR import PTR
from dns.rdtypes.ANY.RRSIG import RRSIG
from dns.rdtypes.ANY.TXT import TXT
from dns.rdtypes.dnskeybase import Flag
from dns.rdtypes.IN.A import A
from dns.rdtypes.IN.AAAA import AAAA

from utsyn.errors import ManifestError
from utsyn.lab.context import LabContext
from utsyn.lab.keys import KeyKind, cached_key
from utsyn.lab.manifest import LAB_TLD, SHARED_NAME_SERVERS, DnssecState, Domain, MtaSts, Record
from utsyn.settings import get_settings

Name = dns.name.Name
RdataType = dns.rdatatype.RdataType
RRset = dns.rrset.RRset
IN = dns.rdataclass.IN

LAB_ROOT = dns.name.from_text(LAB_TLD)
# Two names for the one lab server: a single NS would itself be a finding in every zone.
NAME_SERVERS = tuple(dns.name.from_text(n) for n in SHARED_NAME_SERVERS)
REVERSE_ORIGIN = dns.name.from_text("127.in-addr.arpa.")
TTL = 3600
NEGATIVE_TTL = 300
ALGORITHM = Algorithm.ECDSAP256SHA256
# Signatures start an hour in the past so a validator with a slightly slow clock accepts them.
CLOCK_SKEW = 3600
SIGNATURE_LIFETIME = 30 * 86400
MAX_TXT_STRING = 255  # one <character-string> holds at most 255 bytes (RFC 1035 3.3)

RdataMap = dict[tuple[Name, RdataType], tuple[int, list[dns.rdata.Rdata]]]
NodeMap = dict[Name, dict[RdataType, RRset]]


# ---------------------------------------------------------------- served data


@dataclass(frozen=True)
class ServedZone:
    """One zone as the name server answers from it."""

    origin: Name
    state: DnssecState
    transfer: bool  # AXFR allowed for anyone
    nodes: NodeMap  # owner → type → RRset, without RRSIGs
    signatures: NodeMap  # owner → covered type → RRSIG RRset
    names: tuple[Name, ...]  # every owner, in DNSSEC canonical order
    nsec_owners: tuple[Name, ...]  # owners of NSEC records, in canonical order
    delegations: frozenset[Name]  # owners of NS records below the apex

    @property
    def signed(self) -> bool:
        return self.state != DnssecState.UNSIGNED

    def rrset(self, name: Name, rdtype: RdataType) -> RRset | None:
        return self.nodes.get(name, {}).get(rdtype)

    def signature(self, name: Name, rdtype: RdataType) -> RRset | None:
        return self.signatures.get(name, {}).get(rdtype)

    def soa(self) -> RRset:
        soa = self.rrset(self.origin, RdataType.SOA)
        assert soa is not None, "every served zone has an SOA"
        return soa

    def has_descendants(self, name: Name) -> bool:
        """True for an empty non-terminal: in canonical order descendants follow directly."""
        index = bisect_left(self.names, name)
        if index < len(self.names) and self.names[index] == name:
            index += 1
        return index < len(self.names) and self.names[index].is_subdomain(name)

    def covering_nsec(self, name: Name) -> Name | None:
        """The owner of the NSEC record whose span covers (or matches) `name`."""
        if not self.nsec_owners:
            return None
        index = bisect_left(self.nsec_owners, name)
        if index < len(self.nsec_owners) and self.nsec_owners[index] == name:
            return name
        # The last NSEC wraps around to the apex, so it covers everything after it.
        return self.nsec_owners[index - 1]


@dataclass(frozen=True)
class LabZones:
    zones: dict[Name, ServedZone]
    trust_anchor: RRset  # the DNSKEY RRset of the `test.` KSK: the lab's root of trust

    def zone_for(self, name: Name) -> ServedZone | None:
        """The deepest served zone that contains `name`: the one that is authoritative."""
        current = name
        while True:
            zone = self.zones.get(current)
            if zone is not None:
                return zone
            if len(current) <= 1:
                return None
            current = current.parent()

    def parent_of(self, zone: ServedZone) -> ServedZone | None:
        if len(zone.origin) <= 1:
            return None
        return self.zone_for(zone.origin.parent())

    def trust_anchor_text(self) -> str:
        return self.trust_anchor.to_text() + "\n"


# ---------------------------------------------------------------- public helpers


def dkim_key(domain: str, selector: str, bits: int, key_dir: Path) -> rsa.RSAPrivateKey:
    """The DKIM signing key of a selector; the lab's mail servers sign with the same key."""
    kind: KeyKind = "rsa1024" if bits == 1024 else "rsa2048"
    key = cached_key(kind, f"dkim:{domain}:{selector}", key_dir)
    assert isinstance(key, rsa.RSAPrivateKey)
    return key


def dkim_record(key: rsa.RSAPrivateKey) -> str:
    public = key.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    return f"v=DKIM1; k=rsa; p={base64.b64encode(public).decode()}"


def mta_sts_id(policy: MtaSts, mx: tuple[str, ...]) -> str:
    """A policy id that changes exactly when the policy the lab serves changes."""
    text = f"{policy.mode}|{policy.max_age}|{','.join(mx)}"
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def txt_rdata(value: str) -> TXT:
    """One TXT record, split into 255-byte strings as a zone file would need it written."""
    data = value.encode()
    chunks = [data[i : i + MAX_TXT_STRING] for i in range(0, len(data), MAX_TXT_STRING)]
    return TXT(IN, RdataType.TXT, chunks or [b""])


# ---------------------------------------------------------------- collecting


class _ZoneData:
    """Rdata collected for one zone before it is built and signed."""

    def __init__(
        self, origin: Name, state: DnssecState, transfer: bool, servers: tuple[Name, ...]
    ) -> None:
        self.origin = origin
        self.state = state
        self.transfer = transfer
        self.servers = servers  # its NS records, here and at the parent
        self.rdatas: RdataMap = {}

    def add(self, name: Name, rdata: dns.rdata.Rdata, ttl: int = TTL) -> None:
        key = (name, rdata.rdtype)
        old_ttl, items = self.rdatas.setdefault(key, (ttl, []))
        if rdata not in items:
            items.append(rdata)
        # An RRset has one TTL (RFC 2181 5.2): the smallest one wins, as BIND does.
        self.rdatas[key] = (min(old_ttl, ttl), items)

    def check_cnames(self) -> None:
        """A CNAME owner holds nothing else (RFC 1034 3.6.2); real servers refuse such zones."""
        types: dict[Name, set[RdataType]] = {}
        for name, rdtype in self.rdatas:
            types.setdefault(name, set()).add(rdtype)
        for name, present in types.items():
            if RdataType.CNAME in present and len(present) > 1:
                others = ", ".join(sorted(t.name for t in present - {RdataType.CNAME}))
                raise ManifestError(
                    "%(name)s: a CNAME cannot sit next to other data (%(others)s)",
                    name=name,
                    others=others,
                )


class _Collector:
    def __init__(self, ctx: LabContext, key_dir: Path) -> None:
        self.ctx = ctx
        self.key_dir = key_dir
        self.zones: dict[Name, _ZoneData] = {}

    def zone_of(self, name: Name) -> _ZoneData:
        current = name
        while current not in self.zones:
            if len(current) <= 1:
                raise ManifestError("%(name)s: outside every lab zone", name=name)
            current = current.parent()
        return self.zones[current]

    def add(self, name: Name, rdata: dns.rdata.Rdata, ttl: int = TTL) -> None:
        self.zone_of(name).add(name, rdata, ttl)

    def add_zone(
        self,
        origin: Name,
        state: DnssecState,
        transfer: bool,
        servers: tuple[Name, ...] = NAME_SERVERS,
    ) -> None:
        zone = _ZoneData(origin, state, transfer, servers)
        self.zones[origin] = zone
        contact = origin if origin.is_subdomain(LAB_ROOT) else LAB_ROOT
        serial = time.strftime("%Y%m%d01")
        soa = f"{servers[0]} hostmaster.{contact} {serial} 3600 900 1209600 {NEGATIVE_TTL}"
        zone.add(origin, _rdata(RdataType.SOA, soa))
        for server in servers:
            zone.add(origin, _pointer(RdataType.NS, server))


def _address(ip: str) -> dns.rdata.Rdata:
    # Constructed directly: parsing text costs a third of the build for a large lab.
    if ":" in ip:
        return AAAA(IN, RdataType.AAAA, ip)  # type: ignore[no-untyped-call]
    return A(IN, RdataType.A, ip)  # type: ignore[no-untyped-call]


def _pointer(rdtype: RdataType, target: Name) -> dns.rdata.Rdata:
    if rdtype == RdataType.NS:
        return NS(IN, rdtype, target)  # type: ignore[no-untyped-call]
    return PTR(IN, rdtype, target)  # type: ignore[no-untyped-call]


def _rdata(rdtype: RdataType, text: str, origin: Name | None = None) -> dns.rdata.Rdata:
    return dns.rdata.from_text(IN, rdtype, text, origin=origin, relativize=False)


def _check_reserved(ctx: LabContext) -> None:
    reserved = {str(server).rstrip(".") for server in NAME_SERVERS}
    names = [d.name for o in ctx.manifest.organisations for d in o.domains]
    names += [n for _, h in ctx.manifest.hosts() for n in (h.name, *h.aliases)]
    for name in names:
        if name in reserved:
            raise ManifestError("%(name)s: reserved for the lab's own name server", name=name)


def _collect(ctx: LabContext, key_dir: Path) -> _Collector:
    _check_reserved(ctx)
    collector = _Collector(ctx, key_dir)
    collector.add_zone(LAB_ROOT, DnssecState.SIGNED, transfer=False)
    collector.add_zone(REVERSE_ORIGIN, DnssecState.UNSIGNED, transfer=False)
    domains = [d for o in ctx.manifest.organisations for d in o.domains]
    for domain in domains:
        servers = tuple(dns.name.from_text(n) for n in domain.name_servers) or NAME_SERVERS
        origin = dns.name.from_text(domain.name)
        collector.add_zone(origin, domain.dnssec, domain.zone_transfer, servers)
    for server in NAME_SERVERS:
        collector.zones[LAB_ROOT].add(server, _address(ctx.dns_ip))
    ns_ptr = _pointer(RdataType.PTR, NAME_SERVERS[0])
    collector.add(dns.reversename.from_address(ctx.dns_ip), ns_ptr)
    _add_hosts(collector)
    for domain in domains:
        _add_domain(collector, domain)
    _add_delegations(collector)
    for zone in collector.zones.values():
        zone.check_cnames()
    return collector


def _add_hosts(collector: _Collector) -> None:
    ctx = collector.ctx
    for _, host in ctx.manifest.hosts():
        ip = ctx.addresses[host.name]
        for text in (host.name, *host.aliases):
            name = dns.name.from_text(text)
            collector.add(name, _address(ip))
            if host.ipv6:
                collector.add(name, _address("::1"))
        if host.ptr:
            target = dns.name.from_text(host.name)
            collector.add(dns.reversename.from_address(ip), _pointer(RdataType.PTR, target))


def _add_domain(collector: _Collector, domain: Domain) -> None:
    origin = dns.name.from_text(domain.name)
    zone = collector.zones[origin]
    for priority, exchanger in enumerate(domain.mx, start=1):
        zone.add(origin, _rdata(RdataType.MX, f"{priority * 10} {exchanger}."))
    for spf in domain.spf:  # each value is its own record: two values make two SPF records
        zone.add(origin, txt_rdata(spf))
    for caa in domain.caa:
        zone.add(origin, _rdata(RdataType.CAA, caa))
    if domain.dmarc is not None:
        collector.add(_child("_dmarc", origin), txt_rdata(domain.dmarc))
    if domain.tls_rpt is not None:
        collector.add(_child("_smtp._tls", origin), txt_rdata(domain.tls_rpt))
    if domain.mta_sts is not None:
        policy_id = mta_sts_id(domain.mta_sts, domain.mx)
        collector.add(_child("_mta-sts", origin), txt_rdata(f"v=STSv1; id={policy_id}"))
    for selector, bits in sorted(domain.dkim.items()):
        key = dkim_key(domain.name, selector, bits, collector.key_dir)
        collector.add(_child(f"{selector}._domainkey", origin), txt_rdata(dkim_record(key)))
    for record in domain.records:
        _add_record(collector, domain, origin, record)


def _child(relative: str, origin: Name) -> Name:
    return dns.name.from_text(relative, origin=origin)


def _add_record(collector: _Collector, domain: Domain, origin: Name, record: Record) -> None:
    where = f"{domain.name}: record {record.name} {record.type} {record.value!r}"
    try:
        name = origin if record.name == "@" else dns.name.from_text(record.name, origin=origin)
        rdtype = RdataType.make(record.type)
        # A bare TXT value is one string, split as needed; a quoted one is zone-file syntax.
        if rdtype == RdataType.TXT and not record.value.startswith('"'):
            rdata: dns.rdata.Rdata = txt_rdata(record.value)
        else:
            rdata = _rdata(rdtype, record.value, origin)
    except dns.exception.DNSException as exc:
        raise ManifestError("%(where)s: %(reason)s", where=where, reason=exc) from exc
    if not name.is_subdomain(origin):
        raise ManifestError(
            "%(where)s: %(name)s lies outside the zone %(zone)s",
            where=where,
            name=name,
            zone=origin,
        )
    collector.add(name, rdata, record.ttl)


def _add_delegations(collector: _Collector) -> None:
    """NS records for every zone in its parent zone, so a resolver can walk down from `test.`."""
    for origin in collector.zones:
        if origin in (LAB_ROOT, REVERSE_ORIGIN):
            continue
        parent = collector.zone_of(origin.parent())
        for server in collector.zones[origin].servers:
            parent.add(origin, _pointer(RdataType.NS, server))


# ---------------------------------------------------------------- building and signing


def build_zones(ctx: LabContext, key_dir: Path | None = None) -> LabZones:
    """Every lab zone, built, signed and compiled; the DS records land in the parents."""
    key_dir = key_dir if key_dir is not None else get_settings().cache_dir
    collector = _collect(ctx, key_dir)
    served: dict[Name, ServedZone] = {}
    anchor: RRset | None = None
    # Deepest first: a child's DS must be in its parent before the parent is signed.
    for origin in sorted(collector.zones, key=len, reverse=True):
        data = collector.zones[origin]
        nodes = _nodes(data)
        signatures: NodeMap = {}
        if data.state != DnssecState.UNSIGNED:
            ksk, zsk = _zone_keys(origin, key_dir)
            broken = data.state == DnssecState.BROKEN
            signatures = _sign(origin, nodes, _Signer(origin, ksk, zsk, broken))
            if origin == LAB_ROOT:
                anchor = dns.rrset.from_rdata(origin, TTL, ksk.dnskey)
            elif data.state != DnssecState.ISLAND:  # an island's DS never reached its parent
                ds = dns.dnssec.make_ds(origin, ksk.dnskey, DSDigest.SHA256)
                collector.zone_of(origin.parent()).add(origin, ds)
        served[origin] = _served(data, nodes, signatures)
    assert anchor is not None, "the test. zone is always signed"
    return LabZones(served, anchor)


def _nodes(data: _ZoneData) -> NodeMap:
    nodes: NodeMap = {}
    for (name, rdtype), (ttl, items) in data.rdatas.items():
        nodes.setdefault(name, {})[rdtype] = dns.rrset.from_rdata_list(name, ttl, items)
    return nodes


def _served(data: _ZoneData, nodes: NodeMap, signatures: NodeMap) -> ServedZone:
    names = tuple(sorted(nodes))
    return ServedZone(
        origin=data.origin,
        state=data.state,
        transfer=data.transfer,
        nodes=nodes,
        signatures=signatures,
        names=names,
        nsec_owners=tuple(n for n in names if RdataType.NSEC in nodes[n]),
        delegations=frozenset(n for n in names if n != data.origin and RdataType.NS in nodes[n]),
    )


@dataclass(frozen=True)
class _SigningKey:
    private: PrivateECDSAP256SHA256
    dnskey: DNSKEY
    tag: int


def zone_keys(origin: Name, key_dir: Path) -> list[tuple[ec.EllipticCurvePrivateKey, DNSKEY]]:
    """The zone's KSK and ZSK (private key, DNSKEY) the lab signs with: a real name server
    given the same keys serves DNSKEYs that fit the DS records in the parent zones."""
    keys = []
    for key in _zone_keys(origin, key_dir):
        private = key.private.key
        assert isinstance(private, ec.EllipticCurvePrivateKey)
        keys.append((private, key.dnskey))
    return keys


def _zone_keys(origin: Name, key_dir: Path) -> tuple[_SigningKey, _SigningKey]:
    """A KSK (SEP flag: signs the DNSKEY RRset, named by the DS) and a ZSK (signs the rest)."""
    keys = []
    for role, flags in (("ksk", Flag.ZONE | Flag.SEP), ("zsk", Flag.ZONE)):
        private = cached_key("ec256", f"dnssec-{role}:{origin}", key_dir)
        assert isinstance(private, ec.EllipticCurvePrivateKey)
        signer = PrivateECDSAP256SHA256(key=private)
        dnskey = signer.public_key().to_dnskey(flags=flags)
        keys.append(_SigningKey(signer, dnskey, dns.dnssec.key_id(dnskey)))
    return keys[0], keys[1]


class _Signer:
    """Makes RRSIGs: the DNSKEY RRset with the KSK, everything else with the ZSK.

    dnspython 2.9 enables `dns.dnssec.sign` only with cryptography>=50, which the project
    cannot have (sslyze pins <47); its ECDSA key class works with ours, and the signed data
    (RFC 4034 3.1.8.1) is simple enough to assemble here.
    """

    def __init__(self, origin: Name, ksk: _SigningKey, zsk: _SigningKey, broken: bool) -> None:
        self.origin = origin
        self.broken = broken
        self.signer_wire = origin.to_digestable()
        self.ksk = ksk
        self.zsk = zsk
        self.inception = int(time.time()) - CLOCK_SKEW
        self.expiration = self.inception + CLOCK_SKEW + SIGNATURE_LIFETIME

    def sign(self, rrset: RRset) -> RRset:
        key = self.ksk if rrset.rdtype == RdataType.DNSKEY else self.zsk
        labels = len(rrset.name) - 1 - int(rrset.name.is_wild())  # RFC 4034 3.1.3
        fields = (rrset.rdtype, ALGORITHM, labels, rrset.ttl, self.expiration, self.inception)
        header = struct.pack("!HBBIIIH", *fields, key.tag) + self.signer_wire
        # Randomised ECDSA: RFC 6979's deterministic mode costs 60 % more and buys the lab nothing.
        signature = key.private.sign(header + _signed_rrs(rrset), deterministic=False)
        if self.broken and rrset.rdtype != RdataType.DNSKEY:
            signature = _spoil(signature)
        rrsig = RRSIG(  # type: ignore[no-untyped-call]
            IN, RdataType.RRSIG, *fields, key.tag, self.origin, signature
        )
        return dns.rrset.from_rdata(rrset.name, rrset.ttl, rrsig)


def _signed_rrs(rrset: RRset) -> bytes:
    """The RRs in canonical form and order (RFC 4034 3.1.8.1 and 6.3)."""
    owner = rrset.name.to_digestable()
    fixed = struct.pack("!HHI", rrset.rdtype, rrset.rdclass, rrset.ttl)
    parts: list[bytes] = []
    for rdata in sorted(rdata.to_digestable() for rdata in rrset):
        parts += (owner, fixed, struct.pack("!H", len(rdata)), rdata)
    return b"".join(parts)


def _sign(origin: Name, nodes: NodeMap, signer: _Signer) -> NodeMap:
    """Add the DNSKEYs and the NSEC chain to `nodes`; return the RRSIGs by owner and type."""
    dnskeys = [signer.ksk.dnskey, signer.zsk.dnskey]
    nodes[origin][RdataType.DNSKEY] = dns.rrset.from_rdata_list(origin, TTL, dnskeys)
    secure = _secure_names(origin, nodes)
    for name, following in zip(secure, [*secure[1:], origin], strict=True):
        types = [*nodes[name], RdataType.RRSIG, RdataType.NSEC]
        bitmap = Bitmap.from_rdtypes(types)
        nsec = NSEC(IN, RdataType.NSEC, following, bitmap)  # type: ignore[no-untyped-call]
        nodes[name][RdataType.NSEC] = dns.rrset.from_rdata(name, NEGATIVE_TTL, nsec)
    signatures: NodeMap = {}
    for name in secure:
        # At a delegation the child is authoritative for the NS RRset: only DS and NSEC
        # are signed by the parent (RFC 4035 2.2).
        cut = name != origin and RdataType.NS in nodes[name]
        for rdtype, rrset in nodes[name].items():
            if not cut or rdtype in (RdataType.DS, RdataType.NSEC):
                signatures.setdefault(name, {})[rdtype] = signer.sign(rrset)
    return signatures


def _secure_names(origin: Name, nodes: NodeMap) -> list[Name]:
    """Owners in canonical order, without glue below delegations (it is not zone data)."""
    secure: list[Name] = []
    cut: Name | None = None
    for name in sorted(nodes):
        if cut is not None and name.is_subdomain(cut):
            continue
        cut = name if name != origin and RdataType.NS in nodes[name] else None
        secure.append(name)
    return secure


def _spoil(signature: bytes) -> bytes:
    """A BROKEN zone's signatures: same length and format, wrong value. Only the DNSKEY RRset
    keeps a good one, so the keys and the DS match and the zone looks properly signed, but no
    data in it validates."""
    return signature[:-1] + bytes([signature[-1] ^ 0xFF])
