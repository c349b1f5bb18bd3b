"""BER (X.690) for the lab's LDAP and SMB (SPNEGO) servers: definite lengths, low tags.

Kept independent of the scanner's `scan/services/ber.py` on purpose: the lab is the ground
truth the scanner is tested against, so it must not share the scanner's codec, or a bug
there would be mirrored here and every test would still pass. The two must agree on the
wire: tests/lab/test_codec_agreement.py encodes with each side and decodes with the other
for every message the lab's LDAP serves and reads, so drift shows up as a failing test.

Differences kept on purpose: this side reads what clients send (nmap, ldapsearch, the
scanner) and refuses the high-tag-number form; the scanner's side reads servers.
"""

from __future__ import annotations


def ber(tag: int, content: bytes) -> bytes:
    """One definite-length BER/DER TLV."""
    size = len(content)
    if size < 0x80:
        return bytes([tag, size]) + content
    length = size.to_bytes((size.bit_length() + 7) // 8, "big")
    return bytes([tag, 0x80 | len(length)]) + length + content


def ber_int(value: int, tag: int = 0x02) -> bytes:
    return ber(tag, value.to_bytes(max(1, (value.bit_length() + 8) // 8), "big", signed=True))


def ber_items(data: bytes) -> list[tuple[int, bytes]]:
    """The TLVs that make up `data` (one level; low tag numbers, definite lengths only)."""
    items: list[tuple[int, bytes]] = []
    pos = 0
    while pos < len(data):
        tag, first = data[pos], data[pos + 1]
        pos += 2
        if tag & 0x1F == 0x1F or first == 0x80 or first > 0x84:
            raise ValueError("unsupported BER tag or length form")
        size = first
        if first & 0x80:
            count = first & 0x7F
            size = int.from_bytes(data[pos : pos + count], "big")
            pos += count
        if pos + size > len(data):
            raise ValueError("BER value runs past its container")
        items.append((tag, data[pos : pos + size]))
        pos += size
    return items
