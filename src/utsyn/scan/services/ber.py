"""BER (X.690), as far as the LDAP probe needs: definite lengths, one level at a time.

`ber_items` reads an untrusted server's reply and raises ValueError on anything it cannot
read. The lab has its own BER (`lab/services/ber.py`) on purpose; see there.
"""

from __future__ import annotations


def ber(tag: int, content: bytes) -> bytes:
    """One definite-length TLV (the short length form below 128 bytes, as DER asks)."""
    size = len(content)
    if size < 0x80:
        return bytes([tag, size]) + content
    length = size.to_bytes((size.bit_length() + 7) // 8, "big")
    return bytes([tag, 0x80 | len(length)]) + length + content


def ber_items(data: bytes) -> list[tuple[int, bytes]]:
    """The TLVs that make up `data` (one level); ValueError when malformed."""
    items: list[tuple[int, bytes]] = []
    pos = 0
    while pos < len(data):
        if pos + 2 > len(data):
            raise ValueError("truncated BER header")
        tag, first = data[pos], data[pos + 1]
        pos += 2
        size = first
        if first & 0x80:
            count = first & 0x7F
            if not 1 <= count <= 4:
                raise ValueError("unsupported BER length")
            size = int.from_bytes(data[pos : pos + count], "big")
            pos += count
        if pos + size > len(data):
            raise ValueError("BER value runs past its container")
        items.append((tag, data[pos : pos + size]))
        pos += size
    return items
