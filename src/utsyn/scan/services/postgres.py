"""PostgreSQL: whether it offers TLS and how it treats a stranger (it names no version)."""

from __future__ import annotations

import struct
from typing import Any

from utsyn.scan.family import ScanContext
from utsyn.scan.model import ServiceTarget, excerpt
from utsyn.scan.services.exchange import Answer, ProtocolMismatch, connect, mismatch, read_message

_PG_SSL_REQUEST = struct.pack(">II", 8, 80877103)
_PG_AUTH = {0: "none (trust)", 3: "cleartext password", 5: "md5", 10: "sasl (scram)"}


def _pg_startup() -> bytes:
    params = b"user\x00utsyn\x00database\x00utsyn\x00application_name\x00utsyn-scan\x00\x00"
    return struct.pack(">II", 8 + len(params), 196608) + params  # protocol 3.0


async def probe(target: ServiceTarget, scan: ScanContext) -> Answer:
    """SSLRequest, then (when refused) a StartupMessage."""
    async with connect(target, scan) as (reader, writer):
        writer.write(_PG_SSL_REQUEST)
        choice = await scan.net.read_exactly(reader, 1)
        if choice == b"S":
            return Answer("postgres", "SSLRequest", None, {"tls": True}, choice)
        if choice != b"N":
            # The rest of an ErrorResponse: its length (itself included), then its body.
            rest = b"" if choice != b"E" else await read_message(scan, reader, 4, _length)
            return _pg_error_or_mismatch(choice + rest, tls=False)
        writer.write(_pg_startup())
        message = await read_message(scan, reader, 5, lambda h: 1 + _length(h[1:]))
    return _pg_reply(message)


def _length(head: bytes) -> int:
    return int(struct.unpack(">I", head)[0])


def _pg_reply(message: bytes) -> Answer:
    kind = message[:1]
    if kind == b"R" and len(message) >= 9:
        code = struct.unpack_from(">I", message, 5)[0]
        auth = _PG_AUTH.get(code, f"method {code}")
        return Answer("postgres", "StartupMessage", None, {"tls": False, "auth": auth}, message)
    return _pg_error_or_mismatch(message, tls=False)


def _pg_error_or_mismatch(message: bytes, tls: bool) -> Answer:
    if message[:1] != b"E" or len(message) < 6:
        raise ProtocolMismatch(mismatch("a PostgreSQL answer", message))
    fields = pg_fields(message[5:])
    details: dict[str, Any] = {"tls": tls, "error_code": fields.get("C")}
    details["message"] = fields.get("M")
    # The non-localised severity (V) was added in PostgreSQL 9.6.
    details["version_hint"] = ">=9.6" if "V" in fields else None
    return Answer("postgres", "StartupMessage", None, details, message)


def pg_fields(body: bytes) -> dict[str, str]:
    """ErrorResponse fields (code letter → text), each capped."""
    fields: dict[str, str] = {}
    for part in body.split(b"\x00"):
        if len(part) >= 2 and len(fields) < 32:
            fields[chr(part[0])] = excerpt(part[1:301], 300)
    return fields
