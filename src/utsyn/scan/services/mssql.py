"""Microsoft SQL Server: the TDS PRELOGIN answer names the version and the encryption."""

from __future__ import annotations

import struct

from utsyn.scan.family import ScanContext
from utsyn.scan.model import ServiceTarget
from utsyn.scan.services.exchange import (
    Answer,
    ProtocolMismatch,
    length_at_2,
    mismatch,
    request,
)

_ENCRYPTION = {0: "off", 1: "on", 2: "not supported", 3: "required"}


def mssql_prelogin() -> bytes:
    """A TDS PRELOGIN (MS-TDS 2.2.6.5): version, encryption off, default instance."""
    options = [(0, b"\x00" * 6), (1, b"\x00"), (2, b"\x00"), (3, b"\x00" * 4), (4, b"\x00")]
    offset = 5 * len(options) + 1
    table, data = b"", b""
    for token, value in options:
        table += struct.pack(">BHH", token, offset + len(data), len(value))
        data += value
    payload = table + b"\xff" + data
    return struct.pack(">BBHHBB", 0x12, 1, 8 + len(payload), 0, 0, 0) + payload


async def probe(target: ServiceTarget, scan: ScanContext) -> Answer:
    packet = await request(target, scan, mssql_prelogin(), 8, length_at_2)
    return mssql_answer(packet)


def mssql_answer(packet: bytes) -> Answer:
    if packet[0] != 0x04:
        raise ProtocolMismatch(mismatch("a TDS response", packet))
    options = _prelogin_options(packet[8:])
    if 0 not in options or len(options[0]) < 6:
        raise ProtocolMismatch("PRELOGIN response without a version")
    major, minor, build, sub = struct.unpack(">BBHH", options[0][:6])
    encryption = options.get(1, b"")[:1]
    details = {"encryption": _ENCRYPTION.get(encryption[0], "unknown") if encryption else None}
    return Answer("mssql", "PRELOGIN", f"{major}.{minor}.{build}.{sub}", details, packet)


def _prelogin_options(payload: bytes) -> dict[int, bytes]:
    options: dict[int, bytes] = {}
    for pos in range(0, min(len(payload), 5 * 16), 5):
        if payload[pos] == 0xFF:
            return options
        if pos + 5 > len(payload):
            break
        token, offset, length = struct.unpack_from(">BHH", payload, pos)
        options[token] = payload[offset : offset + length]
    raise ProtocolMismatch("PRELOGIN option table without a terminator")
