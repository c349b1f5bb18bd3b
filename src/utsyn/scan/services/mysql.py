"""MySQL and MariaDB: the handshake the server sends first names its version and TLS."""

from __future__ import annotations

import re
import struct

from utsyn.scan.family import ScanContext
from utsyn.scan.model import ServiceTarget, excerpt
from utsyn.scan.services.exchange import Answer, ProtocolMismatch, connect, mismatch, read_message

_MYSQL_CLIENT_SSL = 0x0800


async def probe(target: ServiceTarget, scan: ScanContext) -> Answer:
    async with connect(target, scan) as (reader, _):
        packet = await read_message(scan, reader, 4, lambda h: 4 + int.from_bytes(h[:3], "little"))
    return mysql_answer(packet)


def mysql_answer(packet: bytes) -> Answer:
    """The server's first packet: a protocol-10 handshake, or an error (host refused)."""
    payload = packet[4:]
    if payload[:1] == b"\xff":  # ERR packet: code, message ("Host ... is not allowed ...")
        message = excerpt(payload[3:].lstrip(b"#")[:200], 200)
        return Answer("mysql", "handshake", None, {"error": message}, packet)
    if payload[:1] != b"\x0a" or b"\x00" not in payload[1:64]:
        raise ProtocolMismatch(mismatch("a MySQL handshake", packet))
    version, _, rest = payload[1:].partition(b"\x00")
    if not re.fullmatch(rb"[\x20-\x7e]{1,60}", version):
        raise ProtocolMismatch("MySQL handshake with a non-printable server version")
    # connection id (4), scramble part 1 (8), filler (1), then the lower capability flags.
    capabilities = struct.unpack_from("<H", rest, 13)[0] if len(rest) >= 15 else 0
    details = {"tls": bool(capabilities & _MYSQL_CLIENT_SSL)}
    return Answer("mysql", "handshake", version.decode("ascii"), details, packet)
