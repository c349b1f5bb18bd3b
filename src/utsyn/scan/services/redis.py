"""Redis: INFO server answers with the version unless a password is required."""

from __future__ import annotations

import re

from utsyn.scan.family import ScanContext
from utsyn.scan.model import ServiceTarget
from utsyn.scan.services.exchange import (
    READ_LIMIT,
    Answer,
    ProtocolMismatch,
    connect,
    first_line,
    mismatch,
    read_until,
    text,
)

_REDIS_INFO = b"*2\r\n$4\r\nINFO\r\n$6\r\nserver\r\n"


async def probe(target: ServiceTarget, scan: ScanContext) -> Answer:
    async with connect(target, scan) as (reader, writer):
        writer.write(_REDIS_INFO)
        head = await read_until(scan, reader, lambda d: b"\r\n" in d, 128)
        if head.startswith(b"-"):
            error = text(first_line(head))
            return Answer("redis", "INFO server", None, {"auth_required": True, "error": error})
        if not re.match(rb"\$\d{1,9}\r\n", head):
            raise ProtocolMismatch(mismatch("a Redis reply", head))
        size = int(head[1 : head.index(b"\r\n")])
        wanted = min(size, READ_LIMIT) + len(head[: head.index(b"\r\n") + 2])
        body = await read_until(scan, reader, lambda d: len(head) + len(d) >= wanted, READ_LIMIT)
    return redis_answer(head + body)


def redis_answer(reply: bytes) -> Answer:
    info = dict(
        line.split(b":", 1) for line in reply.split(b"\r\n") if b":" in line and len(line) < 512
    )
    version = info.get(b"redis_version")
    if version is None or not re.fullmatch(rb"[\w.+-]{1,40}", version):
        raise ProtocolMismatch("Redis INFO without a readable redis_version")
    details = {"auth_required": False, "mode": text(info.get(b"redis_mode", b"")) or None}
    return Answer("redis", "INFO server", version.decode(), details, reply[:512])
