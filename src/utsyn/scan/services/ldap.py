"""LDAP: the rootDSE, which a directory shows to anonymous clients, names its vendor."""

from __future__ import annotations

import asyncio

from utsyn.scan.family import ScanContext
from utsyn.scan.model import ServiceTarget, excerpt
from utsyn.scan.services.ber import ber, ber_items
from utsyn.scan.services.exchange import (
    BANNER_LIMIT,
    READ_LIMIT,
    Answer,
    ProtocolMismatch,
    connect,
    mismatch,
)

_ROOT_DSE_ATTRIBUTES = ("vendorName", "vendorVersion", "namingContexts", "supportedLDAPVersion")


def ldap_root_dse_request() -> bytes:
    """searchRequest: base "", scope base, (objectClass=*), a few rootDSE attributes."""
    attributes = b"".join(ber(0x04, a.encode()) for a in _ROOT_DSE_ATTRIBUTES)
    search = ber(0x04, b"") + ber(0x0A, b"\x00") + ber(0x0A, b"\x00")
    search += ber(0x02, b"\x00") + ber(0x02, b"\x00") + ber(0x01, b"\x00")
    search += ber(0x87, b"objectClass") + ber(0x30, attributes)
    return ber(0x30, ber(0x02, b"\x01") + ber(0x63, search))


def _ber_size(head: bytes) -> int:
    first = head[1]
    if not first & 0x80:
        return 2 + first
    count = first & 0x7F
    if not 1 <= count <= 4:
        raise ProtocolMismatch(mismatch("an LDAP message", head))
    return 2 + count + int.from_bytes(head[2 : 2 + count], "big")


async def probe(target: ServiceTarget, scan: ScanContext) -> Answer:
    async with connect(target, scan) as (reader, writer):
        writer.write(ldap_root_dse_request())
        messages: list[bytes] = []
        for _ in range(4):  # the entry, then searchResDone; referrals are not followed
            messages.append(await _read_ldap(scan, reader))
            if ber_items(ber_items(messages[-1])[0][1])[1][0] == 0x65:
                break
    return ldap_answer(messages)


async def _read_ldap(scan: ScanContext, reader: asyncio.StreamReader) -> bytes:
    head = await scan.net.read_exactly(reader, 2)
    if head[0] != 0x30:
        raise ProtocolMismatch(mismatch("an LDAP message", head))
    extra = head[1] & 0x7F if head[1] & 0x80 else 0
    head += await scan.net.read_exactly(reader, extra) if extra else b""
    size = _ber_size(head)
    if size > READ_LIMIT:
        raise ProtocolMismatch(f"announced message size {size} is out of bounds")
    return head + await scan.net.read_exactly(reader, size - len(head))


def ldap_answer(messages: list[bytes]) -> Answer:
    attributes: dict[str, list[str]] = {}
    done = None
    for message in messages:
        (_, content), *_ = ber_items(message)
        _, (op, body), *_ = ber_items(content)
        if op == 0x64:
            attributes.update(_ldap_attributes(body))
        elif op == 0x65:
            done = int.from_bytes(ber_items(body)[0][1], "big")
    if not attributes and done is None:
        raise ProtocolMismatch("LDAP answer without a search result")
    version = _first(attributes.get("vendorversion"))
    details = {
        "root_dse_readable": bool(attributes),
        "vendor_name": _first(attributes.get("vendorname")),
        "naming_contexts": attributes.get("namingcontexts", [])[:16],
        "result_code": done,
    }
    return Answer("ldap", "rootDSE search", version, details, messages[0][:1024])


def _first(values: list[str] | None) -> str | None:
    return values[0] if values else None


def _ldap_attributes(entry: bytes) -> dict[str, list[str]]:
    (_, _dn), (_, attribute_list), *_ = ber_items(entry)
    found: dict[str, list[str]] = {}
    for _, attribute in ber_items(attribute_list)[:64]:
        (_, name), (_, values), *_ = ber_items(attribute)
        texts = [excerpt(v, BANNER_LIMIT) for _, v in ber_items(values)[:32]]
        found[name.decode("utf-8", "replace").lower()] = texts
    return found
