"""Footprint discovery: from an organisation's seed domains to candidate assets.

Candidates come from the zone's name servers, mail exchangers, SPF includes, a word list of
common subdomains asked of the organisation's own name servers, and certificate names seen
during scans. They stay candidates until the organisation confirms them (DNS TXT proof).
Names outside the organisation's domains, or behind a known CDN or hosting platform, are
marked shared: they are someone else's infrastructure and stay out of the score unless the
organisation confirms them.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterable
from dataclasses import dataclass

import dns.exception
import dns.message
import dns.rdatatype

from utsyn.scan.family import ScanContext
from utsyn.scan.guard import ScopeRefused
from utsyn.scan.resolve import ResolveError

# Subdomains worth asking for. Norwegian public bodies' usual names are included.
WORDLIST: tuple[str, ...] = (
    "www", "mail", "webmail", "smtp", "mx", "autodiscover", "portal", "intranett", "intranet",
    "vpn", "remote", "citrix", "owa", "sso", "login", "adfs", "api", "app", "dev", "test",
    "staging", "gammel", "old", "beta", "cdn", "static", "innsyn", "postliste", "selvbetjening",
    "min", "booking", "bestilling", "kart", "skole", "ssh", "ftp", "ns1", "ns2", "mta-sts",
)  # fmt: skip

# Platforms whose addresses many organisations share: a name behind one is not the
# organisation's own server (provider documentation; the lab mirrors them with "-lab.test").
SHARED_PLATFORMS: tuple[str, ...] = (
    "cloudfront.net", "akamaiedge.net", "akamai.net", "edgekey.net", "fastly.net",
    "cloudflare.net", "azurewebsites.net", "azureedge.net", "trafficmanager.net",
    "outlook.com", "protection.outlook.com", "googlehosted.com", "github.io", "herokuapp.com",
    "azurewebsites-lab.test", "cdn-lab.test", "hosting-lab.test",
)  # fmt: skip


@dataclass(frozen=True, slots=True)
class Candidate:
    kind: str  # "hostname" or "domain"
    value: str
    source: str  # "discovery:ns", "discovery:mx", "discovery:spf", "discovery:wordlist", ...
    via: str  # the seed or record it was found through
    shared: bool


def is_shared(name: str, own_domains: Iterable[str]) -> bool:
    """Outside the organisation's domains, or on a shared platform."""
    name = name.lower().rstrip(".")
    if any(name == p or name.endswith("." + p) for p in SHARED_PLATFORMS):
        return True
    return not any(name == d or name.endswith("." + d) for d in own_domains)


async def discover(
    domains: Iterable[str], scan: ScanContext, seen_names: Iterable[str] = ()
) -> list[Candidate]:
    """Candidates for an organisation with these seed domains (each found once, by source)."""
    own = [d.lower().rstrip(".") for d in domains]
    found: dict[tuple[str, str], Candidate] = {}
    per_domain = await asyncio.gather(*(_from_domain(d, own, scan) for d in own))
    for candidates in per_domain:
        for c in candidates:
            found.setdefault((c.kind, c.value), c)
    for name in seen_names:
        c = _candidate("hostname", name, "discovery:cert_san", "certificate", own)
        found.setdefault((c.kind, c.value), c)
    return sorted(found.values(), key=lambda c: (c.source, c.value))


async def _from_domain(domain: str, own: list[str], scan: ScanContext) -> list[Candidate]:
    ns = await _records(scan, domain, "NS")
    mx = [r.split()[-1] for r in await _records(scan, domain, "MX")]
    spf = [t for t in await _records(scan, domain, "TXT") if "v=spf1" in t]
    out = [_candidate("hostname", n, "discovery:ns", domain, own) for n in ns]
    out += [_candidate("hostname", m, "discovery:mx", domain, own) for m in mx if m != "."]
    for record in spf:
        for term in record.strip('"').split():
            if term.lstrip("+?~-").startswith(("include:", "redirect=")):
                target = term.split(":", 1)[-1].split("=", 1)[-1]
                out.append(_candidate("domain", target, "discovery:spf", domain, own))
    out += await _wordlist(domain, ns, own, scan)
    return out


def _candidate(kind: str, name: str, source: str, via: str, own: list[str]) -> Candidate:
    value = name.lower().rstrip(".")
    return Candidate(kind, value, source, via, is_shared(value, own))


async def _records(scan: ScanContext, name: str, rdtype: str) -> list[str]:
    try:
        return [r.rstrip(".") for r in await scan.resolver.records(name, rdtype)]
    except ResolveError:
        return []


async def _wordlist(
    domain: str, nameservers: list[str], own: list[str], scan: ScanContext
) -> list[Candidate]:
    """Ask the zone's own name servers for common names: no guessing through a cache."""
    servers = [ip for ns in nameservers[:2] for ip in await _addresses(scan, ns)]
    if not servers:
        return []
    answers = await asyncio.gather(*(_exists(f"{w}.{domain}", servers[0], scan) for w in WORDLIST))
    return [
        _candidate("hostname", f"{word}.{domain}", "discovery:wordlist", domain, own)
        for word, exists in zip(WORDLIST, answers, strict=True)
        if exists
    ]


async def _addresses(scan: ScanContext, name: str) -> list[str]:
    try:
        return await scan.resolver.addresses(name)
    except ResolveError:
        return []


async def _exists(name: str, server: str, scan: ScanContext) -> bool:
    query = dns.message.make_query(name, dns.rdatatype.A)
    try:
        answer = await scan.net.dns(query, server, scan.config.dns_port)
    except (ScopeRefused, OSError, TimeoutError, dns.exception.DNSException):
        return False
    return bool(answer.answer)
