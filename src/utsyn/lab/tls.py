"""TLS for lab servers: exactly the versions and cipher classes a `TlsSpec` names.

Two engines, because the system OpenSSL (3.0) cannot serve SSLv3, RC4 or 3DES:

* `server_context` builds an `ssl.SSLContext` for every profile with `spec.legacy` False.
  TLS 1.0/1.1, NULL, anonymous suites, RSA-1024 keys and SHA-1 signatures need
  `@SECLEVEL=0`; it is used only for such profiles.
* `LegacyTlsServer` serves legacy profiles with tlslite-ng (pure Python, slower), one
  request per connection.

"Exactly" means: each cipher class in `spec.ciphers` has suites a client of that class can
negotiate, and no suite of another class is offered. Suites are therefore chosen so that
each belongs to one class only (ECDHE-RSA-RC4 for RC4 rather than RSA-RC4, which is also
static-RSA key exchange), except where a requested class makes the overlap harmless.
Combinations no server can honour raise `LabError` up front rather than serving something
else:

* static-RSA key exchange (`rsa_kex`) with an EC certificate;
* a version below TLS 1.2 offered with only AEAD suites (they need TLS 1.2);
* anonymous suites on the legacy server (tlslite-ng serves them only without a certificate);
* SSLv3 without `rsa_kex` (SSLv3 clients send no curve extension and usually offer no
  ECDHE suites, so an ECDHE-only SSLv3 server would look like no SSLv3 at all);
* a gap in the versions of a legacy profile (tlslite-ng takes a min and a max only).

Key exchange is ECDHE in both engines, so that they agree; an OpenSSL profile with `dhe`
adds finite-field DHE-RSA suites to its AEAD and CBC classes, with a fixed, well-known group.
"""

from __future__ import annotations

import contextlib
import ipaddress
import logging
import os
import socket
import ssl
import tempfile
import threading
import warnings
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Literal

from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import dh, rsa
from cryptography.hazmat.primitives.serialization import Encoding, ParameterFormat
from tlslite import HandshakeSettings, TLSConnection, X509CertChain, parsePEMKey

from utsyn.errors import LabError
from utsyn.lab.ca import Credentials
from utsyn.lab.context import IDLE_TIMEOUT
from utsyn.lab.specs import CipherClass, TlsSpec, TlsVersion

log = logging.getLogger(__name__)

KeyFamily = Literal["rsa", "ec"]

# A request is read up to the end of its header block or this many bytes.
REQUEST_LIMIT = 64 * 1024

_ORDER = (TlsVersion.SSL3, TlsVersion.TLS10, TlsVersion.TLS11, TlsVersion.TLS12, TlsVersion.TLS13)

# ---------------------------------------------------------------- cipher classes


def _class_versions(cls: CipherClass) -> frozenset[TlsVersion]:
    """Versions at which a class has suites. AEAD suites need TLS 1.2 (and are all of 1.3)."""
    if cls == CipherClass.AEAD:
        return frozenset({TlsVersion.TLS12, TlsVersion.TLS13})
    return frozenset(_ORDER) - {TlsVersion.TLS13}


def _check_coverage(spec: TlsSpec) -> None:
    """Every offered version has a suite, and every class is servable at an offered version."""
    offered = set(spec.versions)
    for version in offered - {TlsVersion.TLS13}:
        if not any(version in _class_versions(c) for c in spec.ciphers):
            raise LabError(
                "%(version)s is offered, but none of the cipher classes %(ciphers)s has a suite "
                "for it (AEAD suites need TLS 1.2)",
                version=version.value,
                ciphers=_names(spec.ciphers),
            )
    for cls in spec.ciphers:
        if not offered & _class_versions(cls):
            raise LabError(
                "cipher class %(cipher)s is offered, but no offered version (%(versions)s) can "
                "negotiate it",
                cipher=cls.value,
                versions=_names(spec.versions),
            )


def _names(items: Sequence[TlsVersion | CipherClass]) -> str:
    return ", ".join(i.value for i in items) or "none"


def key_family(creds: Credentials) -> KeyFamily:
    """The key type of the served leaf certificate, which decides the usable suites."""
    leaf = x509.load_pem_x509_certificate(creds.chain_pem)
    return "rsa" if isinstance(leaf.public_key(), rsa.RSAPublicKey) else "ec"


def _static_rsa_needs_rsa(spec: TlsSpec, family: KeyFamily) -> None:
    if CipherClass.RSA_KEX in spec.ciphers and family != "rsa":
        raise LabError(
            "cipher class rsa_kex (static RSA key exchange) needs an RSA certificate; "
            "this profile's key is %(key)s",
            key=spec.cert.key.value,
        )


# ---------------------------------------------------------------- OpenSSL (ssl module)

# Suites per class and key family, in OpenSSL names. Each belongs to its class only:
# NULL uses ECDHE-*-NULL-SHA (NULL-SHA would be static RSA too), ANON uses AECDH with
# AES (AECDH-NULL-SHA would be NULL too; ADH would need DH parameters).
_OPENSSL_SUITES: dict[CipherClass, dict[KeyFamily, tuple[str, ...]]] = {
    CipherClass.AEAD: {
        "rsa": (
            "ECDHE-RSA-AES256-GCM-SHA384",
            "ECDHE-RSA-CHACHA20-POLY1305",
            "ECDHE-RSA-AES128-GCM-SHA256",
        ),
        "ec": (
            "ECDHE-ECDSA-AES256-GCM-SHA384",
            "ECDHE-ECDSA-CHACHA20-POLY1305",
            "ECDHE-ECDSA-AES128-GCM-SHA256",
        ),
    },
    CipherClass.CBC: {
        "rsa": (
            "ECDHE-RSA-AES256-SHA384",
            "ECDHE-RSA-AES128-SHA256",
            "ECDHE-RSA-AES256-SHA",
            "ECDHE-RSA-AES128-SHA",
        ),
        "ec": (
            "ECDHE-ECDSA-AES256-SHA384",
            "ECDHE-ECDSA-AES128-SHA256",
            "ECDHE-ECDSA-AES256-SHA",
            "ECDHE-ECDSA-AES128-SHA",
        ),
    },
    CipherClass.RSA_KEX: {
        "rsa": (
            "AES256-GCM-SHA384",
            "AES128-GCM-SHA256",
            "AES256-SHA256",
            "AES128-SHA256",
            "AES256-SHA",
            "AES128-SHA",
        ),
        "ec": (),
    },
    CipherClass.NULL: {"rsa": ("ECDHE-RSA-NULL-SHA",), "ec": ("ECDHE-ECDSA-NULL-SHA",)},
    CipherClass.ANON: {
        "rsa": ("AECDH-AES256-SHA", "AECDH-AES128-SHA"),
        "ec": ("AECDH-AES256-SHA", "AECDH-AES128-SHA"),
    },
}

# Finite-field DHE suites added to a class when the profile asks for `dhe` (RSA keys only).
_DHE_SUITES: dict[CipherClass, tuple[str, ...]] = {
    CipherClass.AEAD: (
        "DHE-RSA-AES256-GCM-SHA384",
        "DHE-RSA-CHACHA20-POLY1305",
        "DHE-RSA-AES128-GCM-SHA256",
    ),
    CipherClass.CBC: (
        "DHE-RSA-AES256-SHA256",
        "DHE-RSA-AES128-SHA256",
        "DHE-RSA-AES256-SHA",
        "DHE-RSA-AES128-SHA",
    ),
}
# Fixed groups, as servers configured with a shipped dhparam file use them (generator 2).
# 1024 bits: RFC 2409 section 6.2, Oakley group 2, the prime the Logjam paper found most
# used by HTTPS servers offering 1024-bit DHE. 2048 bits: RFC 7919 appendix A.1, ffdhe2048.
DH_PRIMES: dict[int, int] = {
    1024: int(
        "FFFFFFFFFFFFFFFFC90FDAA22168C234C4C6628B80DC1CD129024E088A67CC74020BBEA63B139B22"
        "514A08798E3404DDEF9519B3CD3A431B302B0A6DF25F14374FE1356D6D51C245E485B576625E7EC6"
        "F44C42E9A637ED6B0BFF5CB6F406B7EDEE386BFB5A899FA5AE9F24117C4B1FE649286651ECE65381"
        "FFFFFFFFFFFFFFFF",
        16,
    ),
    2048: int(
        "FFFFFFFFFFFFFFFFADF85458A2BB4A9AAFDC5620273D3CF1D8B9C583CE2D3695A9E13641146433FB"
        "CC939DCE249B3EF97D2FE363630C75D8F681B202AEC4617AD3DF1ED5D5FD65612433F51F5F066ED0"
        "856365553DED1AF3B557135E7F57C935984F0C70E0E68B77E2A689DAF3EFE8721DF158A136ADE735"
        "30ACCA4F483A797ABC0AB182B324FB61D108A94BB2C8E3FBB96ADAB760D7F4681D4F42A3DE394DF4"
        "AE56EDE76372BB190B07A7C8EE0A6D709E02FCE1CDF7E2ECC03404CD28342F619172FE9CE98583FF"
        "8E4F1232EEF28183C3FE3B1B4C6FAD733BB5FCBC2EC22005C58EF1837D1683B2C6F34A26C1B2EFFA"
        "886B423861285C97FFFFFFFFFFFFFFFF",
        16,
    ),
}

_SSL_VERSIONS = {
    TlsVersion.TLS10: ssl.TLSVersion.TLSv1,
    TlsVersion.TLS11: ssl.TLSVersion.TLSv1_1,
    TlsVersion.TLS12: ssl.TLSVersion.TLSv1_2,
    TlsVersion.TLS13: ssl.TLSVersion.TLSv1_3,
}
_SSL_NO_VERSION = {
    TlsVersion.TLS10: ssl.OP_NO_TLSv1,
    TlsVersion.TLS11: ssl.OP_NO_TLSv1_1,
    TlsVersion.TLS12: ssl.OP_NO_TLSv1_2,
    TlsVersion.TLS13: ssl.OP_NO_TLSv1_3,
}


def server_context(spec: TlsSpec, creds: Credentials) -> ssl.SSLContext:
    """A server context offering exactly `spec.versions` and the classes in `spec.ciphers`."""
    if spec.legacy:
        raise LabError(
            "this profile needs SSLv3, RC4 or 3DES, which the system OpenSSL cannot serve; "
            "serve it with LegacyTlsServer"
        )
    family = key_family(creds)
    suites = openssl_suites(spec, family)
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    _set_versions(ctx, spec.versions)
    weak = needs_seclevel0(spec, creds)
    # SECLEVEL must be lowered before the chain is loaded: OpenSSL checks the key size and
    # the signature digest of the chain at load time.
    ctx.set_ciphers(":".join(suites) + (":@SECLEVEL=0" if weak else ""))
    ctx.load_cert_chain(creds.cert_file, creds.key_file)
    if spec.dhe is not None:
        _load_dh_group(ctx, spec.dhe)
    return ctx


def _load_dh_group(ctx: ssl.SSLContext, bits: int) -> None:
    """The context serves DHE with the fixed group of `bits` (Python loads it from a file)."""
    numbers = dh.DHParameterNumbers(DH_PRIMES[bits], 2)
    pem = numbers.parameters().parameter_bytes(Encoding.PEM, ParameterFormat.PKCS3)
    handle, path = tempfile.mkstemp(suffix=".pem", prefix="utsyn-dh-")
    try:
        with os.fdopen(handle, "wb") as file:
            file.write(pem)
        ctx.load_dh_params(path)
    finally:
        os.unlink(path)


def openssl_suites(spec: TlsSpec, family: KeyFamily) -> list[str]:
    """The TLS ≤ 1.2 suites (OpenSSL names) that serve `spec` with a key of `family`."""
    _static_rsa_needs_rsa(spec, family)
    _check_coverage(spec)
    suites = [s for cls in spec.ciphers for s in _OPENSSL_SUITES[cls][family]]
    if spec.dhe is not None:
        if family != "rsa":
            raise LabError("dhe: DHE-RSA suites need an RSA certificate")
        suites += [s for cls in spec.ciphers for s in _DHE_SUITES.get(cls, ())]
    if not suites:
        # Only TLS 1.3, where these are never used; OpenSSL just refuses an empty list.
        suites = list(_OPENSSL_SUITES[CipherClass.AEAD][family])
    return list(dict.fromkeys(suites))


def _set_versions(ctx: ssl.SSLContext, versions: Sequence[TlsVersion]) -> None:
    ordered = [v for v in _ORDER if v in versions]
    # Python deprecates TLS 1.0/1.1 and the OP_NO_* flags; serving them is the point here.
    # (catch_warnings is not thread-safe: build contexts from one thread.)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        ctx.minimum_version = _SSL_VERSIONS[ordered[0]]
        ctx.maximum_version = _SSL_VERSIONS[ordered[-1]]
        # A gap (TLS 1.0 and 1.2 but not 1.1): OpenSSL servers honour OP_NO_* inside the range.
        for version in _ORDER[_ORDER.index(ordered[0]) : _ORDER.index(ordered[-1])]:
            if version not in versions:
                ctx.options |= _SSL_NO_VERSION[version]


def needs_seclevel0(spec: TlsSpec, creds: Credentials) -> bool:
    """OpenSSL's default level refuses these; the lab must serve them anyway."""
    if {TlsVersion.TLS10, TlsVersion.TLS11} & set(spec.versions):
        return True
    if {CipherClass.NULL, CipherClass.ANON} & set(spec.ciphers):
        return True
    if spec.dhe is not None and spec.dhe < 2048:
        return True  # the default level (2 on Debian) refuses DH groups under 2048 bits
    leaf = x509.load_pem_x509_certificate(creds.chain_pem)
    key = leaf.public_key()
    if isinstance(key, rsa.RSAPublicKey) and key.key_size < 2048:
        return True
    return isinstance(leaf.signature_hash_algorithm, hashes.SHA1)


# ---------------------------------------------------------------- tlslite-ng (legacy)

_TLSLITE_VERSIONS = {
    TlsVersion.SSL3: (3, 0),
    TlsVersion.TLS10: (3, 1),
    TlsVersion.TLS11: (3, 2),
    TlsVersion.TLS12: (3, 3),
}

# tlslite-ng picks suites from the product of cipher, MAC and key-exchange names. With
# ECDHE for every class, each product suite's class is fixed by its cipher, so the product
# holds only requested classes. Static RSA (rsa_kex) adds key exchange "rsa" over the same
# ciphers; those suites are rsa_kex (and RC4/3DES/NULL when those are asked for too).
_TLSLITE_CIPHERS: dict[CipherClass, tuple[tuple[str, ...], tuple[str, ...]]] = {
    CipherClass.AEAD: (("aes256gcm", "chacha20-poly1305", "aes128gcm"), ("aead",)),
    CipherClass.CBC: (("aes256", "aes128"), ("sha384", "sha256", "sha")),
    CipherClass.RC4: (("rc4",), ("sha",)),
    CipherClass.TRIPLE_DES: (("3des",), ("sha",)),
    CipherClass.NULL: (("null",), ("sha",)),
}
# Static RSA alone: AES in CBC and GCM.
_RSA_KEX_ONLY = (("aes256gcm", "aes128gcm", "aes256", "aes128"), ("aead", "sha256", "sha"))


def tlslite_settings(spec: TlsSpec, family: KeyFamily) -> HandshakeSettings:
    """tlslite-ng settings serving exactly `spec`; raises LabError for what it cannot."""
    _check_legacy_profile(spec)
    _static_rsa_needs_rsa(spec, family)
    _check_coverage(spec)
    classes = [c for c in spec.ciphers if c != CipherClass.RSA_KEX]
    ciphers = [n for c in classes for n in _TLSLITE_CIPHERS[c][0]]
    macs = [m for c in classes for m in _TLSLITE_CIPHERS[c][1]]
    kex = ["ecdhe_rsa" if family == "rsa" else "ecdhe_ecdsa"] if classes else []
    if CipherClass.RSA_KEX in spec.ciphers:
        kex.append("rsa")
        if not classes:
            ciphers, macs = list(_RSA_KEX_ONLY[0]), list(_RSA_KEX_ONLY[1])
    ordered = [v for v in _ORDER if v in spec.versions]
    settings = HandshakeSettings()
    settings.minVersion = _TLSLITE_VERSIONS[ordered[0]]
    settings.maxVersion = _TLSLITE_VERSIONS[ordered[-1]]
    settings.cipherNames = list(dict.fromkeys(ciphers))
    settings.macNames = list(dict.fromkeys(macs))
    settings.keyExchangeNames = kex
    return settings.validate()


def _check_legacy_profile(spec: TlsSpec) -> None:
    if TlsVersion.TLS13 in spec.versions:
        raise LabError("the legacy TLS server does not serve TLS 1.3; use server_context")
    if CipherClass.ANON in spec.ciphers:
        raise LabError(
            "cipher class anon cannot be served by the legacy TLS server (tlslite-ng offers "
            "anonymous suites only without a certificate); drop anon or the legacy ciphers"
        )
    if TlsVersion.SSL3 in spec.versions and CipherClass.RSA_KEX not in spec.ciphers:
        raise LabError(
            "an SSLv3 profile needs cipher class rsa_kex: SSLv3 clients send no curve "
            "extension and usually offer no ECDHE suites"
        )
    indices = sorted(_ORDER.index(v) for v in spec.versions)
    if indices != list(range(indices[0], indices[-1] + 1)):
        raise LabError(
            "the legacy TLS server serves a contiguous range of versions, not %(versions)s",
            versions=_names(spec.versions),
        )


class LegacyTlsServer:
    """A tlslite-ng TLS server on one loopback address: handshake, one request, one answer.

    Connections are handled by a bounded pool; every socket has a timeout, so a stuck or
    silent client costs one worker for at most `timeout` seconds and cannot hang `stop()`.
    """

    def __init__(
        self,
        ip: str,
        port: int,
        spec: TlsSpec,
        creds: Credentials,
        respond: Callable[[bytes], bytes],
        *,
        timeout: float = IDLE_TIMEOUT,
        max_workers: int = 32,
    ) -> None:
        _require_loopback(ip)
        self.ip = ip
        self.port = port  # the bound port after start() (useful with port 0)
        self._settings = tlslite_settings(spec, key_family(creds))
        self._chain_pem = creds.chain_pem.decode()
        self._key_pem = creds.key_pem.decode()
        self._respond = respond
        self._timeout = timeout
        self._max_workers = max_workers
        self._slots = threading.BoundedSemaphore(max_workers)
        self._stopping = threading.Event()
        self._live: set[socket.socket] = set()
        self._lock = threading.Lock()
        self._listener: socket.socket | None = None
        self._thread: threading.Thread | None = None
        self._pool: ThreadPoolExecutor | None = None

    def start(self) -> None:
        family = socket.AF_INET6 if ":" in self.ip else socket.AF_INET
        try:
            listener = socket.create_server((self.ip, self.port), family=family, backlog=128)
        except OSError as exc:
            raise LabError(
                "cannot listen on %(ip)s:%(port)s: %(reason)s",
                ip=self.ip,
                port=self.port,
                reason=exc.strerror,
            ) from exc
        # The timeout only bounds how long stop() can wait for the accept loop to notice.
        listener.settimeout(0.5)
        self.port = listener.getsockname()[1]
        self._listener = listener
        self._stopping.clear()
        self._pool = ThreadPoolExecutor(self._max_workers, f"legacy-tls-{self.ip}")
        self._thread = threading.Thread(
            target=self._accept_loop, name=f"legacy-tls-accept-{self.ip}:{self.port}", daemon=True
        )
        self._thread.start()

    def stop(self) -> None:
        """Stop accepting, cut live connections and return once the accept loop has ended."""
        self._stopping.set()
        if self._listener is not None:
            # shutdown() wakes a blocked accept() on Linux; close() alone does not.
            with contextlib.suppress(OSError):
                self._listener.shutdown(socket.SHUT_RDWR)
            self._listener.close()
        with self._lock:
            for conn in self._live:
                with contextlib.suppress(OSError):
                    conn.shutdown(socket.SHUT_RDWR)
        if self._thread is not None:
            self._thread.join(timeout=5)
        if self._pool is not None:
            self._pool.shutdown(wait=False, cancel_futures=True)
        self._listener = self._thread = self._pool = None

    def __enter__(self) -> LegacyTlsServer:
        self.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    def _accept_loop(self) -> None:
        listener, pool = self._listener, self._pool
        assert listener is not None and pool is not None
        while not self._stopping.is_set():
            # A free worker first: extra clients wait in the kernel's backlog, not in memory.
            if not self._slots.acquire(timeout=0.5):
                continue
            try:
                conn, _ = listener.accept()
            except TimeoutError:
                self._slots.release()
                continue
            except OSError:  # the listener was shut down by stop()
                self._slots.release()
                break
            if self._stopping.is_set():  # accepted while stop() ran: it would linger
                conn.close()
                self._slots.release()
                break
            conn.settimeout(self._timeout)
            with self._lock:
                self._live.add(conn)
            pool.submit(self._serve, conn)

    def _serve(self, conn: socket.socket) -> None:
        try:
            self._exchange(conn)
        except Exception as exc:
            # Scanners abort handshakes on purpose; a failure here is normal traffic.
            log.debug("legacy TLS %s:%s: %s: %s", self.ip, self.port, type(exc).__name__, exc)
        finally:
            with self._lock:
                self._live.discard(conn)
            conn.close()
            self._slots.release()

    def _exchange(self, conn: socket.socket) -> None:
        tls = TLSConnection(conn)
        # Parsed per connection: tlslite's pure-Python RSA key updates blinding values on
        # every private operation, which is not safe to share between threads.
        chain = X509CertChain()
        chain.parsePemList(self._chain_pem)
        key = parsePEMKey(self._key_pem, private=True)
        tls.handshakeServer(certChain=chain, privateKey=key, settings=self._settings)
        request = b"".join(_read_request(tls))
        tls.write(self._respond(request))
        tls.close()


def _read_request(tls: TLSConnection) -> Iterator[bytes]:
    seen = b""
    size = 0
    while size < REQUEST_LIMIT and b"\r\n\r\n" not in seen:
        chunk = bytes(tls.read(max=REQUEST_LIMIT - size))
        if not chunk:
            return
        yield chunk
        size += len(chunk)
        seen = seen[-3:] + chunk  # the terminator can straddle two reads


def _require_loopback(ip: str) -> None:
    try:
        loopback = ipaddress.ip_address(ip).is_loopback
    except ValueError as exc:
        raise LabError(
            "%(ip)r is not an IP address; lab servers bind addresses only", ip=ip
        ) from exc
    if not loopback:
        raise LabError(
            "%(ip)s is not a loopback address; the lab binds 127.0.0.0/8 and ::1 only", ip=ip
        )


__all__ = [
    "REQUEST_LIMIT",
    "LegacyTlsServer",
    "key_family",
    "needs_seclevel0",
    "openssl_suites",
    "server_context",
    "tlslite_settings",
]
