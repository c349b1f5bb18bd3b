"""Answers from the lab zones as an authoritative server finds them (RFC 1034 4.3.2):
CNAME chains, wildcards, referrals, NXDOMAIN versus NODATA, and the DNSSEC records that
prove them on DO. Plain data in, plain data out: nothing here knows about messages."""

from __future__ import annotations

from dataclasses import dataclass, field

import dns.name
import dns.rcode
import dns.rrset

from utsyn.lab.zones import (
    LabZones,
    Name,
    RdataType,
    RRset,
    ServedZone,
)

MAX_CNAME_HOPS = 8


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
