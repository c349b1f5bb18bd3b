"""What a zone gives away: a full transfer (AXFR) to anyone, and CNAMEs left pointing at
names that no longer exist (the subdomain-takeover pattern).
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field

import dns.exception
import dns.message
import dns.name
import dns.rcode
import dns.rdatatype
import dns.rrset

from utsyn.scan.family import ScanContext
from utsyn.scan.guard import JOB_CONNECTIONS, ScopeRefused
from utsyn.scan.pacing import paced
from utsyn.scan.resolve import MAX_CNAME_CHAIN

RRset = dns.rrset.RRset

# Hostile or huge zones must not hold the scanner: stop after this much.
AXFR_MAX_MESSAGES = 1000
AXFR_MAX_RECORDS = 50_000
AXFR_MESSAGE_LIMIT = 65535  # a TCP DNS message is length-prefixed by 16 bits (RFC 1035 4.2.2)

# Labels where organisations most often leave a CNAME to a hosted service behind: the web
# and mail front doors, legacy and test sites, self-service portals and the Microsoft 365
# autodiscovery name. A zone transfer, when allowed, adds every CNAME the zone holds.
COMMON_LABELS = (
    "www", "mail", "webmail", "portal", "gammelweb", "old", "dev", "test", "app", "api",
    "intranet", "vpn", "remote", "cdn", "static", "blog", "shop", "selvbetjening", "min",
    "innsyn", "autodiscover", "mta-sts",
)  # fmt: skip


@dataclass
class Transfer:
    """The outcome of AXFR attempts against a zone's name servers."""

    allowed: bool = False
    rrsets: list[RRset] = field(default_factory=list)
    attempts: list[str] = field(default_factory=list)

    def evidence(self) -> str:
        lines = list(self.attempts)
        if self.allowed:
            names = sorted({r.name.to_text() for r in self.rrsets})
            lines.append(f"{len(self.rrsets)} records at {len(names)} names: {', '.join(names)}")
        return "\n".join(lines)

    def cname_owners(self) -> list[str]:
        cname = dns.rdatatype.CNAME
        return [r.name.to_text().rstrip(".") for r in self.rrsets if r.rdtype == cname]


async def name_servers(zone: str, scan: ScanContext) -> list[tuple[str, str]]:
    """(name server, address) pairs of the zone, resolved through the scan's resolver."""
    names = sorted({n.rstrip(".") for n in await paced(scan).records(zone, "NS")})
    addresses = await asyncio.gather(*(paced(scan).addresses(n) for n in names))
    return [(name, ip) for name, ips in zip(names, addresses, strict=True) for ip in ips]


async def try_transfers(zone: str, scan: ScanContext) -> Transfer:
    """AXFR (RFC 5936) from each distinct name-server address, until one allows it (at
    most JOB_CONNECTIONS addresses: the guard's budget for one job)."""
    transfer = Transfer()
    seen: set[str] = set()
    for name, ip in await name_servers(zone, scan):
        if ip in seen:
            continue
        if len(seen) == JOB_CONNECTIONS:  # one connection each, and a job's budget ends here
            note = f"not attempted, {JOB_CONNECTIONS} addresses were asked"
            transfer.attempts.append(f"AXFR from {name} ({ip}) and later ones: {note}")
            break
        seen.add(ip)
        try:
            rrsets = await _axfr(zone, name, ip, scan)
        except ScopeRefused as exc:  # an out-of-scope name server is skipped, not a failure
            transfer.attempts.append(f"AXFR from {name} ({ip}): not attempted, {exc}")
            continue
        except (OSError, TimeoutError, EOFError, dns.exception.DNSException) as exc:
            transfer.attempts.append(f"AXFR from {name} ({ip}): failed, {type(exc).__name__}")
            continue
        if rrsets is None:
            transfer.attempts.append(f"AXFR from {name} ({ip}): refused")
            continue
        transfer.attempts.append(f"AXFR from {name} ({ip}): ALLOWED")
        transfer.allowed, transfer.rrsets = True, rrsets
        break
    return transfer


async def _axfr(zone: str, ns_name: str, ip: str, scan: ScanContext) -> list[RRset] | None:
    """The zone's RRsets, or None when the server refuses; one TCP connection."""
    origin = dns.name.from_text(zone)
    query = dns.message.make_query(origin, dns.rdatatype.AXFR)
    wire = query.to_wire()
    port = scan.config.dns_port
    async with scan.net.tcp(ip, port, name=ns_name, limit=AXFR_MESSAGE_LIMIT + 2) as conn:
        reader, writer = conn
        writer.write(len(wire).to_bytes(2, "big") + wire)
        await writer.drain()
        rrsets: list[RRset] = []
        soa_seen = 0
        for _ in range(AXFR_MAX_MESSAGES):
            size = int.from_bytes(await scan.net.read_exactly(reader, 2), "big")
            data = await scan.net.read_exactly(reader, size)
            # One RR per RRset: the closing SOA must not merge into the opening one.
            message = dns.message.from_wire(data, one_rr_per_rrset=True)
            if message.id != query.id or message.rcode() != dns.rcode.NOERROR:
                return None
            if not rrsets and (not message.answer or message.answer[0].rdtype != dns.rdatatype.SOA):
                return None  # a transfer begins with the zone's SOA (RFC 5936 2.2)
            for rrset in message.answer:
                soa_seen += rrset.rdtype == dns.rdatatype.SOA and rrset.name == origin
                rrsets.append(rrset)
            # ... and ends with it again.
            if soa_seen >= 2 or len(rrsets) >= AXFR_MAX_RECORDS:
                return rrsets
    return rrsets


async def dangling_cnames(zone: str, extra: list[str], scan: ScanContext) -> tuple[list[str], str]:
    """Names in the zone whose CNAME chain ends in NXDOMAIN, and the evidence."""
    candidates = sorted({zone, *(f"{label}.{zone}" for label in COMMON_LABELS), *extra})
    results = await asyncio.gather(*(_chain_end(name, scan) for name in candidates))
    dangling: list[str] = []
    lines: list[str] = []
    for name, result in zip(candidates, results, strict=True):
        if result is None:
            continue
        chain, nxdomain = result
        lines.append(f"{name} CNAME {' -> '.join(chain)}{': NXDOMAIN' if nxdomain else ''}")
        if nxdomain:
            dangling.append(name)
    lines.insert(0, f"checked {len(candidates)} names")
    return sorted(dangling), "\n".join(lines)


async def _chain_end(name: str, scan: ScanContext) -> tuple[list[str], bool] | None:
    """None when `name` is not a CNAME; else the chain of targets and whether the last one
    is NXDOMAIN (a name that whoever registers it at the provider takes over)."""
    chain: list[str] = []
    start = current = name.lower().rstrip(".")
    for _ in range(MAX_CNAME_CHAIN):
        answer = await paced(scan).query(current, "A")
        targets = _cname_map(answer.rrsets)
        if not chain and current not in targets:
            return None
        last = current
        while last in targets:  # follow the chain as far as this answer carries it
            last = targets[last]
            if last in chain or last == start:
                return chain, False  # a loop: broken, but nothing to take over
            chain.append(last)
        # The rcode speaks for the last name of the chain (RFC 6604 2.1).
        if answer.rcode == "NXDOMAIN":
            return chain, True
        if answer.rcode != "NOERROR" or last == current or _owns_data(answer.rrsets, last):
            return chain, False
        current = last  # the answer stopped at a target it says nothing about: ask about it
    return chain, False


def _cname_map(rrsets: tuple[RRset, ...]) -> dict[str, str]:
    cname = dns.rdatatype.CNAME
    return {
        r.name.to_text().lower().rstrip("."): r[0].target.to_text().lower().rstrip(".")
        for r in rrsets
        if r.rdtype == cname
    }


def _owns_data(rrsets: tuple[RRset, ...], name: str) -> bool:
    return any(r.name.to_text().lower().rstrip(".") == name for r in rrsets)
