"""What a zone's name servers say about their software: `version.bind` in class CHAOS.

BIND answers `version.bind` (CH TXT) with its exact version unless told otherwise, and NSD,
Knot, Unbound and PowerDNS answer it or `version.server` when configured to: a free list of
the CVEs that apply to a zone's name servers. Each name server of the zone (its NS records,
resolved with the scan's resolver) is asked through the scope guard, once per address and
scan however many zones it serves: BIND answers CHAOS queries at 3 a second and drops the
rest (its built-in `_bind` view has `rate-limit { responses-per-second 3; slip 0; }`,
measured on Debian 12), so asking per zone would read as "hidden" on the fourth zone. The
observation records what each one answered, verbatim, or None when it refused, answered
nothing or did not answer; whether an answer discloses a version is the rules' call.
"""

from __future__ import annotations

import asyncio
from weakref import WeakKeyDictionary

import dns.exception
import dns.flags
import dns.message
import dns.rcode
import dns.rdataclass
import dns.rdatatype

from utsyn.scan.dns.zone import name_servers
from utsyn.scan.family import ScanContext
from utsyn.scan.guard import ScopeRefused
from utsyn.scan.model import excerpt
from utsyn.scan.resolve import Resolver

# BIND's name first; NSD, Knot and Unbound answer the second too (neither is a standard:
# RFC 4892 defines only id.server, the same convention for a server's identity).
VERSION_NAMES = ("version.bind.", "version.server.")
ANSWER_LIMIT = 255  # one TXT string: any version string fits
RETRY_PAUSE = 1.0  # seconds: a rate limiter's next second (BIND allows 3 a second)

Asked = tuple[str | None, str]
# One answer per address per scan, keyed by the scan's Resolver (it lives as long as the scan).
_ASKED: WeakKeyDictionary[Resolver, dict[str, asyncio.Future[Asked]]] = WeakKeyDictionary()


async def name_server_versions(zone: str, scan: ScanContext) -> tuple[dict[str, str | None], str]:
    """Name server → its answer to `version.bind` (None: none given), and the evidence."""
    servers = await name_servers(zone, scan)
    addresses = sorted({ip for _, ip in servers})
    answers = await asyncio.gather(*(_ask_once(ip, scan) for ip in addresses))
    by_ip = dict(zip(addresses, answers, strict=True))
    versions: dict[str, str | None] = {}
    lines = []
    for name, ip in servers:
        text, note = by_ip[ip]
        lines.append(f"{name} ({ip}): {note}")
        if versions.get(name) is None:  # one address that tells is enough
            versions[name] = text
    return dict(sorted(versions.items())), "\n".join(lines) or f"{zone} has no NS records"


async def _ask_once(ip: str, scan: ScanContext) -> Asked:
    asked = _ASKED.setdefault(scan.resolver, {})
    if ip not in asked:
        asked[ip] = asyncio.ensure_future(_ask(ip, scan))
    return await asyncio.shield(asked[ip])


async def _ask(ip: str, scan: ScanContext) -> Asked:
    """The first TXT answer to the version names from one address, and what happened."""
    notes = []
    for qname in VERSION_NAMES:
        query = dns.message.make_query(qname, dns.rdatatype.TXT, dns.rdataclass.CH)
        query.flags &= ~dns.flags.RD  # a question to this server about itself
        try:
            response = await _send(query, ip, scan)
        except ScopeRefused as exc:
            return None, f"not asked, {exc}"
        except (dns.exception.DNSException, OSError, TimeoutError) as exc:
            notes.append(f"{qname} no answer ({type(exc).__name__})")
            continue
        rcode = dns.rcode.to_text(response.rcode())
        texts = [
            b"".join(rdata.strings).decode("utf-8", "replace")
            for rrset in response.answer
            if rrset.rdtype == dns.rdatatype.TXT
            for rdata in rrset
        ]
        if rcode == "NOERROR" and texts:
            text = excerpt(texts[0], ANSWER_LIMIT)
            return text, f'{qname} CH TXT "{text}"'
        notes.append(f"{qname} {rcode}{'' if texts else ', no TXT'}")
    return None, "; ".join(notes)


async def _send(query: dns.message.Message, ip: str, scan: ScanContext) -> dns.message.Message:
    """One question, asked again after a pause when the answer was lost or dropped."""
    for attempt in range(scan.config.retries + 1):
        try:
            return await scan.net.dns(query, ip, scan.config.dns_port)
        except dns.exception.Timeout:
            if attempt == scan.config.retries:
                raise
            await asyncio.sleep(RETRY_PAUSE)
    raise AssertionError("unreachable: the last attempt returns or raises")
