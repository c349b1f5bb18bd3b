"""TLS handshake messages on the wire: ClientHellos built by hand, the server's parsed by hand.

The scanner must see what a server offers, not what the local OpenSSL is willing to speak:
OpenSSL 3 here cannot send an SSLv3, RC4 or 3DES ClientHello at all. So hellos are built
byte by byte (RFC 5246 section 7.4.1.2, RFC 8446 section 4.1.2), and the server's
ServerHello, Certificate and alerts are read field by field. Everything read is untrusted:
every field is bounds-checked, and anything that is not TLS raises `HandshakeError` rather
than being guessed at. Records and the exchange itself are in `client`.
"""

from __future__ import annotations

import ipaddress
import os
import struct
from collections.abc import Mapping
from dataclasses import dataclass, field

from cryptography.hazmat.primitives.asymmetric import ec, x25519
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from utsyn.errors import UtsynError
from utsyn.scan.tls.suites import (
    RENEGOTIATION_SCSV,
    SSL3,
    TLS10,
    TLS11,
    TLS12,
    VERSION_NAMES,
    suite_name,
)

CHANGE_CIPHER_SPEC, ALERT, HANDSHAKE, APPLICATION_DATA = 20, 21, 22, 23
CLIENT_HELLO, SERVER_HELLO, CERTIFICATE = 1, 2, 11
HELLO_REQUEST, ENCRYPTED_EXTENSIONS, SERVER_KEY_EXCHANGE = 0, 8, 12
CERTIFICATE_REQUEST, SERVER_HELLO_DONE = 13, 14
EXT_SERVER_NAME, EXT_GROUPS, EXT_POINT_FORMATS, EXT_SIGALGS = 0, 10, 11, 13
EXT_PADDING, EXT_SUPPORTED_VERSIONS, EXT_PSK_MODES, EXT_KEY_SHARE = 21, 43, 45, 51
X25519, SECP256R1 = 29, 23
CERTIFICATE_STATUS = 22
# Supported groups: x25519, P-256/384/521, x448, then the RFC 7919 finite-field groups.
DEFAULT_GROUPS = (X25519, SECP256R1, 24, 25, 30, 256, 257)
# Elliptic curves alone. A hello naming no ffdhe group leaves an RFC 7919 server free to use
# its own finite-field group, the one every older client gets (RFC 7919 section 4).
EC_GROUPS = (X25519, SECP256R1, 24, 25)

# The random of a HelloRetryRequest (RFC 8446 section 4.1.3).
HELLO_RETRY_RANDOM = bytes.fromhex(
    "cf21ad74e59a6111be1d8c021e65b891c2a211167abb8c5e079e09e2c8a8339c"
)

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
        shares = {X25519: x25519.X25519PrivateKey.generate()}
        shares[SECP256R1] = ec.generate_private_key(ec.SECP256R1())
    suites = (*spec.suites, RENEGOTIATION_SCSV)
    # A 32-byte session id in TLS 1.3 hellos: the "middlebox compatibility mode" every
    # browser uses; some servers misbehave without it.
    session_id = os.urandom(32) if spec.supported_versions else b""
    head = (
        struct.pack(">H", spec.version)
        + os.urandom(32)
        + vector(session_id, 1)
        + vector(b"".join(struct.pack(">H", s) for s in suites), 2)
        + b"\x01\x00"  # compression methods: null only
    )
    extensions = _extensions(spec, shares) if spec.extensions else b""
    body = head + (vector(_padded(head, extensions), 2) if spec.extensions else b"")
    message = _handshake(CLIENT_HELLO, body)
    # Record version: TLS 1.0 for every TLS hello (RFC 8446 appendix D), SSLv3 for SSLv3.
    record = struct.pack(">BHH", HANDSHAKE, min(spec.version, TLS10), len(message)) + message
    # A server below TLS 1.3 ignores supported_versions and negotiates from legacy_version.
    versions = {*spec.supported_versions, *(v for v in _LEGACY if v <= spec.version)}
    return ClientHello(record, message, frozenset(spec.suites), frozenset(versions), shares)


def _extensions(spec: HelloSpec, shares: Mapping[int, KeyShare]) -> bytes:
    parts = []
    name = _sni_name(spec.host) if spec.host is not None else None
    if name is not None:
        entry = b"\x00" + vector(name, 2)  # name_type host_name
        parts.append(_extension(EXT_SERVER_NAME, vector(entry, 2)))
    groups = b"".join(struct.pack(">H", g) for g in spec.groups)
    parts.append(_extension(EXT_GROUPS, vector(groups, 2)))
    parts.append(_extension(EXT_POINT_FORMATS, vector(b"\x00", 1)))
    parts.append(_extension(EXT_SIGALGS, vector(_SIGNATURE_ALGORITHMS, 2)))
    if spec.supported_versions:
        versions = b"".join(struct.pack(">H", v) for v in spec.supported_versions)
        parts.append(_extension(EXT_SUPPORTED_VERSIONS, vector(versions, 1)))
        parts.append(_extension(EXT_PSK_MODES, vector(b"\x01", 1)))  # psk_dhe_ke
        parts.append(_extension(EXT_KEY_SHARE, vector(_key_shares(shares), 2)))
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
        entries.append(struct.pack(">H", group) + vector(public, 2))
    return b"".join(entries)


def _padded(head: bytes, extensions: bytes) -> bytes:
    """Extensions, padded so the hello avoids 256–511 bytes (RFC 7685).

    Some F5 load balancers hang on ClientHellos of that size; every major client pads.
    """
    size = 4 + len(head) + 2 + len(extensions)
    if not 0x100 <= size < 0x200:
        return extensions
    pad = max(0x200 - size - 4, 0)
    return extensions + _extension(EXT_PADDING, bytes(pad))


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


def vector(data: bytes, width: int) -> bytes:
    return len(data).to_bytes(width, "big") + data


def _extension(kind: int, data: bytes) -> bytes:
    return struct.pack(">HH", kind, len(data)) + data


def _handshake(kind: int, body: bytes) -> bytes:
    return bytes([kind]) + len(body).to_bytes(3, "big") + body


# ---------------------------------------------------------------- the server's answer


class HandshakeError(UtsynError):
    """The server's answer is not usable TLS: garbage, a wrong length, an abort mid-flight.

    A probe turns it into an error observation: it proves nothing about what is offered.
    The message is that observation's evidence, in English: not a catalogue id
    (tests/words.py).
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
WARNING = 1


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


class Cursor:
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
    if message[:1] != bytes([SERVER_HELLO]):
        raise HandshakeError(f"expected a ServerHello, got handshake message {message[0]}")
    cursor = Cursor(message[4:], "ServerHello")
    legacy = cursor.integer(2)
    random = cursor.take(32)
    cursor.vector(1)  # session id
    suite = cursor.integer(2)
    cursor.integer(1)  # compression method
    extensions = _parse_extensions(cursor.vector(2)) if cursor.left else {}
    cursor.end()
    version = legacy
    if EXT_SUPPORTED_VERSIONS in extensions:
        selected = Cursor(extensions[EXT_SUPPORTED_VERSIONS], "supported_versions")
        version = selected.integer(2)
        selected.end()
    if version >> 8 != 3:
        raise HandshakeError(f"the server answered with version 0x{version:04x}")
    return ServerHello(version, legacy, random, suite, extensions, message)


def _parse_extensions(data: bytes) -> dict[int, bytes]:
    cursor = Cursor(data, "extensions")
    found: dict[int, bytes] = {}
    while cursor.left:
        kind = cursor.integer(2)
        if kind in found:
            raise HandshakeError(f"extension {kind} sent twice")
        found[kind] = cursor.vector(2)
    return found


def parse_certificate(message: bytes, tls13: bool) -> tuple[bytes, ...]:
    """The DER certificates of a Certificate message (RFC 5246 7.4.2, RFC 8446 4.4.2)."""
    cursor = Cursor(message[4:], "Certificate")
    if tls13:
        cursor.vector(1)  # certificate_request_context
    entries = Cursor(cursor.vector(3), "certificate list")
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
