"""MongoDB: isMaster, then buildInfo, which names the version when no login is required."""

from __future__ import annotations

import asyncio
import re
import struct
from typing import Any

from utsyn.scan.family import ScanContext
from utsyn.scan.model import ServiceTarget, excerpt
from utsyn.scan.services.bson import bson_decode, bson_document
from utsyn.scan.services.exchange import Answer, ProtocolMismatch, connect, read_message

_OP_REPLY, _OP_QUERY, _OP_MSG = 1, 2004, 2013


def mongo_query(request_id: int, command: dict[str, int | str]) -> bytes:
    body = struct.pack("<i", 0) + b"admin.$cmd\x00" + struct.pack("<ii", 0, -1)
    body += bson_document(command)
    return struct.pack("<iiii", 16 + len(body), request_id, 0, _OP_QUERY) + body


def mongo_msg(request_id: int, command: dict[str, int | str]) -> bytes:
    body = struct.pack("<I", 0) + b"\x00" + bson_document({**command, "$db": "admin"})
    return struct.pack("<iiii", 16 + len(body), request_id, 0, _OP_MSG) + body


def mongo_reply(message: bytes) -> dict[str, Any]:
    """The document of an OP_REPLY or OP_MSG reply."""
    op_code = struct.unpack_from("<i", message, 12)[0]
    if op_code == _OP_REPLY:
        return bson_decode(message[16 + 20 :])  # flags, cursor id, start, count
    if op_code == _OP_MSG and message[20:21] == b"\x00":
        return bson_decode(message[21:])
    raise ProtocolMismatch(f"MongoDB reply with opcode {op_code}")


async def probe(target: ServiceTarget, scan: ScanContext) -> Answer:
    """isMaster over OP_QUERY (every release answers it), then buildInfo over OP_MSG from
    3.6 (wire version 6) on, OP_QUERY before: 5.1+ accepts OP_QUERY for the handshake only."""
    async with connect(target, scan) as (reader, writer):
        hello = await _mongo_exchange(scan, reader, writer, mongo_query(1, {"isMaster": 1}))
        wire = hello.get("maxWireVersion")
        if not isinstance(wire, int):
            raise ProtocolMismatch("MongoDB isMaster without maxWireVersion")
        build = mongo_msg(2, {"buildInfo": 1}) if wire >= 6 else mongo_query(2, {"buildInfo": 1})
        info = await _mongo_exchange(scan, reader, writer, build)
    version = info.get("version")
    details: dict[str, Any] = {"max_wire_version": wire}
    details["build_info_readable"] = isinstance(version, str)
    if not isinstance(version, str) or not re.fullmatch(r"[\w.+-]{1,40}", version):
        details["error"] = excerpt(str(info.get("errmsg", "no version in buildInfo")), 200)
        return Answer("mongodb", "isMaster, buildInfo", None, details)
    return Answer("mongodb", "isMaster, buildInfo", version, details)


async def _mongo_exchange(
    scan: ScanContext,
    reader: asyncio.StreamReader,
    writer: asyncio.StreamWriter,
    request: bytes,
) -> dict[str, Any]:
    writer.write(request)
    message = await read_message(scan, reader, 16, lambda h: struct.unpack_from("<i", h)[0])
    return mongo_reply(message)
