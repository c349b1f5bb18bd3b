"""The probing client: one ClientHello sent, the server's flight read as records until the
probe has its answer.

The server's ServerHello (or alert, or close) decides a probe, and its Certificate message
gives the chain. For TLS 1.3 the certificate is encrypted under the handshake keys, which
the client derives from its own key share (`keyschedule`), so one connection yields the
chain at every version.

Everything read is untrusted: records are size-capped, every read has the guarded
network's timeout, a whole exchange has a deadline and a byte budget, and anything that is
not TLS raises `HandshakeError` rather than being guessed at.
"""

from __future__ import annotations

import asyncio
import struct
from collections.abc import Iterator
from dataclasses import dataclass

from utsyn.scan.guard import GuardedNet
from utsyn.scan.tls.keyschedule import Decrypter, handshake_decrypter
from utsyn.scan.tls.messages import (
    ALERT,
    APPLICATION_DATA,
    CERTIFICATE,
    CERTIFICATE_REQUEST,
    CERTIFICATE_STATUS,
    CHANGE_CIPHER_SPEC,
    ENCRYPTED_EXTENSIONS,
    HANDSHAKE,
    HELLO_REQUEST,
    SERVER_HELLO_DONE,
    SERVER_KEY_EXCHANGE,
    WARNING,
    ClientHello,
    Cursor,
    HandshakeError,
    ServerHello,
    parse_alert,
    parse_certificate,
    parse_server_hello,
)
from utsyn.scan.tls.suites import TLS13, key_exchange, suite_name

# RFC 8446 section 5.2: a protected record may carry up to 2^14 + 256 bytes; RFC 5246 allows
# 2^14 + 2048. Anything longer is not TLS, and is not buffered.
MAX_RECORD = 2**14 + 2048
# A certificate chain rarely passes 10 KB; OpenSSL's client refuses more than 100 KB.
MAX_HANDSHAKE_MESSAGE = 2**17
# Everything a server may send before the probe has its answer.
MAX_FLIGHT = 2**18


@dataclass(frozen=True)
class Accepted:
    hello: ServerHello
    certificates: tuple[bytes, ...] = ()  # DER, as served (leaf first); when asked for
    dh_bits: int | None = None  # the finite-field DHE group's size; when asked for


@dataclass(frozen=True)
class Refused:
    """The server clearly declined the hello: a fatal alert, a close or a reset."""

    reason: str


Answer = Accepted | Refused


# ---------------------------------------------------------------- records


class RecordReader:
    """TLS records from a stream, each within the read timeout and the size caps."""

    def __init__(self, reader: asyncio.StreamReader, net: GuardedNet) -> None:
        self._reader = reader
        self._net = net
        self._budget = MAX_FLIGHT

    async def next(self) -> tuple[bytes, bytes] | None:
        """(5-byte header, payload), or None when the server closed between records."""
        try:
            header = await self._net.read_exactly(self._reader, 5)
        except asyncio.IncompleteReadError as exc:
            if exc.partial:
                raise HandshakeError(f"closed inside a record header: {exc.partial!r}") from exc
            return None
        kind, version, length = struct.unpack(">BHH", header)
        if kind not in (CHANGE_CIPHER_SPEC, ALERT, HANDSHAKE, APPLICATION_DATA):
            raise HandshakeError(f"not a TLS record: {header!r}")
        if version >> 8 != 3 or not 0 < length <= MAX_RECORD:
            raise HandshakeError(f"bad record header: {header!r}")
        self._budget -= 5 + length
        if self._budget < 0:
            raise HandshakeError(f"the server sent more than {MAX_FLIGHT} bytes")
        try:
            return header, await self._net.read_exactly(self._reader, length)
        except asyncio.IncompleteReadError as exc:
            raise HandshakeError(f"closed inside a {length}-byte record") from exc


class _Flight:
    """The server's handshake messages, in order, plaintext or (TLS 1.3) decrypted."""

    def __init__(self, records: RecordReader) -> None:
        self._records = records
        self._buffer = bytearray()
        self._queue: list[bytes] = []
        self.decrypter: Decrypter | None = None

    async def message(self) -> bytes | Refused:
        while not self._queue:
            record = await self._records.next()
            if record is None:
                return Refused("connection closed")
            refusal = self._take(*record)
            if refusal is not None:
                return refusal
        return self._queue.pop(0)

    def _take(self, header: bytes, payload: bytes) -> Refused | None:
        kind = header[0]
        if kind == APPLICATION_DATA and self.decrypter is not None:
            kind, payload = self.decrypter.open(header, payload)
        if kind == ALERT:
            level, name = parse_alert(payload)
            # A warning (say, unrecognized_name before the ServerHello) does not end the
            # handshake; close_notify and every fatal alert do.
            return None if level == WARNING and name != "close_notify" else Refused(f"alert {name}")
        if kind == CHANGE_CIPHER_SPEC:
            return None  # TLS 1.3 middlebox compatibility: carries nothing
        if kind != HANDSHAKE:
            raise HandshakeError(f"unexpected record type {kind} in the handshake")
        self._buffer += payload
        self._queue.extend(m for m in _split(self._buffer) if m[0] != HELLO_REQUEST)
        return None


def _split(buffer: bytearray) -> Iterator[bytes]:
    """Complete handshake messages from the front of `buffer` (which keeps the rest)."""
    while len(buffer) >= 4:
        length = int.from_bytes(buffer[1:4], "big")
        if length > MAX_HANDSHAKE_MESSAGE:
            raise HandshakeError(f"a {length}-byte handshake message")
        if len(buffer) < 4 + length:
            return
        message = bytes(buffer[: 4 + length])
        del buffer[: 4 + length]
        yield message


# ---------------------------------------------------------------- one exchange


async def exchange(
    reader: asyncio.StreamReader,
    writer: asyncio.StreamWriter,
    net: GuardedNet,
    hello: ClientHello,
    *,
    certificates: bool = False,
    key_exchange: bool = False,
) -> Answer:
    """Send `hello` and read the answer; with `certificates`, read on to the chain; with
    `key_exchange`, read on to a TLS ≤ 1.2 ServerKeyExchange and measure its DH group.

    Raises HandshakeError for garbage and TimeoutError when the server stalls: a whole
    exchange is bounded too, so a server dripping a byte per read cannot hold a probe.
    """
    async with asyncio.timeout(net.timeouts.read * 2):
        try:
            writer.write(hello.record)
            await writer.drain()
            flight = _Flight(RecordReader(reader, net))
            first = await flight.message()
        except (ConnectionResetError, BrokenPipeError):
            return Refused("connection reset")
        if isinstance(first, Refused):
            return first
        server = _checked(parse_server_hello(first), hello)
        if key_exchange and not server.retry and server.version != TLS13:
            try:
                return Accepted(server, dh_bits=await _dh_group_bits(flight, server))
            except (ConnectionResetError, BrokenPipeError) as exc:
                raise HandshakeError("connection reset before the key exchange") from exc
        if not certificates or server.retry:
            return Accepted(server)
        if server.version == TLS13:
            flight.decrypter = handshake_decrypter(hello, server)
        try:
            chain = await _certificate_chain(flight, server.version == TLS13)
        except (ConnectionResetError, BrokenPipeError) as exc:
            raise HandshakeError("connection reset before the certificate") from exc
        return Accepted(server, chain)


def _checked(server: ServerHello, hello: ClientHello) -> ServerHello:
    if server.version not in hello.versions:
        raise HandshakeError(f"{server.describe()}: a version the client did not offer")
    if server.cipher_suite not in hello.offered:
        raise HandshakeError(f"{server.describe()}: a suite the client did not offer")
    return server


async def _certificate_chain(flight: _Flight, tls13: bool) -> tuple[bytes, ...]:
    while True:
        message = await flight.message()
        if isinstance(message, Refused):
            raise HandshakeError(f"no certificate: {message.reason}")
        kind = message[0]
        if kind == CERTIFICATE:
            return parse_certificate(message, tls13)
        if tls13 and kind in (ENCRYPTED_EXTENSIONS, CERTIFICATE_REQUEST):
            continue
        if kind in (SERVER_KEY_EXCHANGE, SERVER_HELLO_DONE):
            raise HandshakeError("the server sent no certificate (anonymous key exchange)")
        raise HandshakeError(f"unexpected handshake message {kind} before the certificate")


async def _dh_group_bits(flight: _Flight, server: ServerHello) -> int | None:
    """The size of the prime in a finite-field DH ServerKeyExchange (RFC 5246 7.4.3);
    None when the agreed suite has no finite-field key exchange."""
    if not key_exchange(suite_name(server.cipher_suite)).startswith(("DHE_", "DH_anon")):
        return None
    while True:
        message = await flight.message()
        if isinstance(message, Refused):
            raise HandshakeError(f"no ServerKeyExchange: {message.reason}")
        if message[0] in (CERTIFICATE, CERTIFICATE_STATUS):
            continue
        if message[0] != SERVER_KEY_EXCHANGE:
            raise HandshakeError(f"handshake message {message[0]} instead of a ServerKeyExchange")
        cursor = Cursor(message[4:], "ServerKeyExchange")
        prime = cursor.vector(2)  # dh_p; dh_g, dh_Ys and the signature follow
        if not prime.lstrip(b"\x00"):
            raise HandshakeError("a ServerKeyExchange with an empty DH prime")
        return int.from_bytes(prime, "big").bit_length()
