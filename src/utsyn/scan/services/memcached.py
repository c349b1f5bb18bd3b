"""memcached: `version` answers anyone who asks."""

from __future__ import annotations

import re

from utsyn.scan.family import ScanContext
from utsyn.scan.model import ServiceTarget
from utsyn.scan.services.exchange import Answer, ProtocolMismatch, connect, mismatch, read_until


async def probe(target: ServiceTarget, scan: ScanContext) -> Answer:
    async with connect(target, scan) as (reader, writer):
        writer.write(b"version\r\n")
        line = await read_until(scan, reader, lambda d: b"\n" in d, 256)
    match = re.match(rb"VERSION ([\w.+-]{1,40})\r?\n", line)
    if match is None:
        raise ProtocolMismatch(mismatch("a memcached VERSION reply", line))
    # memcached has no authentication unless built with SASL: answering is exposure.
    return Answer("memcached", "version", match[1].decode(), {"auth_required": False}, line)
