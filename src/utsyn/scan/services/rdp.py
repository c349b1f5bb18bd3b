"""RDP: what the server insists on when offered only standard RDP security (NLA, TLS)."""

from __future__ import annotations

import struct
from typing import Any

from utsyn.scan.family import ScanContext
from utsyn.scan.model import ServiceTarget
from utsyn.scan.services.exchange import (
    Answer,
    ProtocolMismatch,
    length_at_2,
    mismatch,
    request,
)

_RDP_FAILURES = {
    1: "ssl_required",
    2: "ssl_not_allowed",
    3: "cert_not_on_server",
    4: "inconsistent_flags",
    5: "hybrid_required",
    6: "ssl_with_user_auth_required",
}
_RDP_PROTOCOLS = {0: "rdp", 1: "ssl", 2: "hybrid", 4: "rdstls", 8: "hybrid_ex"}


def rdp_connection_request() -> bytes:
    """X.224 Connection Request with an RDP_NEG_REQ offering standard RDP security only.

    Offering only the legacy protocol makes the server say what it insists on: a server
    that accepts is open to the weak standard security; one that refuses names NLA or TLS.
    """
    negotiation = struct.pack("<BBHI", 0x01, 0, 8, 0)
    x224 = b"\xe0\x00\x00\x00\x00\x00" + negotiation
    return struct.pack(">BBH", 3, 0, 5 + len(x224)) + bytes([len(x224)]) + x224


async def probe(target: ServiceTarget, scan: ScanContext) -> Answer:
    packet = await request(target, scan, rdp_connection_request(), 4, length_at_2)
    return rdp_answer(packet)


def rdp_answer(packet: bytes) -> Answer:
    if packet[0] != 3 or len(packet) < 11 or packet[5] & 0xF0 != 0xD0:
        raise ProtocolMismatch(mismatch("an X.224 Connection Confirm", packet))
    negotiation = packet[11:19]
    details: dict[str, Any] = {"standard_rdp_security": True, "nla_required": False}
    if len(negotiation) == 8 and negotiation[0] == 0x03:  # RDP_NEG_FAILURE
        code = struct.unpack_from("<I", negotiation, 4)[0]
        failure = _RDP_FAILURES.get(code, f"code {code}")
        details = {"standard_rdp_security": False, "nla_required": code in (5, 6)}
        details["refusal"] = failure
    elif len(negotiation) == 8 and negotiation[0] == 0x02:  # RDP_NEG_RSP
        selected = struct.unpack_from("<I", negotiation, 4)[0]
        details["selected"] = _RDP_PROTOCOLS.get(selected, str(selected))
    return Answer("rdp", "X.224 connection request", None, details, packet)
