"""The legacy-TLS channel: a server that only speaks SSLv3, RC4 or 3DES, which this OpenSSL
cannot, is fetched with tlslite-ng over a guarded blocking socket, every blocking call in a
thread. TLS is fetched here, not judged: certificates and versions are the TLS family's.
"""

from __future__ import annotations

import asyncio
import socket
from contextlib import suppress

from utsyn.scan.http.response import RECV_SIZE

LEGACY_CACHE_LIMIT = 4096


class LegacyTlsMemory:
    """Which (ip, port) needed tlslite-ng, so later jobs skip the failing OpenSSL attempt."""

    def __init__(self) -> None:
        self._known: set[tuple[str, int]] = set()

    def __contains__(self, key: tuple[str, int]) -> bool:
        return key in self._known

    def add(self, key: tuple[str, int]) -> None:
        if len(self._known) >= LEGACY_CACHE_LIMIT:  # a long-lived worker must not grow
            self._known.clear()
        self._known.add(key)


class LegacyTlsChannel:
    """tlslite-ng over a guarded blocking socket; every blocking call runs in a thread.

    tlslite is imported where it is used: importing it costs about half a second, which
    every command that loads the scanner would pay, and only a legacy server needs it.
    """

    def __init__(self, sock: socket.socket) -> None:
        from tlslite import TLSConnection

        self._sock = sock
        self._tls = TLSConnection(sock)
        # Many old servers end the connection without close_notify: that is an end, not an error.
        self._tls.ignoreAbruptClose = True

    async def handshake(self, server_name: str | None) -> None:
        """The handshake, with `server_name` as SNI (None: no SNI, as for an IP address)."""
        from tlslite.errors import TLSError

        try:
            await asyncio.to_thread(self._handshake, server_name)
        except TLSError as exc:
            raise ConnectionError(f"legacy TLS handshake failed: {exc!r}") from exc

    def _handshake(self, server_name: str | None) -> None:
        from tlslite import HandshakeSettings

        settings = HandshakeSettings()
        settings.minVersion = (3, 0)
        settings.maxVersion = (3, 3)
        settings.cipherNames = [*settings.cipherNames, "rc4"]
        # PKCS#1 first and no SHA-384/512 with PSS: old servers (and tlslite-ng's own server)
        # may pick a PSS hash too long for a 1024-bit key and drop the connection.
        settings.rsaSchemes = ["pkcs1", "pss"]
        settings.rsaSigHashes = ["sha256", "sha1"]
        self._tls.handshakeClientCert(settings=settings, serverName=server_name)

    async def send(self, data: bytes) -> None:
        await asyncio.to_thread(self._tls.write, data)

    async def recv(self) -> bytes:
        from tlslite.errors import TLSError

        try:
            return bytes(await asyncio.to_thread(self._tls.read, RECV_SIZE, 1))
        except TLSError as exc:
            raise ConnectionError(f"legacy TLS read failed: {exc!r}") from exc

    def close(self) -> None:
        # shutdown() wakes a thread blocked in recv(); close() alone would leave it waiting
        # for the socket timeout.
        with suppress(OSError):
            self._sock.shutdown(socket.SHUT_RDWR)
