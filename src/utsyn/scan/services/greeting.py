"""Services that speak first: SSH, FTP, SMTP, IMAP, POP3, and ports outside the table.

The discovery already holds their greeting, so no second connection is made; SMTPS, IMAPS
and POP3S greet after a TLS handshake. `service.banner` is the SSH identification line,
the text after "220 " of FTP and SMTP, after "* OK" (and its response code) of IMAP and
after "+OK" of POP3.
"""

from __future__ import annotations

import asyncio
import re

from utsyn.scan.discovery import protocol_of
from utsyn.scan.family import ScanContext
from utsyn.scan.mail.mailproto import (
    IMPLICIT_TLS_PROTOCOLS,
    greeting_protocol,
    greeting_text,
)
from utsyn.scan.model import ServiceTarget, excerpt
from utsyn.scan.services.exchange import (
    BANNER_LIMIT,
    LINE_LIMIT,
    Answer,
    ProtocolMismatch,
    connect,
    first_line,
    mismatch,
    read_until,
    sniff,
    text,
)
from utsyn.scan.tlscontext import permissive_context

_SSH_IDENT = re.compile(rb"(?:^|\n)SSH-[^\n]*\n")
_LINE_END = re.compile(rb"\n")


async def _greeting(target: ServiceTarget, scan: ScanContext, done: re.Pattern[bytes]) -> bytes:
    """What a speak-first service says, up to the first `done` match (or EOF, or a cap)."""
    async with connect(target, scan) as (reader, _):
        return await read_until(scan, reader, lambda d: done.search(d) is not None, LINE_LIMIT)


async def ssh(target: ServiceTarget, scan: ScanContext) -> Answer:
    if target.banner and target.banner.startswith("SSH-"):
        return Answer("ssh", "greeting (discovery)", target.banner[:BANNER_LIMIT])
    # RFC 4253 4.2: other lines may precede the identification, which ends with CR LF.
    data = await _greeting(target, scan, _SSH_IDENT)
    for line in data.split(b"\n"):
        if line.startswith(b"SSH-"):
            return Answer("ssh", "greeting", text(line), evidence=data)
    raise ProtocolMismatch(mismatch("an SSH identification", data))


def _reply_text(line: str) -> str:
    """An FTP/SMTP reply line without its code: "220 " and "220-" are not the banner."""
    return re.sub(r"^\d{3}[ -]?", "", line, count=1)


async def _code_220(target: ServiceTarget, scan: ScanContext, protocol: str) -> Answer:
    if target.banner and target.banner.startswith("220"):
        banner = _reply_text(target.banner)[:BANNER_LIMIT]
        return Answer(protocol, "greeting (discovery)", banner)
    data = await _greeting(target, scan, _LINE_END)
    if not data.startswith(b"220"):
        raise ProtocolMismatch(mismatch(f"an {protocol.upper()} 220 greeting", data))
    detected = protocol_of(target.port, data)
    corrected = detected if detected in ("smtp", "ftp") else protocol
    return Answer(corrected, "greeting", _reply_text(text(first_line(data))), evidence=data)


async def ftp(target: ServiceTarget, scan: ScanContext) -> Answer:
    return await _code_220(target, scan, "ftp")


async def smtp(target: ServiceTarget, scan: ScanContext) -> Answer:
    return await _code_220(target, scan, "smtp")


async def unknown(target: ServiceTarget, scan: ScanContext) -> Answer:
    """A port outside the curated table: whatever it says first, and what that is."""
    data = await _greeting(target, scan, _LINE_END)
    protocol = sniff(data) or "unknown"
    banner = text(first_line(data)) if data else None
    return Answer(protocol, "greeting", banner, evidence=data)


async def mail(target: ServiceTarget, scan: ScanContext) -> Answer:
    """IMAP and POP3 greet first, as SMTP does; behind implicit TLS (SMTPS, IMAPS, POP3S:
    465, 993, 995) the greeting follows the handshake. The greeting says which it is.

    This probe bounds its own exchange once connected (the family gives it no deadline).
    """
    implicit = target.protocol in IMPLICIT_TLS_PROTOCOLS
    if not implicit and target.banner:
        line, data, probe = target.banner, b"", "greeting (discovery)"
    else:
        async with connect(target, scan, permissive_context() if implicit else None) as (reader, _):
            # Connected (and, for implicit TLS, the handshake done within the connect
            # timeout): from here the exchange has the family's usual bound.
            async with asyncio.timeout(2 * scan.config.timeouts.read):
                data = await read_until(scan, reader, lambda d: b"\n" in d, LINE_LIMIT)
        line = first_line(data).decode("latin-1")
        probe = "greeting after TLS" if implicit else "greeting"
    found = greeting_protocol(line)
    if found is None:
        raise ProtocolMismatch(mismatch(f"a {target.protocol} greeting", data or line.encode()))
    banner = excerpt(greeting_text(found, line), BANNER_LIMIT)
    protocol = f"{found}s" if implicit else found
    return Answer(protocol, probe, banner, evidence=data, product_family=found)
