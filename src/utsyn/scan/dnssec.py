"""DNSSEC: does a zone validate from a trust anchor down to its own data (RFC 4033-4035)?

The chain is walked as a validating resolver walks it: the anchor's DNSKEY RRset, then for
each zone cut below it the DS RRset (signed by the parent's keys), a DNSKEY that matches it,
the child's DNSKEY RRset (signed by that key), and finally the RRSIGs over the zone's own
SOA, A, MX and TXT answers. A zone is
- `signed` when every link validates,
- `unsigned` when the chain ends in a provably absent DS (an insecure delegation),
- `broken` when a link is there but does not validate: a validating resolver answers
  SERVFAIL for such a zone, so its users cannot reach it at all.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from typing import Literal

import dns.dnssec
import dns.exception
import dns.name
import dns.rdata
import dns.rdatatype
import dns.rrset

from utsyn.scan.pacing import PacedResolver

DnssecState = Literal["signed", "broken", "unsigned"]
Name = dns.name.Name
RRset = dns.rrset.RRset

# IANA's root KSK-2017 and KSK-2024 (https://data.iana.org/root-anchors/root-anchors.xml):
# the anchor on the internet when no trust anchor file is configured.
ROOT_ANCHORS = """\
. 172800 IN DS 20326 8 2 E06D44B80B8F1D39A95C0B0D7C65D08458E880409BBC683457104237C7F8EC8D
. 172800 IN DS 38696 8 2 683D2D0ACB8C9B712A1948B27F741219298D0A450D612C483AF444A4C0FB2B16
"""
# The zone's own answers whose signatures are checked: a zone is only as good as its data.
DATA_TYPES = ("SOA", "A", "MX", "TXT")


class ChainBroken(Exception):
    """A link of the chain is present but does not validate."""


class ChainInsecure(Exception):
    """The chain ends in an insecure delegation: no DS where a zone begins."""


@dataclass(frozen=True)
class TrustAnchor:
    owner: Name
    rrset: RRset  # DNSKEY (trusted keys) or DS (trusted digests of keys)


def parse_trust_anchors(text: str) -> list[TrustAnchor]:
    """Zone-file lines `owner [ttl] [IN] DNSKEY|DS rdata`; comments and blanks skipped."""
    grouped: dict[tuple[Name, str], RRset] = {}
    for line in text.splitlines():
        tokens = line.split(";", 1)[0].split()
        if not tokens:
            continue
        owner, rest = dns.name.from_text(tokens[0]), tokens[1:]
        ttl = int(rest.pop(0)) if rest and rest[0].isdigit() else 3600
        if rest and rest[0].upper() == "IN":
            rest.pop(0)
        if not rest or rest[0].upper() not in ("DNSKEY", "DS"):
            raise ValueError(f"not a DNSKEY or DS trust anchor: {line.strip()!r}")
        rdtype = rest[0].upper()
        rrset = dns.rrset.from_text(owner, ttl, "IN", rdtype, " ".join(rest[1:]))
        key = (owner, rdtype)
        if key in grouped:
            rrset = dns.rrset.from_rdata_list(owner, ttl, [*grouped[key], *rrset])
        grouped[key] = rrset
    return [TrustAnchor(owner, rrset) for (owner, _), rrset in grouped.items()]


@dataclass
class DnssecReport:
    state: DnssecState
    steps: list[str] = field(default_factory=list)

    def evidence(self) -> str:
        return "\n".join(self.steps)


class ChainWalker:
    """Validates zones against the anchors; one per scan, so the upper links are asked once."""

    def __init__(self, resolver: PacedResolver, anchors: list[TrustAnchor]) -> None:
        self.resolver = resolver
        self.anchors = anchors

    async def report(self, zone: str) -> DnssecReport:
        """The zone's state; ValueError when no anchor lies above it."""
        apex = dns.name.from_text(zone)
        anchor = self._anchor_for(apex)
        report = DnssecReport("signed")
        try:
            keys = await self._anchor_keys(anchor, report.steps)
            await self._descend(anchor.owner, keys, apex, report.steps)
        except ChainInsecure as exc:
            report.state = "unsigned"
            report.steps.append(str(exc))
        except ChainBroken as exc:
            report.state = "broken"
            report.steps.append(f"BROKEN: {exc}")
        return report

    def _anchor_for(self, apex: Name) -> TrustAnchor:
        covering = [a for a in self.anchors if apex.is_subdomain(a.owner)]
        if not covering:
            raise ValueError(f"no DNSSEC trust anchor lies above {apex}")
        return max(covering, key=lambda a: len(a.owner))

    async def _anchor_keys(self, anchor: TrustAnchor, steps: list[str]) -> RRset:
        if anchor.rrset.rdtype == dns.rdatatype.DS:
            return await self._keys_for_ds(anchor.owner, anchor.rrset, steps)
        dnskey, rrsig = await self._signed(anchor.owner, "DNSKEY")
        if dnskey is None:
            raise ChainBroken(f"{anchor.owner} has no DNSKEY RRset")
        _validate(dnskey, rrsig, anchor.owner, anchor.rrset)
        steps.append(f"{anchor.owner} DNSKEY validated by the trust anchor")
        return dnskey

    async def _descend(self, top: Name, keys: RRset, apex: Name, steps: list[str]) -> None:
        signer = top
        for name in _names_below(top, apex):
            child_keys = await self._delegation(signer, keys, name, name == apex, steps)
            if child_keys is not None:
                signer, keys = name, child_keys
        await self._check_data(apex, keys, steps)

    async def _delegation(
        self, signer: Name, keys: RRset, name: Name, is_apex: bool, steps: list[str]
    ) -> RRset | None:
        """The validated DNSKEYs of `name` when it is a signed zone; None for no zone cut."""
        ds, rrsig = await self._signed(name, "DS")
        if ds is None:
            if is_apex:
                raise ChainInsecure(await self._why_unsigned(name))
            if await self._is_zone_cut(name):
                raise ChainInsecure(f"{name} is delegated without DS: everything below is unsigned")
            return None
        _validate(ds, rrsig, signer, keys)
        steps.append(f"{name} DS validated by {signer}")
        return await self._keys_for_ds(name, ds, steps)

    async def _keys_for_ds(self, name: Name, ds: RRset, steps: list[str]) -> RRset:
        dnskey, rrsig = await self._signed(name, "DNSKEY")
        if dnskey is None:
            raise ChainBroken(f"{name} has a DS but no DNSKEY")
        trusted = [key for key in dnskey if any(_ds_matches(name, key, d) for d in ds)]
        if not trusted:
            raise ChainBroken(f"no DNSKEY of {name} matches its DS")
        _validate(dnskey, rrsig, name, dns.rrset.from_rdata_list(name, dnskey.ttl, trusted))
        tags = ", ".join(str(dns.dnssec.key_id(k)) for k in trusted)
        steps.append(f"{name} DNSKEY validated by the key(s) the DS names (tag {tags})")
        return dnskey

    async def _check_data(self, apex: Name, keys: RRset, steps: list[str]) -> None:
        answers = await asyncio.gather(*(self._signed(apex, t) for t in DATA_TYPES))
        for rdtype, (rrset, rrsig) in zip(DATA_TYPES, answers, strict=True):
            if rrset is None:
                if rdtype == "SOA":
                    raise ChainBroken(f"{apex} has no SOA")
                continue
            _validate(rrset, rrsig, apex, keys)
            steps.append(f"{apex} {rdtype} validated")

    async def _signed(self, name: Name, rdtype: str) -> tuple[RRset | None, RRset | None]:
        """The RRset of `rdtype` at `name` and its RRSIGs, asked for with the DO bit."""
        answer = await self.resolver.query(name.to_text(), rdtype, dnssec=True)
        if answer.rcode == "SERVFAIL":
            # What a validating resolver says when the signatures below it do not validate.
            raise ChainBroken(f"{name} {rdtype}: SERVFAIL from the resolver")
        wanted = dns.rdatatype.from_text(rdtype)
        found = None
        rrsig = None
        for rrset in answer.rrsets:
            if rrset.name != name:
                continue
            if rrset.rdtype == wanted:
                found = rrset
            elif rrset.rdtype == dns.rdatatype.RRSIG and rrset.covers == wanted:
                rrsig = rrset
        return found, rrsig

    async def _is_zone_cut(self, name: Name) -> bool:
        answer = await self.resolver.query(name.to_text(), "SOA")
        soa = dns.rdatatype.SOA
        return any(r.name == name and r.rdtype == soa for r in answer.rrsets)

    async def _why_unsigned(self, apex: Name) -> str:
        dnskey, _ = await self._signed(apex, "DNSKEY")
        if dnskey is None:
            return f"{apex} has no DS in its parent and no DNSKEY: unsigned"
        # RFC 4035 4.3: without a DS the zone is insecure, whatever it signs itself.
        return f"{apex} has DNSKEYs but no DS in its parent: an island, validated as insecure"


def _names_below(top: Name, apex: Name) -> list[Name]:
    """The names from just below `top` down to `apex`, top first."""
    names = []
    current = apex
    while current != top and len(current) > len(top):
        names.append(current)
        current = current.parent()
    return names[::-1]


def _ds_matches(name: Name, key: dns.rdata.Rdata, ds: dns.rdata.Rdata) -> bool:
    try:
        return bool(dns.dnssec.make_ds(name, key, ds.digest_type) == ds)  # type: ignore[attr-defined]
    except dns.exception.DNSException:  # an unknown digest type matches nothing
        return False


def _validate(rrset: RRset, rrsig: RRset | None, signer: Name, keys: RRset) -> None:
    rdtype = dns.rdatatype.to_text(rrset.rdtype)
    if rrsig is None:
        raise ChainBroken(f"{rrset.name} {rdtype} has no RRSIG")
    try:
        dns.dnssec.validate(rrset, rrsig, {signer: keys})
    except dns.exception.ValidationFailure as exc:
        raise ChainBroken(f"{rrset.name} {rdtype}: {exc}") from exc
