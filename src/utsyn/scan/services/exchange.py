"""What every service probe shares: its answer, one bounded connection and bounded reads.

A probe connects once, says what its protocol needs to make the service speak and turns
the reply into an `Answer`. A reply in another protocol is a `ProtocolMismatch` whose
message names what was expected and, when it can tell, what the service speaks instead.
"""

from __future__ import annotations

import asyncio
import ssl
from collections.abc import Awaitable, Callable
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass, field
from typing import Any

from utsyn.scan.discovery import named_by_greeting, protocol_of
from utsyn.scan.family import ScanContext
from utsyn.scan.mail.mailproto import greeting_protocol
from utsyn.scan.model import ServiceTarget, excerpt

BANNER_LIMIT = 1024  # characters kept of any banner
READ_LIMIT = 65536  # bytes read from one service, whatever it announces
LINE_LIMIT = 8192  # bytes of greeting lines (SSH may send other lines before its own)


class ProtocolMismatch(ValueError):
    """The service answered, but not in the protocol expected: the reason is recorded."""


@dataclass
class Answer:
    """What one exchange learnt: the protocol confirmed (or corrected) and its facts."""

    protocol: str
    probe: str
    banner: str | None = None
    details: dict[str, Any] = field(default_factory=dict)
    evidence: bytes = b""
    product_family: str | None = None  # how to read the banner, when not by `protocol`


Probe = Callable[[ServiceTarget, ScanContext], Awaitable[Answer]]
Streams = tuple[asyncio.StreamReader, asyncio.StreamWriter]


def connect(
    target: ServiceTarget, scan: ScanContext, tls: ssl.SSLContext | None = None
) -> AbstractAsyncContextManager[Streams]:
    """The probe's one connection to the service, through the guard, reads capped."""
    return scan.net.tcp(target.ip, target.port, name=target.host, tls=tls, limit=READ_LIMIT)


async def request(
    target: ServiceTarget,
    scan: ScanContext,
    message: bytes,
    header: int,
    size_of: Callable[[bytes], int],
) -> bytes:
    """Send `message` and read the length-prefixed message that answers it."""
    async with connect(target, scan) as (reader, writer):
        writer.write(message)
        return await read_message(scan, reader, header, size_of)


def length_at_2(header: bytes) -> int:
    """The big-endian 16-bit whole length at bytes 2-3: TPKT (RDP) and TDS (MSSQL) alike."""
    return int.from_bytes(header[2:4], "big")


def text(data: bytes) -> str:
    """Untrusted bytes as a printable, capped banner."""
    return excerpt(data.strip(b"\r\n\t \x00"), BANNER_LIMIT)


def first_line(data: bytes) -> bytes:
    return data.split(b"\n", 1)[0].rstrip(b"\r")


# ---------------------------------------------------------------- reading


async def read_until(
    scan: ScanContext, reader: asyncio.StreamReader, done: Callable[[bytes], bool], limit: int
) -> bytes:
    """Chunks until `done(data)`, EOF or `limit` bytes; each read within the read timeout.

    A service that said something and then fell silent gets its words judged (they may be
    another protocol's) instead of a bare timeout.
    """
    data = b""
    while len(data) < limit and not done(data):
        chunk = await read_quietly(scan, reader, limit - len(data), data)
        if not chunk:
            break
        data += chunk
    return data


async def read_quietly(
    scan: ScanContext, reader: asyncio.StreamReader, limit: int, received: bytes
) -> bytes:
    """The next chunk; b"" when a server that already spoke falls silent."""
    try:
        return await scan.net.read(reader, limit)
    except TimeoutError:
        if received:
            return b""
        raise


async def read_message(
    scan: ScanContext, reader: asyncio.StreamReader, header: int, size_of: Callable[[bytes], int]
) -> bytes:
    """A length-prefixed message: `size_of(header bytes)` gives its whole size."""
    head = await scan.net.read_exactly(reader, header)
    size = size_of(head)
    if not header <= size <= READ_LIMIT:
        raise ProtocolMismatch(f"announced message size {size} is out of bounds")
    return head + await scan.net.read_exactly(reader, size - header)


# ---------------------------------------------------------------- the wrong protocol


def mismatch(expected: str, data: bytes) -> str:
    """Why an answer is not `expected`, with what it looks like instead."""
    if not data:
        return f"expected {expected}, the service sent nothing"
    sniffed = sniff(data)
    said = f" (it speaks {sniffed})" if sniffed else ""
    return f"expected {expected}, got {excerpt(data[:48], 64)!s}{said}"


def sniff(data: bytes) -> str | None:
    """The protocol an unexpected answer belongs to, when it is a well-known one."""
    head = data[:16]
    named = named_by_greeting(head)
    if named is not None:
        return named
    if head.startswith(b"HTTP/"):
        return "http"
    if head.startswith((b"* OK", b"* PREAUTH", b"+OK")):
        return greeting_protocol(data.split(b"\n", 1)[0].decode("latin-1").rstrip("\r"))
    if head.startswith(b"220"):
        detected = protocol_of(0, data)
        return detected if detected != "unknown" else "smtp"
    if head[:1] in (b"\x15", b"\x16") and head[1:2] == b"\x03":
        return "tls"
    if head.startswith(b"\xff") and len(head) > 1 and head[1] in (251, 252, 253, 254):
        return "telnet"
    return None
