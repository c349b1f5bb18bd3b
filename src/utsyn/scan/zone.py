"""The zone cut: which zone a name belongs to.

Shared by the engine, which runs zone checks once per apex, and by the families that report
whether a host name is an apex; the DNS family's own zone checks (transfers, dangling
CNAMEs) are in `scan.dns.zone`.
"""

from __future__ import annotations

import dns.rdatatype

from utsyn.scan.family import ScanContext
from utsyn.scan.model import DomainTarget, Observation, failed, observe
from utsyn.scan.pacing import paced
from utsyn.scan.resolve import ResolveError

_SOA = dns.rdatatype.SOA


async def zone_of(name: str, scan: ScanContext) -> Observation:
    """`dns.zone`: the apex of the zone `name` belongs to, from its SOA (the zone cut,
    RFC 2181 section 6). Zone checks (SPF, DMARC, DNSSEC, CAA, MX, MTA-STS) belong to an
    apex: asked of `www.example.no` they would find "no SPF" where none is needed. None
    when the name does not exist."""
    target = DomainTarget(name)
    probe = f"SOA {name}"
    try:
        answer = await paced(scan).query(name, "SOA")
    except ResolveError as exc:
        return failed(target, "dns.zone", str(exc), probe=probe)
    if answer.rcode == "NXDOMAIN":
        return observe(target, "dns.zone", None, probe=probe, evidence=f"{name}: NXDOMAIN")
    if answer.rcode != "NOERROR":
        return failed(target, "dns.zone", f"{name} SOA: {answer.rcode}", probe=probe)
    soa = [r for r in (*answer.message.answer, *answer.message.authority) if r.rdtype == _SOA]
    if not soa:
        return failed(target, "dns.zone", f"{name} SOA: no SOA in the answer", probe=probe)
    apex = soa[0].name.to_text().rstrip(".").lower()
    where = "the apex of its zone" if apex == name else f"in the zone {apex}, not an apex"
    return observe(target, "dns.zone", apex, probe=probe, evidence=f"{name}: {where}")
