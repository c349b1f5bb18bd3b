"""RDP: the X.224 Connection Confirm of a Windows server that requires NLA."""

from __future__ import annotations

import struct

from utsyn.lab.context import LabContext
from utsyn.lab.manifest import Host, Service
from utsyn.lab.session import ProtocolViolation, Serve, Session

_RDP_PROTOCOL_SSL, _RDP_PROTOCOL_HYBRID = 0x1, 0x2
_RDP_HYBRID_REQUIRED = 0x5


def rdp_confirm(request: bytes) -> bytes:
    """The TPKT/X.224 Connection Confirm a Windows server with NLA required sends.

    `request` is the X.224 part of a Connection Request (after the TPKT header).
    """
    if len(request) < 7 or request[1] & 0xF0 != 0xE0:
        raise ProtocolViolation("not an X.224 Connection Request")
    variable = request[7:]  # cookie and RDP_NEG_REQ; clients disagree on whether LI counts them
    if variable.startswith(b"Cookie:") or variable.startswith(b"mstshash"):
        variable = variable.split(b"\r\n", 1)[1] if b"\r\n" in variable else b""
    confirm = b"\xd0\x00\x00\x12\x34\x00"  # CC, dst-ref, src-ref 0x1234 (as Windows), class 0
    if len(variable) >= 8 and variable[0] == 0x01:  # RDP_NEG_REQ
        requested = struct.unpack_from("<I", variable, 4)[0]
        if requested & _RDP_PROTOCOL_HYBRID:
            # flags: extended client data, GFX, restricted admin, redirected auth
            confirm += struct.pack("<BBHI", 0x02, 0x1F, 8, _RDP_PROTOCOL_HYBRID)
        else:  # the client cannot do NLA, which this server requires
            confirm += struct.pack("<BBHI", 0x03, 0x00, 8, _RDP_HYBRID_REQUIRED)
    x224 = bytes([len(confirm)]) + confirm
    return struct.pack(">BBH", 3, 0, 4 + len(x224)) + x224


def server(service: Service, host: Host, ctx: LabContext) -> Serve:
    async def session(s: Session) -> None:
        version, _, length = struct.unpack(">BBH", await s.read_exactly(4))
        if version != 3 or not 7 <= length <= 4096:
            return
        await s.send(rdp_confirm(await s.read_exactly(length - 4)))
        # The client's TLS ClientHello comes next; the lab does not carry RDP over TLS.
        await s.read_some()

    return session
