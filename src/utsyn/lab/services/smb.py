"""SMB: an SMB2 NEGOTIATE answer (SMB1 disabled, signing enabled but not required)."""

from __future__ import annotations

import os
import struct
import time
import uuid

from utsyn.lab.context import LabContext
from utsyn.lab.manifest import Host, Service
from utsyn.lab.services.ber import ber
from utsyn.lab.session import Serve, Session

_SMB2_DIALECTS = (0x0202, 0x0210, 0x0300, 0x0302, 0x0311)
_SMB2_CAPABILITIES = {0x0202: 0x01, 0x0210: 0x07, 0x02FF: 0x07, 0x0300: 0x2F, 0x0302: 0x2F}
_SPNEGO_OID = bytes.fromhex("2b0601050502")  # 1.3.6.1.5.5.2
_NTLMSSP_OID = bytes.fromhex("2b06010401823702020a")  # 1.3.6.1.4.1.311.2.2.10


def _spnego_init() -> bytes:
    """The GSS-API negTokenInit a server without a domain offers: NTLMSSP only."""
    mechs = ber(0xA0, ber(0x30, ber(0x06, _NTLMSSP_OID)))
    return ber(0x60, ber(0x06, _SPNEGO_OID) + ber(0xA0, ber(0x30, mechs)))


def _filetime(moment: float) -> int:
    return int((moment + 11644473600) * 10_000_000)


def smb2_negotiate_response(dialect: int, message_id: int, server_guid: bytes) -> bytes:
    """An SMB2 NEGOTIATE response (MS-SMB2 2.2.4), NetBIOS session header included."""
    header = b"\xfeSMB" + struct.pack("<HHIHHIIQ", 64, 0, 0, 0, 1, 0x1, 0, message_id)
    header += struct.pack("<IIQ", 0xFEFF, 0, 0) + b"\x00" * 16
    blob = _spnego_init()
    contexts = b""
    if dialect == 0x0311:  # 3.1.1 must answer with a preauth integrity context (SHA-512)
        contexts = struct.pack("<HHI", 1, 38, 0) + struct.pack("<HHH", 1, 32, 1) + os.urandom(32)
    blob_end = 64 + 64 + len(blob)
    context_offset = (blob_end + 7) // 8 * 8 if contexts else 0
    body = struct.pack(
        "<HHHH16sIIIIQQHHI",
        65,
        0x01,  # signing enabled, not required: the Windows member-server default
        dialect,
        1 if contexts else 0,
        server_guid,
        _SMB2_CAPABILITIES.get(dialect, 0x2F),
        8388608,
        8388608,
        8388608,
        _filetime(time.time()),
        0,
        128,
        len(blob),
        context_offset,
    )
    message = header + body + blob
    if contexts:
        message += b"\x00" * (context_offset - len(message)) + contexts
    return struct.pack(">I", len(message)) + message


def _smb_dialect(message: bytes) -> tuple[int, int] | None:
    """(dialect, message id) to answer a NEGOTIATE with, or None to hang up."""
    if message.startswith(b"\xffSMB") and message[4] == 0x72:
        # SMB1 is disabled, as on current Windows: only the SMB2 upgrade dialects count.
        dialects = message[35:].split(b"\x00")
        if b"\x02SMB 2.???" in dialects:
            return 0x02FF, 0
        return (0x0202, 0) if b"\x02SMB 2.002" in dialects else None
    if message.startswith(b"\xfeSMB") and struct.unpack_from("<H", message, 12)[0] == 0:
        message_id = struct.unpack_from("<Q", message, 24)[0]
        count = struct.unpack_from("<H", message, 66)[0]
        offered = struct.unpack_from(f"<{count}H", message, 100)
        common = [d for d in _SMB2_DIALECTS if d in offered]
        return (max(common), message_id) if common else None
    return None


def server(service: Service, host: Host, ctx: LabContext) -> Serve:
    server_guid = uuid.uuid5(uuid.NAMESPACE_DNS, "smb." + host.name).bytes_le

    async def session(s: Session) -> None:
        header = await s.read_exactly(4)
        length = int.from_bytes(header[1:], "big")
        if header[0] != 0 or not 32 <= length <= 65536:
            return  # not a NetBIOS session message (port 139 session requests included)
        choice = _smb_dialect(await s.read_exactly(length))
        if choice is None:
            return
        await s.send(smb2_negotiate_response(*choice, server_guid))
        await s.read_some()  # SESSION_SETUP would follow; the lab ends the conversation here

    return session
