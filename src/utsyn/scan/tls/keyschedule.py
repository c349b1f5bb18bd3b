"""The TLS 1.3 key schedule, as far as a scanner needs it: the server's handshake traffic key
(RFC 8446 section 7.1), derived from the client's own key share, opens the encrypted flight
that carries the certificate."""

from __future__ import annotations

import struct
from collections.abc import Mapping

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes, hmac
from cryptography.hazmat.primitives.asymmetric import ec, x25519
from cryptography.hazmat.primitives.ciphers.aead import AESGCM, ChaCha20Poly1305
from cryptography.hazmat.primitives.kdf.hkdf import HKDFExpand

from utsyn.scan.tls.messages import (
    EXT_KEY_SHARE,
    ClientHello,
    Cursor,
    HandshakeError,
    KeyShare,
    ServerHello,
    vector,
)
from utsyn.scan.tls.suites import suite_name


class Decrypter:
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


_Aead = type[AESGCM] | type[ChaCha20Poly1305]
_TLS13_CIPHERS: dict[int, tuple[_Aead, int, type[hashes.SHA256] | type[hashes.SHA384]]] = {
    0x1301: (AESGCM, 16, hashes.SHA256),
    0x1302: (AESGCM, 32, hashes.SHA384),
    0x1303: (ChaCha20Poly1305, 32, hashes.SHA256),
}


def handshake_decrypter(hello: ClientHello, server: ServerHello) -> Decrypter:
    """The server handshake traffic key and IV (RFC 8446 section 7.1), from our key share."""
    if server.cipher_suite not in _TLS13_CIPHERS:
        raise HandshakeError(f"no TLS 1.3 cipher for {suite_name(server.cipher_suite)}")
    cipher, key_size, hash_type = _TLS13_CIPHERS[server.cipher_suite]
    algorithm = hash_type()
    size = algorithm.digest_size
    shared = _shared_secret(hello.shares, server.extensions.get(EXT_KEY_SHARE, b""))
    early = _extract(algorithm, bytes(size), bytes(size))
    derived = _expand_label(algorithm, early, b"derived", _digest(algorithm, b""), size)
    handshake_secret = _extract(algorithm, derived, shared)
    transcript = _digest(algorithm, hello.message + server.message)
    secret = _expand_label(algorithm, handshake_secret, b"s hs traffic", transcript, size)
    key = _expand_label(algorithm, secret, b"key", b"", key_size)
    iv = _expand_label(algorithm, secret, b"iv", b"", 12)
    return Decrypter(cipher(key), iv)


def _shared_secret(shares: Mapping[int, KeyShare], entry: bytes) -> bytes:
    cursor = Cursor(entry, "key_share")
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
    info = struct.pack(">H", size) + vector(b"tls13 " + label, 1) + vector(context, 1)
    return HKDFExpand(algorithm, size, info).derive(secret)


def _digest(algorithm: hashes.HashAlgorithm, data: bytes) -> bytes:
    digest = hashes.Hash(algorithm)
    digest.update(data)
    return digest.finalize()
