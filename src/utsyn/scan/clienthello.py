"""Raw TLS on the wire: ClientHellos built by hand, server flights parsed by hand.

The scanner must see what a server offers, not what the local OpenSSL is willing to speak:
OpenSSL 3 here cannot send an SSLv3, RC4 or 3DES ClientHello at all. So hellos are built
byte by byte (RFC 5246 section 7.4.1.2, RFC 8446 section 4.1.2) and the server's answer is
read as records: its ServerHello (or alert, or close) decides a probe, and its Certificate
message gives the chain. For TLS 1.3 the certificate is encrypted under the handshake keys,
which the client derives from its own key share (RFC 8446 section 7), so one connection
yields the chain at every version.

Everything read is untrusted: records are size-capped, every read has the guarded
network's timeout, a whole exchange has a deadline and a byte budget, and anything that is
not TLS raises `TlsGarbage` rather than being guessed at.
"""

from __future__ import annotations

import asyncio
import ipaddress
import os
import struct
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes, hmac
from cryptography.hazmat.primitives.asymmetric import ec, x25519
from cryptography.hazmat.primitives.ciphers.aead import AESGCM, ChaCha20Poly1305
from cryptography.hazmat.primitives.kdf.hkdf import HKDFExpand
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from utsyn.errors import UtsynError
from utsyn.scan.guard import GuardedNet

SSL3, TLS10, TLS11, TLS12, TLS13 = 0x0300, 0x0301, 0x0302, 0x0303, 0x0304
VERSION_NAMES: dict[int, str] = {
    SSL3: "SSLv3",
    TLS10: "TLS 1.0",
    TLS11: "TLS 1.1",
    TLS12: "TLS 1.2",
    TLS13: "TLS 1.3",
}

# RFC 8446 section 5.2: a protected record may carry up to 2^14 + 256 bytes; RFC 5246 allows
# 2^14 + 2048. Anything longer is not TLS, and is not buffered.
MAX_RECORD = 2**14 + 2048
# A certificate chain rarely passes 10 KB; OpenSSL's client refuses more than 100 KB.
MAX_HANDSHAKE_MESSAGE = 2**17
# Everything a server may send before the probe has its answer.
MAX_FLIGHT = 2**18

_CHANGE_CIPHER_SPEC, _ALERT, _HANDSHAKE, _APPLICATION_DATA = 20, 21, 22, 23
_CLIENT_HELLO, _SERVER_HELLO, _CERTIFICATE = 1, 2, 11
_HELLO_REQUEST, _ENCRYPTED_EXTENSIONS, _SERVER_KEY_EXCHANGE = 0, 8, 12
_CERTIFICATE_REQUEST, _SERVER_HELLO_DONE = 13, 14
_EXT_SERVER_NAME, _EXT_GROUPS, _EXT_POINT_FORMATS, _EXT_SIGALGS = 0, 10, 11, 13
_EXT_PADDING, _EXT_SUPPORTED_VERSIONS, _EXT_PSK_MODES, _EXT_KEY_SHARE = 21, 43, 45, 51
_X25519, _SECP256R1 = 29, 23
_CERTIFICATE_STATUS = 22
# Supported groups: x25519, P-256/384/521, x448, then the RFC 7919 finite-field groups.
DEFAULT_GROUPS = (_X25519, _SECP256R1, 24, 25, 30, 256, 257)
# Elliptic curves alone. A hello naming no ffdhe group leaves an RFC 7919 server free to use
# its own finite-field group, the one every older client gets (RFC 7919 section 4).
EC_GROUPS = (_X25519, _SECP256R1, 24, 25)

# The random of a HelloRetryRequest (RFC 8446 section 4.1.3).
HELLO_RETRY_RANDOM = bytes.fromhex(
    "cf21ad74e59a6111be1d8c021e65b891c2a211167abb8c5e079e09e2c8a8339c"
)

# ---------------------------------------------------------------- cipher suites

# IANA code points and names (RFC 5246, 4492, 5288, 5289, 6655, 7905, 8446). The names carry
# everything the classes need: key exchange before "_WITH_", then cipher and MAC.
SUITES: dict[int, str] = {
    0x1301: "TLS_AES_128_GCM_SHA256",
    0x1302: "TLS_AES_256_GCM_SHA384",
    0x1303: "TLS_CHACHA20_POLY1305_SHA256",
    0xC02C: "TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384",
    0xC030: "TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384",
    0xCCA9: "TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256",
    0xCCA8: "TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256",
    0xC02B: "TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256",
    0xC02F: "TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256",
    0xC0AD: "TLS_ECDHE_ECDSA_WITH_AES_256_CCM",
    0xC0AC: "TLS_ECDHE_ECDSA_WITH_AES_128_CCM",
    0x009F: "TLS_DHE_RSA_WITH_AES_256_GCM_SHA384",
    0xCCAA: "TLS_DHE_RSA_WITH_CHACHA20_POLY1305_SHA256",
    0x009E: "TLS_DHE_RSA_WITH_AES_128_GCM_SHA256",
    0x00A3: "TLS_DHE_DSS_WITH_AES_256_GCM_SHA384",
    0x00A2: "TLS_DHE_DSS_WITH_AES_128_GCM_SHA256",
    0xC09F: "TLS_DHE_RSA_WITH_AES_256_CCM",
    0xC09E: "TLS_DHE_RSA_WITH_AES_128_CCM",
    0xC024: "TLS_ECDHE_ECDSA_WITH_AES_256_CBC_SHA384",
    0xC028: "TLS_ECDHE_RSA_WITH_AES_256_CBC_SHA384",
    0xC023: "TLS_ECDHE_ECDSA_WITH_AES_128_CBC_SHA256",
    0xC027: "TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA256",
    0xC00A: "TLS_ECDHE_ECDSA_WITH_AES_256_CBC_SHA",
    0xC014: "TLS_ECDHE_RSA_WITH_AES_256_CBC_SHA",
    0xC009: "TLS_ECDHE_ECDSA_WITH_AES_128_CBC_SHA",
    0xC013: "TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA",
    0x006B: "TLS_DHE_RSA_WITH_AES_256_CBC_SHA256",
    0x0067: "TLS_DHE_RSA_WITH_AES_128_CBC_SHA256",
    0x006A: "TLS_DHE_DSS_WITH_AES_256_CBC_SHA256",
    0x0040: "TLS_DHE_DSS_WITH_AES_128_CBC_SHA256",
    0x0039: "TLS_DHE_RSA_WITH_AES_256_CBC_SHA",
    0x0033: "TLS_DHE_RSA_WITH_AES_128_CBC_SHA",
    0x0038: "TLS_DHE_DSS_WITH_AES_256_CBC_SHA",
    0x0032: "TLS_DHE_DSS_WITH_AES_128_CBC_SHA",
    0x0088: "TLS_DHE_RSA_WITH_CAMELLIA_256_CBC_SHA",
    0x0045: "TLS_DHE_RSA_WITH_CAMELLIA_128_CBC_SHA",
    0x009D: "TLS_RSA_WITH_AES_256_GCM_SHA384",
    0x009C: "TLS_RSA_WITH_AES_128_GCM_SHA256",
    0xC09D: "TLS_RSA_WITH_AES_256_CCM",
    0xC09C: "TLS_RSA_WITH_AES_128_CCM",
    0x003D: "TLS_RSA_WITH_AES_256_CBC_SHA256",
    0x003C: "TLS_RSA_WITH_AES_128_CBC_SHA256",
    0x0035: "TLS_RSA_WITH_AES_256_CBC_SHA",
    0x002F: "TLS_RSA_WITH_AES_128_CBC_SHA",
    0x0084: "TLS_RSA_WITH_CAMELLIA_256_CBC_SHA",
    0x0041: "TLS_RSA_WITH_CAMELLIA_128_CBC_SHA",
    0x0096: "TLS_RSA_WITH_SEED_CBC_SHA",
    0xC012: "TLS_ECDHE_RSA_WITH_3DES_EDE_CBC_SHA",
    0xC008: "TLS_ECDHE_ECDSA_WITH_3DES_EDE_CBC_SHA",
    0x0016: "TLS_DHE_RSA_WITH_3DES_EDE_CBC_SHA",
    0x0013: "TLS_DHE_DSS_WITH_3DES_EDE_CBC_SHA",
    0x000A: "TLS_RSA_WITH_3DES_EDE_CBC_SHA",
    0x0007: "TLS_RSA_WITH_IDEA_CBC_SHA",
    0x0015: "TLS_DHE_RSA_WITH_DES_CBC_SHA",
    0x0009: "TLS_RSA_WITH_DES_CBC_SHA",
    0xC011: "TLS_ECDHE_RSA_WITH_RC4_128_SHA",
    0xC007: "TLS_ECDHE_ECDSA_WITH_RC4_128_SHA",
    0x0005: "TLS_RSA_WITH_RC4_128_SHA",
    0x0004: "TLS_RSA_WITH_RC4_128_MD5",
    0xC010: "TLS_ECDHE_RSA_WITH_NULL_SHA",
    0xC006: "TLS_ECDHE_ECDSA_WITH_NULL_SHA",
    0x003B: "TLS_RSA_WITH_NULL_SHA256",
    0x0002: "TLS_RSA_WITH_NULL_SHA",
    0x0001: "TLS_RSA_WITH_NULL_MD5",
    0xC019: "TLS_ECDH_anon_WITH_AES_256_CBC_SHA",
    0xC018: "TLS_ECDH_anon_WITH_AES_128_CBC_SHA",
    0xC017: "TLS_ECDH_anon_WITH_3DES_EDE_CBC_SHA",
    0xC016: "TLS_ECDH_anon_WITH_RC4_128_SHA",
    0xC015: "TLS_ECDH_anon_WITH_NULL_SHA",
    0x00A7: "TLS_DH_anon_WITH_AES_256_GCM_SHA384",
    0x00A6: "TLS_DH_anon_WITH_AES_128_GCM_SHA256",
    0x006D: "TLS_DH_anon_WITH_AES_256_CBC_SHA256",
    0x006C: "TLS_DH_anon_WITH_AES_128_CBC_SHA256",
    0x003A: "TLS_DH_anon_WITH_AES_256_CBC_SHA",
    0x0034: "TLS_DH_anon_WITH_AES_128_CBC_SHA",
    0x001B: "TLS_DH_anon_WITH_3DES_EDE_CBC_SHA",
    0x0018: "TLS_DH_anon_WITH_RC4_128_MD5",
}
# Signals secure renegotiation support without an extension (RFC 5746), as OpenSSL does.
RENEGOTIATION_SCSV = 0x00FF


def suite_name(code: int) -> str:
    return SUITES.get(code, f"0x{code:04X}")


def key_exchange(name: str) -> str:
    """ "ECDHE_RSA", "RSA", "DH_anon"...; "" for TLS 1.3 suites, which do not name one."""
    head, sep, _ = name.removeprefix("TLS_").partition("_WITH_")
    return head if sep else ""


def bulk_cipher(name: str) -> str:
    """The cipher and MAC part: "AES_128_GCM_SHA256", "RC4_128_SHA"..."""
    _, sep, tail = name.partition("_WITH_")
    return tail if sep else name.removeprefix("TLS_")


def min_version(name: str) -> int:
    """The first version a suite can be negotiated at (AEAD and SHA-2 MACs need TLS 1.2)."""
    if not key_exchange(name):
        return TLS13
    cipher = bulk_cipher(name)
    if any(m in cipher for m in ("GCM", "CCM", "CHACHA20", "SHA256", "SHA384")):
        return TLS12
    return SSL3


def max_version(name: str) -> int:
    return TLS13 if not key_exchange(name) else TLS12


# ---------------------------------------------------------------- ClientHello


@dataclass(frozen=True)
class HelloSpec:
    """What one ClientHello offers.

    `version` is the highest version for TLS ≤ 1.2 negotiation (the legacy_version field);
    a non-empty `supported_versions` list switches to TLS 1.3-style negotiation and adds key
    shares. `extensions=False` sends none, as OpenSSL does in an SSLv3 hello.
    """

    version: int
    suites: tuple[int, ...]
    host: str | None = None
    supported_versions: tuple[int, ...] = ()
    extensions: bool = True
    groups: tuple[int, ...] = DEFAULT_GROUPS


KeyShare = x25519.X25519PrivateKey | ec.EllipticCurvePrivateKey
_LEGACY = (SSL3, TLS10, TLS11, TLS12)


@dataclass(frozen=True)
class ClientHello:
    record: bytes  # what goes on the wire
    message: bytes  # the handshake message alone: the start of a TLS 1.3 transcript
    offered: frozenset[int]  # cipher suites
    versions: frozenset[int]  # versions a server may answer with
    shares: Mapping[int, KeyShare] = field(default_factory=dict)


def build_client_hello(spec: HelloSpec) -> ClientHello:
    shares: dict[int, KeyShare] = {}
    if spec.supported_versions:
        shares = {_X25519: x25519.X25519PrivateKey.generate()}
        shares[_SECP256R1] = ec.generate_private_key(ec.SECP256R1())
    suites = (*spec.suites, RENEGOTIATION_SCSV)
    # A 32-byte session id in TLS 1.3 hellos: the "middlebox compatibility mode" every
    # browser uses; some servers misbehave without it.
    session_id = os.urandom(32) if spec.supported_versions else b""
    head = (
        struct.pack(">H", spec.version)
        + os.urandom(32)
        + _vector(session_id, 1)
        + _vector(b"".join(struct.pack(">H", s) for s in suites), 2)
        + b"\x01\x00"  # compression methods: null only
    )
    extensions = _extensions(spec, shares) if spec.extensions else b""
    body = head + (_vector(_padded(head, extensions), 2) if spec.extensions else b"")
    message = _handshake(_CLIENT_HELLO, body)
    # Record version: TLS 1.0 for every TLS hello (RFC 8446 appendix D), SSLv3 for SSLv3.
    record = struct.pack(">BHH", _HANDSHAKE, min(spec.version, TLS10), len(message)) + message
    # A server below TLS 1.3 ignores supported_versions and negotiates from legacy_version.
    versions = {*spec.supported_versions, *(v for v in _LEGACY if v <= spec.version)}
    return ClientHello(record, message, frozenset(spec.suites), frozenset(versions), shares)


def _extensions(spec: HelloSpec, shares: Mapping[int, KeyShare]) -> bytes:
    parts = []
    name = _sni_name(spec.host) if spec.host is not None else None
    if name is not None:
        entry = b"\x00" + _vector(name, 2)  # name_type host_name
        parts.append(_extension(_EXT_SERVER_NAME, _vector(entry, 2)))
    groups = b"".join(struct.pack(">H", g) for g in spec.groups)
    parts.append(_extension(_EXT_GROUPS, _vector(groups, 2)))
    parts.append(_extension(_EXT_POINT_FORMATS, _vector(b"\x00", 1)))
    parts.append(_extension(_EXT_SIGALGS, _vector(_SIGNATURE_ALGORITHMS, 2)))
    if spec.supported_versions:
        versions = b"".join(struct.pack(">H", v) for v in spec.supported_versions)
        parts.append(_extension(_EXT_SUPPORTED_VERSIONS, _vector(versions, 1)))
        parts.append(_extension(_EXT_PSK_MODES, _vector(b"\x01", 1)))  # psk_dhe_ke
        parts.append(_extension(_EXT_KEY_SHARE, _vector(_key_shares(shares), 2)))
    return b"".join(parts)


# ECDSA, EdDSA, RSA-PSS, then PKCS#1 including SHA-1: an old server's only certificate may
# be signed with it, and a probe must not fail for want of an algorithm. No RSA-PSS with
# SHA-512: it does not fit a 1024-bit key (RFC 8017 9.1.1 needs 130 bytes), yet some servers
# (tlslite-ng) pick it for one and abort; the lab's RSA-1024 host does just that.
_SIGNATURE_ALGORITHMS = bytes.fromhex(
    "0403 0503 0603 0807 0808 0804 0805 0809 080a 0401 0501 0601 0203 0201 0402 0202"
)


def _key_shares(shares: Mapping[int, KeyShare]) -> bytes:
    entries = []
    for group, key in shares.items():
        if isinstance(key, x25519.X25519PrivateKey):
            public = key.public_key().public_bytes_raw()
        else:
            public = key.public_key().public_bytes(Encoding.X962, PublicFormat.UncompressedPoint)
        entries.append(struct.pack(">H", group) + _vector(public, 2))
    return b"".join(entries)


def _padded(head: bytes, extensions: bytes) -> bytes:
    """Extensions, padded so the hello avoids 256–511 bytes (RFC 7685).

    Some F5 load balancers hang on ClientHellos of that size; every major client pads.
    """
    size = 4 + len(head) + 2 + len(extensions)
    if not 0x100 <= size < 0x200:
        return extensions
    pad = max(0x200 - size - 4, 0)
    return extensions + _extension(_EXT_PADDING, bytes(pad))


def _sni_name(host: str) -> bytes | None:
    """The host as an SNI name; None for an IP address, which SNI must not carry."""
    name = host.rstrip(".")
    try:
        ipaddress.ip_address(name)
    except ValueError:
        pass
    else:
        return None
    try:
        return name.encode("idna")
    except UnicodeError:
        return None


def _vector(data: bytes, width: int) -> bytes:
    return len(data).to_bytes(width, "big") + data


def _extension(kind: int, data: bytes) -> bytes:
    return struct.pack(">HH", kind, len(data)) + data


def _handshake(kind: int, body: bytes) -> bytes:
    return bytes([kind]) + len(body).to_bytes(3, "big") + body


# ---------------------------------------------------------------- the server's answer


class HandshakeError(UtsynError):
    """The server's answer is not usable TLS: garbage, a wrong length, an abort mid-flight.

    A probe turns it into an error observation: it proves nothing about what is offered.
    """


ALERTS: dict[int, str] = {
    0: "close_notify",
    10: "unexpected_message",
    20: "bad_record_mac",
    22: "record_overflow",
    40: "handshake_failure",
    42: "bad_certificate",
    47: "illegal_parameter",
    50: "decode_error",
    51: "decrypt_error",
    70: "protocol_version",
    71: "insufficient_security",
    80: "internal_error",
    86: "inappropriate_fallback",
    90: "user_canceled",
    109: "missing_extension",
    110: "unsupported_extension",
    112: "unrecognized_name",
}
_WARNING = 1


@dataclass(frozen=True)
class ServerHello:
    version: int  # negotiated: from supported_versions when present (RFC 8446 4.2.1)
    legacy_version: int
    random: bytes
    cipher_suite: int
    extensions: Mapping[int, bytes]
    message: bytes  # the whole handshake message, for the TLS 1.3 transcript

    @property
    def retry(self) -> bool:
        """A HelloRetryRequest: TLS 1.3 is agreed, but the server wants another key share."""
        return self.random == HELLO_RETRY_RANDOM

    def describe(self) -> str:
        kind = "HelloRetryRequest" if self.retry else "ServerHello"
        version = VERSION_NAMES.get(self.version, f"0x{self.version:04x}")
        return f"{kind} {version} {suite_name(self.cipher_suite)}"


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


class _Cursor:
    """Bounds-checked reads from one message: a short or overlong field is garbage."""

    def __init__(self, data: bytes, what: str) -> None:
        self._data = data
        self._at = 0
        self._what = what

    def take(self, size: int) -> bytes:
        if self._at + size > len(self._data):
            raise HandshakeError(f"truncated {self._what}")
        chunk = self._data[self._at : self._at + size]
        self._at += size
        return chunk

    def integer(self, width: int) -> int:
        return int.from_bytes(self.take(width), "big")

    def vector(self, width: int) -> bytes:
        return self.take(self.integer(width))

    @property
    def left(self) -> int:
        return len(self._data) - self._at

    def end(self) -> None:
        if self.left:
            raise HandshakeError(f"{self.left} stray bytes after the {self._what}")


def parse_server_hello(message: bytes) -> ServerHello:
    """A ServerHello handshake message (4-byte header included)."""
    if message[:1] != bytes([_SERVER_HELLO]):
        raise HandshakeError(f"expected a ServerHello, got handshake message {message[0]}")
    cursor = _Cursor(message[4:], "ServerHello")
    legacy = cursor.integer(2)
    random = cursor.take(32)
    cursor.vector(1)  # session id
    suite = cursor.integer(2)
    cursor.integer(1)  # compression method
    extensions = _parse_extensions(cursor.vector(2)) if cursor.left else {}
    cursor.end()
    version = legacy
    if _EXT_SUPPORTED_VERSIONS in extensions:
        selected = _Cursor(extensions[_EXT_SUPPORTED_VERSIONS], "supported_versions")
        version = selected.integer(2)
        selected.end()
    if version >> 8 != 3:
        raise HandshakeError(f"the server answered with version 0x{version:04x}")
    return ServerHello(version, legacy, random, suite, extensions, message)


def _parse_extensions(data: bytes) -> dict[int, bytes]:
    cursor = _Cursor(data, "extensions")
    found: dict[int, bytes] = {}
    while cursor.left:
        kind = cursor.integer(2)
        if kind in found:
            raise HandshakeError(f"extension {kind} sent twice")
        found[kind] = cursor.vector(2)
    return found


def parse_certificate(message: bytes, tls13: bool) -> tuple[bytes, ...]:
    """The DER certificates of a Certificate message (RFC 5246 7.4.2, RFC 8446 4.4.2)."""
    cursor = _Cursor(message[4:], "Certificate")
    if tls13:
        cursor.vector(1)  # certificate_request_context
    entries = _Cursor(cursor.vector(3), "certificate list")
    cursor.end()
    chain = []
    while entries.left:
        chain.append(entries.vector(3))
        if tls13:
            entries.vector(2)  # per-certificate extensions (OCSP, SCTs)
    if not chain:
        raise HandshakeError("the server sent an empty certificate list")
    return tuple(chain)


def parse_alert(payload: bytes) -> tuple[int, str]:
    """(level, description name) of an alert record."""
    if len(payload) < 2:
        raise HandshakeError("truncated alert")
    level, code = payload[0], payload[1]
    return level, ALERTS.get(code, f"alert {code}")


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
        if kind not in (_CHANGE_CIPHER_SPEC, _ALERT, _HANDSHAKE, _APPLICATION_DATA):
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


class _Decrypter:
    """Opens TLS 1.3 records protected with the server's handshake traffic key."""

    def __init__(self, aead: AESGCM | ChaCha20Poly1305, iv: bytes) -> None:
        self._aead = aead
        self._iv = iv
        self._sequence = 0

    def open(self, header: bytes, payload: bytes) -> tuple[int, bytes]:
        """(inner content type, plaintext) of one protected record (RFC 8446 5.2–5.3)."""
        counter = self._sequence.to_bytes(12, "big")
        nonce = bytes(a ^ b for a, b in zip(self._iv, counter, strict=True))
        self._sequence += 1
        try:
            inner = self._aead.decrypt(nonce, payload, header).rstrip(b"\x00")
        except InvalidTag as exc:
            raise HandshakeError("a protected record does not decrypt") from exc
        if not inner:
            raise HandshakeError("a protected record has no content type")
        return inner[-1], inner[:-1]


class _Flight:
    """The server's handshake messages, in order, plaintext or (TLS 1.3) decrypted."""

    def __init__(self, records: RecordReader) -> None:
        self._records = records
        self._buffer = bytearray()
        self._queue: list[bytes] = []
        self.decrypter: _Decrypter | None = None

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
        if kind == _APPLICATION_DATA and self.decrypter is not None:
            kind, payload = self.decrypter.open(header, payload)
        if kind == _ALERT:
            level, name = parse_alert(payload)
            # A warning (say, unrecognized_name before the ServerHello) does not end the
            # handshake; close_notify and every fatal alert do.
            return (
                None if level == _WARNING and name != "close_notify" else Refused(f"alert {name}")
            )
        if kind == _CHANGE_CIPHER_SPEC:
            return None  # TLS 1.3 middlebox compatibility: carries nothing
        if kind != _HANDSHAKE:
            raise HandshakeError(f"unexpected record type {kind} in the handshake")
        self._buffer += payload
        self._queue.extend(m for m in _split(self._buffer) if m[0] != _HELLO_REQUEST)
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
        if kind == _CERTIFICATE:
            return parse_certificate(message, tls13)
        if tls13 and kind in (_ENCRYPTED_EXTENSIONS, _CERTIFICATE_REQUEST):
            continue
        if kind in (_SERVER_KEY_EXCHANGE, _SERVER_HELLO_DONE):
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
        if message[0] in (_CERTIFICATE, _CERTIFICATE_STATUS):
            continue
        if message[0] != _SERVER_KEY_EXCHANGE:
            raise HandshakeError(f"handshake message {message[0]} instead of a ServerKeyExchange")
        cursor = _Cursor(message[4:], "ServerKeyExchange")
        prime = cursor.vector(2)  # dh_p; dh_g, dh_Ys and the signature follow
        if not prime.lstrip(b"\x00"):
            raise HandshakeError("a ServerKeyExchange with an empty DH prime")
        return int.from_bytes(prime, "big").bit_length()


# ---------------------------------------------------------------- TLS 1.3 key schedule

_Aead = type[AESGCM] | type[ChaCha20Poly1305]
_TLS13_CIPHERS: dict[int, tuple[_Aead, int, type[hashes.SHA256] | type[hashes.SHA384]]] = {
    0x1301: (AESGCM, 16, hashes.SHA256),
    0x1302: (AESGCM, 32, hashes.SHA384),
    0x1303: (ChaCha20Poly1305, 32, hashes.SHA256),
}


def handshake_decrypter(hello: ClientHello, server: ServerHello) -> _Decrypter:
    """The server handshake traffic key and IV (RFC 8446 section 7.1), from our key share."""
    if server.cipher_suite not in _TLS13_CIPHERS:
        raise HandshakeError(f"no TLS 1.3 cipher for {suite_name(server.cipher_suite)}")
    cipher, key_size, hash_type = _TLS13_CIPHERS[server.cipher_suite]
    algorithm = hash_type()
    size = algorithm.digest_size
    shared = _shared_secret(hello.shares, server.extensions.get(_EXT_KEY_SHARE, b""))
    early = _extract(algorithm, bytes(size), bytes(size))
    derived = _expand_label(algorithm, early, b"derived", _digest(algorithm, b""), size)
    handshake_secret = _extract(algorithm, derived, shared)
    transcript = _digest(algorithm, hello.message + server.message)
    secret = _expand_label(algorithm, handshake_secret, b"s hs traffic", transcript, size)
    key = _expand_label(algorithm, secret, b"key", b"", key_size)
    iv = _expand_label(algorithm, secret, b"iv", b"", 12)
    return _Decrypter(cipher(key), iv)


def _shared_secret(shares: Mapping[int, KeyShare], entry: bytes) -> bytes:
    cursor = _Cursor(entry, "key_share")
    group = cursor.integer(2)
    public = cursor.vector(2)
    cursor.end()
    private = shares.get(group)
    try:
        if isinstance(private, x25519.X25519PrivateKey):
            return private.exchange(x25519.X25519PublicKey.from_public_bytes(public))
        if isinstance(private, ec.EllipticCurvePrivateKey):
            point = ec.EllipticCurvePublicKey.from_encoded_point(private.curve, public)
            return private.exchange(ec.ECDH(), point)
    except ValueError as exc:
        raise HandshakeError(f"the server's key share is not a valid point: {exc}") from exc
    raise HandshakeError(f"the server chose key share group {group}, which was not offered")


def _extract(algorithm: hashes.HashAlgorithm, salt: bytes, material: bytes) -> bytes:
    mac = hmac.HMAC(salt, algorithm)
    mac.update(material)
    return mac.finalize()


def _expand_label(
    algorithm: hashes.HashAlgorithm, secret: bytes, label: bytes, context: bytes, size: int
) -> bytes:
    info = struct.pack(">H", size) + _vector(b"tls13 " + label, 1) + _vector(context, 1)
    return HKDFExpand(algorithm, size, info).derive(secret)


def _digest(algorithm: hashes.HashAlgorithm, data: bytes) -> bytes:
    digest = hashes.Hash(algorithm)
    digest.update(data)
    return digest.finalize()
