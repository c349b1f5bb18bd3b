"""BSON (bsonspec.org) for the lab's MongoDB server: the types a handshake shows.

Kept independent of the scanner's `scan/services/bson.py` on purpose: the lab is the ground
truth the scanner is tested against, so it must not share the scanner's codec, or a bug
there would be mirrored here and every test would still pass. The two must agree on the
wire: tests/lab/test_codec_agreement.py encodes with each side and decodes with the other
for every command the scanner sends and every reply the lab's MongoDB gives, so drift
shows up as a failing test.

Differences kept on purpose: this side encodes every type the lab's replies use (bool,
int32/int64, double, string, datetime, null, documents, arrays, binary); the scanner's
encodes only flat commands, and its decoder skips the types it has no use for where this
one returns ObjectId and binary as bytes.
"""

from __future__ import annotations

import struct
from datetime import datetime
from typing import TypeAlias

BsonValue: TypeAlias = (
    "float | bool | int | str | bytes | datetime | dict[str, BsonValue] | list[BsonValue] | None"
)
BsonDocument: TypeAlias = dict[str, BsonValue]
_BSON_MAX_DEPTH = 32


def bson_encode(document: BsonDocument) -> bytes:
    """A BSON document (the subset a MongoDB handshake needs)."""
    body = b"".join(_bson_element(key, value) for key, value in document.items())
    return struct.pack("<i", len(body) + 5) + body + b"\x00"


def _bson_element(key: str, value: BsonValue) -> bytes:
    name = key.encode() + b"\x00"
    if isinstance(value, bool):  # before int: bool is an int subclass
        return b"\x08" + name + (b"\x01" if value else b"\x00")
    if isinstance(value, int):
        if -(2**31) <= value < 2**31:
            return b"\x10" + name + struct.pack("<i", value)
        return b"\x12" + name + struct.pack("<q", value)
    if isinstance(value, float):
        return b"\x01" + name + struct.pack("<d", value)
    if isinstance(value, str):
        data = value.encode() + b"\x00"
        return b"\x02" + name + struct.pack("<i", len(data)) + data
    if isinstance(value, bytes):
        return b"\x05" + name + struct.pack("<iB", len(value), 0) + value
    if isinstance(value, datetime):
        return b"\x09" + name + struct.pack("<q", int(value.timestamp() * 1000))
    if value is None:
        return b"\x0a" + name
    if isinstance(value, dict):
        return b"\x03" + name + bson_encode(value)
    return b"\x04" + name + bson_encode({str(i): item for i, item in enumerate(value)})


def bson_decode(data: bytes, depth: int = 0) -> BsonDocument:
    """Decode one BSON document; ValueError or struct.error on anything malformed."""
    if depth > _BSON_MAX_DEPTH:
        raise ValueError("BSON nested too deeply")
    length = struct.unpack_from("<i", data)[0]
    if length < 5 or length > len(data) or data[length - 1] != 0:
        raise ValueError("bad BSON document length")
    document: BsonDocument = {}
    pos = 4
    while pos < length - 1:
        kind = data[pos]
        end = data.index(b"\x00", pos + 1, length)
        key = data[pos + 1 : end].decode()
        document[key], pos = _bson_value(kind, data, end + 1, depth)
    return document


def _bson_value(kind: int, data: bytes, pos: int, depth: int) -> tuple[BsonValue, int]:
    fixed = {0x01: ("<d", 8), 0x10: ("<i", 4), 0x11: ("<Q", 8), 0x12: ("<q", 8), 0x09: ("<q", 8)}
    if kind in fixed:
        fmt, size = fixed[kind]
        value: BsonValue = struct.unpack_from(fmt, data, pos)[0]
        return value, pos + size
    if kind == 0x02:
        size = struct.unpack_from("<i", data, pos)[0]
        return data[pos + 4 : pos + 3 + size].decode(), pos + 4 + size
    if kind in (0x03, 0x04):
        size = struct.unpack_from("<i", data, pos)[0]
        inner = bson_decode(data[pos : pos + size], depth + 1)
        return (inner if kind == 0x03 else list(inner.values())), pos + size
    if kind == 0x05:
        size = struct.unpack_from("<i", data, pos)[0]
        return data[pos + 5 : pos + 5 + size], pos + 5 + size
    if kind == 0x07:
        return data[pos : pos + 12], pos + 12
    if kind == 0x08:
        return data[pos] != 0, pos + 1
    if kind == 0x0A:
        return None, pos
    raise ValueError(f"BSON type {kind:#x} not supported")
