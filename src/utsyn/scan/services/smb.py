"""SMB: the dialect an SMB2 NEGOTIATE settles on and whether signing is required."""

from __future__ import annotations

import struct

from utsyn.scan.family import ScanContext
from utsyn.scan.model import ServiceTarget
from utsyn.scan.services.exchange import Answer, ProtocolMismatch, mismatch, request

_SMB2_DIALECTS = (0x0202, 0x0210, 0x0300, 0x0302, 0x0311)


def smb2_negotiate() -> bytes:
    """SMB2 NEGOTIATE (MS-SMB2 2.2.3) offering 2.0.2 to 3.1.1, in a NetBIOS frame.

    3.1.1 obliges the client to send a preauth-integrity context (SHA-512), and servers
    reject a request without one, so it is included with an encryption context.
    """
    header = struct.pack(
        "<4sHHIHHIIQIIQ16s", b"\xfeSMB", 64, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, b"\x00" * 16
    )
    dialects = struct.pack(f"<{len(_SMB2_DIALECTS)}H", *_SMB2_DIALECTS)
    context_offset = (64 + 36 + len(dialects) + 7) // 8 * 8
    preauth = struct.pack("<HHH", 1, 32, 0x0001) + b"\x55" * 32
    ciphers = struct.pack("<HHH", 2, 0x0002, 0x0001)  # AES-128-GCM, AES-128-CCM
    contexts = _smb2_context(1, preauth)
    contexts += b"\x00" * (-len(contexts) % 8) + _smb2_context(2, ciphers)
    body = struct.pack(
        "<HHHHI16sIHH",
        36,
        len(_SMB2_DIALECTS),
        0x01,
        0,
        0x7F,
        b"utsyn-scan-probe",
        context_offset,
        2,
        0,
    )
    message = header + body + dialects
    message += b"\x00" * (context_offset - len(message)) + contexts
    return struct.pack(">I", len(message)) + message


def _smb2_context(kind: int, data: bytes) -> bytes:
    return struct.pack("<HHI", kind, len(data), 0) + data


async def probe(target: ServiceTarget, scan: ScanContext) -> Answer:
    frame = await request(target, scan, smb2_negotiate(), 4, lambda h: 4 + _netbios_length(h))
    return smb_answer(frame[4:])


def _netbios_length(header: bytes) -> int:
    return int.from_bytes(header[1:], "big")


def smb_answer(message: bytes) -> Answer:
    if message.startswith(b"\xffSMB"):
        return Answer("smb", "SMB2 negotiate", None, {"smb1_only": True}, message[:256])
    if not message.startswith(b"\xfeSMB") or len(message) < 64 + 8:
        raise ProtocolMismatch(mismatch("an SMB2 response", message))
    status = struct.unpack_from("<I", message, 8)[0]
    if status != 0:
        return Answer("smb", "SMB2 negotiate", None, {"status": f"{status:#010x}"}, message[:256])
    security_mode, dialect = struct.unpack_from("<HH", message, 66)
    details = {
        "smb1_only": False,
        "dialect": f"{dialect >> 8}.{(dialect >> 4) & 0xF}.{dialect & 0xF}",
        "signing_required": bool(security_mode & 0x02),
    }
    return Answer("smb", "SMB2 negotiate", None, details, message[:256])
