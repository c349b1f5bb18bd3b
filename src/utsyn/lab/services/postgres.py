"""PostgreSQL: no TLS, and pg_hba.conf's refusal of a stranger, as postmaster words it."""

from __future__ import annotations

import struct

from utsyn.lab.context import LabContext
from utsyn.lab.manifest import Host, Service
from utsyn.lab.services.common import banner, version_tuple
from utsyn.lab.session import Serve, Session

_PG_SSL_REQUEST = 80877103
_PG_GSSENC_REQUEST = 80877104
_PG_CANCEL_REQUEST = 80877102
_PG_MAX_STARTUP = 10000  # postmaster's MAX_STARTUP_PACKET_LENGTH


def pg_error(fields: list[tuple[str, str]]) -> bytes:
    """An ErrorResponse ('E') message from (field code, value) pairs."""
    body = b"".join(code.encode() + value.encode() + b"\x00" for code, value in fields) + b"\x00"
    return b"E" + struct.pack(">I", 4 + len(body)) + body


def _pg_startup_params(body: bytes) -> dict[str, str]:
    parts = body.split(b"\x00")
    pairs = zip(parts[0::2], parts[1::2], strict=False)
    return {k.decode("utf-8", "replace"): v.decode("utf-8", "replace") for k, v in pairs if k}


def _pg_fatal(code: str, message: str, where: tuple[str, str, str]) -> bytes:
    source, line, routine = where
    severity = [("S", "FATAL"), ("V", "FATAL"), ("C", code), ("M", message)]
    return pg_error([*severity, ("F", source), ("L", line), ("R", routine)])


def server(service: Service, host: Host, ctx: LabContext) -> Serve:
    major = (version_tuple(banner(service)) or (14,))[0]
    # Protocol 2 went away in PostgreSQL 14; 9.x–13 name the missing encryption "SSL off".
    lowest_protocol = "3.0" if major >= 14 else "2.0"
    encryption = "no encryption" if major >= 14 else "SSL off"

    async def session(s: Session) -> None:
        for _ in range(3):  # SSLRequest and GSSENCRequest may each precede the startup
            length = struct.unpack(">I", await s.read_exactly(4))[0]
            if not 8 <= length <= _PG_MAX_STARTUP:
                return  # "invalid length of startup packet": logged, never answered
            body = await s.read_exactly(length - 4)
            code = struct.unpack_from(">I", body)[0]
            if code in (_PG_SSL_REQUEST, _PG_GSSENC_REQUEST):
                await s.send(b"N")  # this server does not offer TLS or GSS encryption
                continue
            if code == _PG_CANCEL_REQUEST:
                return
            if code >> 16 != 3:
                message = (
                    f"unsupported frontend protocol {code >> 16}.{code & 0xFFFF}: "
                    f"server supports {lowest_protocol} to 3.0"
                )
                where = ("postmaster.c", "2140", "ProcessStartupPacket")
                await s.send(_pg_fatal("0A000", message, where))
                return
            params = _pg_startup_params(body[4:])
            user = params.get("user", "")
            database = params.get("database", user)
            message = (
                f'no pg_hba.conf entry for host "{s.peer_ip}", user "{user}", '
                f'database "{database}", {encryption}'
            )
            await s.send(_pg_fatal("28000", message, ("auth.c", "542", "ClientAuthentication")))
            return

    return session
