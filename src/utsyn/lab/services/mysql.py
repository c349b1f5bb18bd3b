"""MySQL: the protocol-10 handshake naming the version, then "Access denied"."""

from __future__ import annotations

import itertools
import os
import struct

from utsyn.lab.context import LabContext
from utsyn.lab.manifest import Host, Service
from utsyn.lab.services.common import banner, stable_int, version_tuple
from utsyn.lab.session import ProtocolViolation, Serve, Session


def _mysql_packet(sequence: int, payload: bytes) -> bytes:
    return struct.pack("<I", len(payload))[:3] + bytes([sequence & 0xFF]) + payload


def mysql_handshake(version: str, connection_id: int) -> bytes:
    """A protocol-10 initial handshake packet as mysqld sends it to a new connection."""
    modern = version_tuple(version)[:1] >= (8,) and "MariaDB" not in version
    plugin = b"caching_sha2_password" if modern else b"mysql_native_password"
    charset = 0xFF if modern else 0x21  # utf8mb4_0900_ai_ci / utf8_general_ci
    scramble = bytes(b % 94 + 33 for b in os.urandom(20))  # printable, no NUL, as mysqld does
    payload = b"\x0a" + version.encode() + b"\x00" + struct.pack("<I", connection_id)
    payload += scramble[:8] + b"\x00"
    # Capabilities without CLIENT_SSL: the lab's MySQL offers no TLS.
    payload += struct.pack("<HBHH", 0xF7FF, charset, 0x0002, 0x81FF)
    payload += bytes([len(scramble) + 1]) + b"\x00" * 10
    payload += scramble[8:] + b"\x00" + plugin + b"\x00"
    return _mysql_packet(0, payload)


def _mysql_user(response: bytes) -> tuple[str, bool]:
    """User name and whether a password was sent, from a HandshakeResponse41."""
    rest = response[32:]  # capabilities, max packet, charset, 23 reserved bytes
    user, _, rest = rest.partition(b"\x00")
    # The auth response follows, length-prefixed or NUL-terminated: either way a first
    # byte of zero (or nothing) means the client sent no password.
    return user.decode("utf-8", "replace")[:64], rest[:1] not in (b"", b"\x00")


def server(service: Service, host: Host, ctx: LabContext) -> Serve:
    version = banner(service)
    connection_ids = itertools.count(8 + stable_int(host.name, 1000))

    async def session(s: Session) -> None:
        await s.send(mysql_handshake(version, next(connection_ids)))
        header = await s.read_exactly(4)
        length = int.from_bytes(header[:3], "little")
        if length > 16384:
            raise ProtocolViolation("MySQL handshake response too large")
        user, has_password = _mysql_user(await s.read_exactly(length))
        message = (
            f"Access denied for user '{user}'@'{s.peer_ip}' "
            f"(using password: {'YES' if has_password else 'NO'})"
        )
        err = b"\xff" + struct.pack("<H", 1045) + b"#28000" + message.encode()
        await s.send(_mysql_packet(header[3] + 1, err))

    return session
