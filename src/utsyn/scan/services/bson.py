"""BSON (bsonspec.org), as far as the MongoDB probe needs: flat commands out, replies in.

The decoder reads an untrusted server's reply: it is bounded in depth, checks every
length against its container, skips the types the probe has no use for (binary,
ObjectId, Decimal128, min/max key) and raises ValueError or struct.error on anything
malformed. The lab has its own BSON (`lab/services/bson.py`) on purpose; see there.
"""

from __future__ import annotations

import struct
from typing import Any

_BSON_DEPTH = 16


def bson_document(pairs: dict[str, int | str]) -> bytes:
    """A flat BSON document of int32 and string values: all a handshake needs."""
    body = b""
    for key, value in pairs.items():
        name = key.encode() + b"\x00"
        if isinstance(value, int):
            body += b"\x10" + name + struct.pack("<i", value)
        else:
            data = value.encode() + b"\x00"
            body += b"\x02" + name + struct.pack("<i", len(data)) + data
    return struct.pack("<i", len(body) + 5) + body + b"\x00"


def bson_decode(data: bytes, depth: int = 0) -> dict[str, Any]:
    """One BSON document; ValueError or struct.error on anything malformed."""
    if depth > _BSON_DEPTH:
        raise ValueError("BSON nested too deeply")
    length = struct.unpack_from("<i", data)[0]
    if length < 5 or length > len(data) or data[length - 1] != 0:
        raise ValueError("bad BSON document length")
    document: dict[str, Any] = {}
    pos = 4
    while pos < length - 1:
        end = data.index(b"\x00", pos + 1, length)
        key = data[pos + 1 : end].decode("utf-8", "replace")
        document[key], pos = _bson_value(data[pos], data, end + 1, depth)
    return document


_BSON_FIXED = {0x01: "<d", 0x09: "<q", 0x10: "<i", 0x11: "<Q", 0x12: "<q"}
_BSON_SKIP = {0x07: 12, 0x0A: 0, 0x13: 16, 0x7F: 0, 0xFF: 0}


def _bson_value(kind: int, data: bytes, pos: int, depth: int) -> tuple[Any, int]:
    if kind in _BSON_FIXED:
        fmt = _BSON_FIXED[kind]
        return struct.unpack_from(fmt, data, pos)[0], pos + struct.calcsize(fmt)
    if kind in _BSON_SKIP:
        return None, pos + _BSON_SKIP[kind]
    if kind == 0x08:
        return data[pos] != 0, pos + 1
    size = struct.unpack_from("<i", data, pos)[0]
    if size < 0 or pos + size > len(data):
        raise ValueError("BSON value runs past its document")
    if kind == 0x02:
        return data[pos + 4 : pos + 3 + size].decode("utf-8", "replace"), pos + 4 + size
    if kind in (0x03, 0x04):
        inner = bson_decode(data[pos : pos + size], depth + 1)
        return (inner if kind == 0x03 else list(inner.values())), pos + size
    if kind == 0x05:
        return None, pos + 5 + size
    raise ValueError(f"BSON type {kind:#x} not supported")
