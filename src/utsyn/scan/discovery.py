"""Port discovery: which of the curated ports answer on a host, and what speaks first there.

One job per port, one TCP connection each. Services that greet first (SSH, FTP, SMTP,
IMAP, POP3, Telnet, MySQL, VNC) are given a moment to do so; the banner travels on with the
target. The mail ports with implicit TLS (465, 993, 995; RFC 8314) greet only after a TLS
handshake, which the services family makes: here they are known by their port number.
"""

from __future__ import annotations

import asyncio
from typing import Literal

from utsyn.scan.family import ScanContext
from utsyn.scan.guard import ScopeRefused
from utsyn.scan.model import FILTERED, Observation, ServiceTarget, excerpt, failed

PROTOCOL_BY_PORT: dict[int, str] = {
    21: "ftp", 22: "ssh", 23: "telnet", 25: "smtp", 53: "dns", 80: "http", 110: "pop3",
    143: "imap", 389: "ldap", 443: "https", 445: "smb", 465: "smtps", 587: "smtp",
    993: "imaps", 995: "pop3s", 1433: "mssql", 3306: "mysql", 3389: "rdp",
    5432: "postgres", 5900: "vnc", 6379: "redis", 8080: "http", 8443: "https",
    9200: "elasticsearch", 11211: "memcached", 27017: "mongodb",
}  # fmt: skip

# Ports whose service speaks first: wait for its greeting.
SPEAKS_FIRST = frozenset({21, 22, 23, 25, 110, 143, 587, 3306, 5900})
BANNER_LIMIT = 1024


# Greetings that name their protocol in their first bytes, whatever the port.
_SELF_NAMING = ((b"SSH-", "ssh"), (b"RFB ", "vnc"))


def named_by_greeting(head: bytes) -> str | None:
    """The protocol a greeting names in its first bytes: SSH's identification, VNC's RFB."""
    return next((name for prefix, name in _SELF_NAMING if head.startswith(prefix)), None)


def protocol_of(port: int, banner: bytes) -> str:
    """The protocol on a port, by its greeting when it gave one, else by the port number."""
    head = banner[:64]
    named = named_by_greeting(head)
    if named is not None:
        return named
    if head.startswith(b"220"):
        upper = banner.upper()
        if b"SMTP" in upper or b"ESMTP" in upper or b" MAIL" in upper:
            return "smtp"
        if b"FTP" in upper:
            return "ftp"
    if head.startswith((b"* OK", b"* PREAUTH", b"* BYE")):
        return "imap"
    if head.startswith((b"+OK", b"-ERR")):
        return "pop3"
    return PROTOCOL_BY_PORT.get(port, "unknown")


# What a probe learnt of a port that is not open: refused (closed, an answer) or no answer.
Closed = Literal["closed", "filtered"]


async def probe_port(
    host: str, ip: str, port: int, scan: ScanContext
) -> tuple[ServiceTarget | None, Observation | Closed]:
    """Connect once; an open port becomes a ServiceTarget, a refusal by scope an observation.

    A port that refuses the connection is closed; one that does not answer in time (or
    whose network is unreachable) is filtered: that is no answer, which a scan whose port
    was open before must not take for a port closed (`rules.standing`)."""
    try:
        async with scan.net.tcp(ip, port, name=host, limit=BANNER_LIMIT * 4) as (reader, _):
            banner = b""
            if port in SPEAKS_FIRST:
                banner = await _greeting(reader, scan)
    except ScopeRefused as exc:
        return None, failed(ServiceTarget(host, ip, port, "unknown"), "scope.refused", str(exc))
    except ConnectionRefusedError:
        return None, "closed"
    except (OSError, TimeoutError):
        return None, "filtered"
    protocol = protocol_of(port, banner)
    text = excerpt(banner.split(b"\n")[0].rstrip(b"\r"), BANNER_LIMIT) if banner else None
    return ServiceTarget(host, ip, port, protocol, text), "closed"


async def _greeting(reader: asyncio.StreamReader, scan: ScanContext) -> bytes:
    try:
        return await scan.net.read(reader, BANNER_LIMIT)
    except (TimeoutError, OSError):
        return b""


async def discover(
    host: str, ip: str, scan: ScanContext, ports: tuple[int, ...]
) -> tuple[list[ServiceTarget], list[Observation]]:
    results = await asyncio.gather(*(probe_port(host, ip, p, scan) for p in ports))
    targets = [t for t, _ in results if t is not None]
    notes = [o for _, o in results if isinstance(o, Observation)][:1]  # one refusal says it all
    filtered = [p for p, (_, o) in zip(ports, results, strict=True) if o == "filtered"]
    if filtered:
        evidence = f"no answer on port(s) {', '.join(map(str, filtered))}"
        notes.append(Observation(host, FILTERED, filtered, ip, "tcp connect", evidence))
    return targets, notes
