"""DNSSEC: does a zone validate from a trust anchor down to its own data (RFC 4033-4035)?

The chain is walked as a validating resolver walks it: the anchor's DNSKEY RRset, then for
each zone cut below it the DS RRset (signed by the parent's keys), a DNSKEY that matches it,
the child's DNSKEY RRset (signed by that key), and finally the RRSIGs over the zone's own
SOA, A, MX and TXT answers. A zone is
- `signed` when every link validates,
- `unsigned` when it publishes no DNSKEY (and its parent no DS for it),
- `island` when it signs its data but its parent holds no DS for it: validators treat it as
  unsigned (RFC 4035 4.3), and the fix is a DS record at the parent, not signing again,
- `broken` when a link below the anchor is there but does not validate: a validating
  resolver answers SERVFAIL for such a zone, so its users cannot reach it at all,
- `cannot_validate` when no chain can be built: no anchor lies above the zone, the anchor's
  own keys cannot be had or confirmed through the scan's resolver (a stale or foreign
  anchor, a resolver that gives no DNSSEC data: the scan's fault, never the zone's), or the
  zone is signed and has its DS but a zone above it is insecure, so no chain reaches it
  (RFC 4035 4.3 "indeterminate" and "insecure" seen from a zone that did its part).
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

from utsyn.scan.dns.anchors import TrustAnchor
from utsyn.scan.pacing import PacedResolver
from utsyn.scan.resolve import ResolveError

DnssecState = Literal["signed", "broken", "unsigned", "island", "cannot_validate"]
Name = dns.name.Name
RRset = dns.rrset.RRset

# The zone's own answers whose signatures are checked: a zone is only as good as its data.
DATA_TYPES = ("SOA", "A", "MX", "TXT")
# Answers that say the resolver would not help, not that the zone is wrong.
UNHELPFUL_RCODES = frozenset({"REFUSED", "NOTIMP", "FORMERR"})


class ChainBroken(Exception):
    """A link of the chain is present but does not validate."""


class ChainInsecure(Exception):
    """The chain ends in an insecure delegation: no DS where the zone `cut` begins."""

    def __init__(self, cut: Name, message: str) -> None:
        super().__init__(message)
        self.cut = cut


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
        """The zone's state; ResolveError when the resolver fails below the anchor."""
        apex = dns.name.from_text(zone)
        report = DnssecReport("signed")
        anchor = self._anchor_for(apex)
        if anchor is None:
            report.steps.append(f"no trust anchor lies above {apex}")
            return await self._without_chain(apex, report)
        try:
            keys = await self._anchor_keys(anchor, report.steps)
        except (ChainBroken, ResolveError) as exc:
            # The anchor does not fit the DNS this scan sees: no zone is to blame for that.
            report.steps.append(f"the trust anchor for {anchor.owner} cannot be confirmed: {exc}")
            return await self._without_chain(apex, report)
        try:
            await self._descend(anchor.owner, keys, apex, report.steps)
        except ChainInsecure as exc:
            report.steps.append(str(exc))
            report.state = await self._insecure_state(apex, exc.cut, report.steps)
        except ChainBroken as exc:
            report.state = "broken"
            report.steps.append(f"BROKEN: {exc}")
        return report

    def _anchor_for(self, apex: Name) -> TrustAnchor | None:
        covering = [a for a in self.anchors if apex.is_subdomain(a.owner)]
        return max(covering, key=lambda a: len(a.owner)) if covering else None

    async def _without_chain(self, apex: Name, report: DnssecReport) -> DnssecReport:
        """No chain to judge by: a zone without keys is still plainly unsigned."""
        dnskey = await self._unjudged(apex, "DNSKEY")
        ds = await self._unjudged(apex, "DS")
        if dnskey is None and ds is None:
            report.state = "unsigned"
            report.steps.append(f"{apex} has no DNSKEY and no DS: unsigned")
        else:
            report.state = "cannot_validate"
            report.steps.append(f"{apex} publishes DNSSEC records, but no chain can be built")
        return report

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
                raise ChainInsecure(name, f"{name} has no DS in its parent {signer}")
            if await self._is_zone_cut(name):
                raise ChainInsecure(name, f"{name} is delegated without DS: the chain ends there")
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

    async def _insecure_state(self, apex: Name, cut: Name, steps: list[str]) -> DnssecState:
        """RFC 4035 4.3: below a delegation without DS everything is insecure, whatever it
        signs itself. What the zone's owner can do about it decides the verdict."""
        dnskey = await self._unjudged(apex, "DNSKEY")
        if dnskey is None:
            steps.append(f"{apex} has no DNSKEY: unsigned")
            return "unsigned"
        if cut != apex:
            steps.append(f"{apex} is signed, but no chain of trust reaches it past {cut}")
            return "cannot_validate"
        steps.append(f"{apex} signs with its own keys, but its parent has no DS: an island")
        await self._self_check(apex, dnskey, steps)
        return "island"

    async def _self_check(self, apex: Name, dnskey: RRset, steps: list[str]) -> None:
        """Would the island validate once its DS is published? Said in the evidence, since
        a DS for keys that do not sign the zone would take it off the air."""
        sep = [k for k in dnskey if k.flags & 0x0001] or list(dnskey)
        try:
            _, rrsig = await self._signed(apex, "DNSKEY")
            _validate(dnskey, rrsig, apex, dns.rrset.from_rdata_list(apex, dnskey.ttl, sep))
            await self._check_data(apex, dnskey, steps)
        except ChainBroken as exc:
            steps.append(f"its own signatures do not validate either ({exc}): fix them first")
            return
        steps.append(f"{apex} validates against its own keys: a DS for them completes the chain")

    async def _unjudged(self, name: Name, rdtype: str) -> RRset | None:
        """An RRset asked for outside a chain: a SERVFAIL there says nothing about DNSSEC
        (no validator has a chain to fail), so it is a failed question, not a verdict."""
        try:
            rrset, _ = await self._signed(name, rdtype)
        except ChainBroken as exc:
            raise ResolveError(str(exc), congestion=False) from exc
        return rrset

    async def _signed(self, name: Name, rdtype: str) -> tuple[RRset | None, RRset | None]:
        """The RRset of `rdtype` at `name` and its RRSIGs, asked for with the DO bit."""
        answer = await self.resolver.query(name.to_text(), rdtype, dnssec=True)
        if answer.rcode == "SERVFAIL":
            # What a validating resolver says when the signatures below it do not validate.
            raise ChainBroken(f"{name} {rdtype}: SERVFAIL from the resolver")
        if answer.rcode in UNHELPFUL_RCODES:
            raise ResolveError(f"{name} {rdtype}: {answer.rcode}", congestion=False)
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
