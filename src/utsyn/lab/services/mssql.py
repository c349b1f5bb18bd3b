"""Microsoft SQL Server: the TDS PRELOGIN answer with the version and no TLS."""

from __future__ import annotations

import struct

from utsyn.lab.context import LabContext
from utsyn.lab.manifest import Host, Service
from utsyn.lab.services.common import banner, version_tuple
from utsyn.lab.session import Serve, Session

_TDS_PRELOGIN, _TDS_RESPONSE = 0x12, 0x04
_PRELOGIN_VERSION, _PRELOGIN_ENCRYPTION, _PRELOGIN_INSTOPT = 0, 1, 2
_PRELOGIN_THREADID, _PRELOGIN_MARS, _PRELOGIN_END = 3, 4, 0xFF
_ENCRYPT_NOT_SUP = 0x02


def _prelogin_tokens(payload: bytes) -> set[int]:
    tokens: set[int] = set()
    for pos in range(0, len(payload), 5):
        if payload[pos] == _PRELOGIN_END:
            return tokens
        tokens.add(payload[pos])
    raise ValueError("PRELOGIN without a terminator")


def mssql_prelogin_response(version: str, client_tokens: set[int]) -> bytes:
    """The server's PRELOGIN answer: version, no TLS, default instance, MARS if asked."""
    parts = [*version_tuple(version), 0, 0, 0, 0][:4]
    options = [
        (_PRELOGIN_VERSION, struct.pack(">BBHH", parts[0], parts[1], parts[2], parts[3])),
        (_PRELOGIN_ENCRYPTION, bytes([_ENCRYPT_NOT_SUP])),
        (_PRELOGIN_INSTOPT, b"\x00"),
        (_PRELOGIN_THREADID, b""),
    ]
    if _PRELOGIN_MARS in client_tokens:
        options.append((_PRELOGIN_MARS, b"\x00"))
    offset = 5 * len(options) + 1
    table, data = b"", b""
    for token, value in options:
        table += struct.pack(">BHH", token, offset + len(data), len(value))
        data += value
    payload = table + bytes([_PRELOGIN_END]) + data
    return struct.pack(">BBHHBB", _TDS_RESPONSE, 1, 8 + len(payload), 0, 1, 0) + payload


def server(service: Service, host: Host, ctx: LabContext) -> Serve:
    version = banner(service)

    async def session(s: Session) -> None:
        kind, _, length = struct.unpack(">BBH", await s.read_exactly(4))
        await s.read_exactly(4)  # SPID, packet id, window
        if kind != _TDS_PRELOGIN or not 8 < length <= 4096:
            return
        tokens = _prelogin_tokens(await s.read_exactly(length - 8))
        await s.send(mssql_prelogin_response(version, tokens))
        await s.read_some()  # LOGIN7 would follow; the lab ends the conversation here

    return session
