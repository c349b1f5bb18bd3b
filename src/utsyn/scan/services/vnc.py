"""VNC: the RFB version line and the security types offered (`none` is no password)."""

from __future__ import annotations

import asyncio
import re
import struct

from utsyn.scan.family import ScanContext
from utsyn.scan.model import ServiceTarget, excerpt
from utsyn.scan.services.exchange import Answer, ProtocolMismatch, connect, mismatch

_VNC_SECURITY = {1: "none", 2: "vnc", 16: "tight", 18: "tls", 19: "vencrypt", 30: "apple"}


async def probe(target: ServiceTarget, scan: ScanContext) -> Answer:
    async with connect(target, scan) as (reader, writer):
        ident = await scan.net.read_exactly(reader, 12)
        match = re.fullmatch(rb"RFB (\d{3})\.(\d{3})\n", ident)
        if match is None:
            raise ProtocolMismatch(mismatch("an RFB protocol version", ident))
        minor = min(int(match[2]), 8) if int(match[1]) == 3 else 8
        writer.write(b"RFB 003.%03d\n" % minor)
        types = await _vnc_security_types(scan, reader, minor)
    names = [_VNC_SECURITY.get(t, str(t)) for t in types]
    details = {"security_types": names, "no_auth": 1 in types}
    return Answer("vnc", "RFB handshake", ident.decode("ascii").strip(), details, ident)


async def _vnc_security_types(
    scan: ScanContext, reader: asyncio.StreamReader, minor: int
) -> list[int]:
    if minor < 7:  # RFB 3.3: the server picks one type, as a 32-bit number
        return [struct.unpack(">I", await scan.net.read_exactly(reader, 4))[0]]
    count = (await scan.net.read_exactly(reader, 1))[0]
    if count == 0:  # a refusal follows: length and reason
        size = struct.unpack(">I", await scan.net.read_exactly(reader, 4))[0]
        reason = await scan.net.read_exactly(reader, min(size, 256))
        raise ProtocolMismatch(f"VNC server refused the connection: {excerpt(reason, 200)}")
    return list(await scan.net.read_exactly(reader, count))
