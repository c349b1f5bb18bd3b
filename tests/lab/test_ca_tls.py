"""The lab CA and TLS servers, checked with real clients over loopback (127.101.0.0/16).

Clients classify suites on their own (from OpenSSL's cipher table or the IETF suite name),
not with the tables in `utsyn.lab.tls`, so a wrong table shows up as a failed probe.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import itertools
import socket
import ssl
import threading
import time
import warnings
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import ExtendedKeyUsageOID
from tlslite import HandshakeSettings, TLSConnection
from tlslite.constants import CipherSuite

from utsyn.errors import LabError
from utsyn.lab.ca import WRONG_HOST_NAMES, Credentials, LabCA
from utsyn.lab.specs import CertKey, CertSpec, CertStatus, CipherClass, TlsSpec, TlsVersion
from utsyn.lab.tls import LegacyTlsServer, server_context
from utsyn.settings import get_settings

V = TlsVersion
C = CipherClass
_ips = (f"127.101.0.{n}" for n in itertools.count(1))

# ---------------------------------------------------------------- fixtures and helpers


@pytest.fixture(scope="module")
def ca(tmp_path_factory: pytest.TempPathFactory) -> LabCA:
    # The shared key cache: keys are generated once per machine, as in the lab.
    return LabCA(tmp_path_factory.mktemp("ca-tls"), get_settings().cache_dir)


class SslServer:
    """A sequential one-reply server for an `ssl.SSLContext` under test."""

    def __init__(self, ctx: ssl.SSLContext) -> None:
        self._ctx = ctx
        self._listener = socket.create_server((next(_ips), 0))
        self._listener.settimeout(0.1)
        self.address: tuple[str, int] = self._listener.getsockname()[:2]
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, daemon=True)
        self._thread.start()

    def _loop(self) -> None:
        while not self._stop.is_set():
            try:
                conn, _ = self._listener.accept()
            except TimeoutError:
                continue
            conn.settimeout(2)
            try:
                with self._ctx.wrap_socket(conn, server_side=True) as tls:
                    tls.sendall(b"lab")
            except (OSError, ssl.SSLError):
                conn.close()  # the client refused us, as some tests want

    def close(self) -> None:
        self._stop.set()
        self._thread.join()
        self._listener.close()


@pytest.fixture
def serve() -> Iterator[Any]:
    servers: list[SslServer] = []

    def start(spec: TlsSpec, creds: Credentials) -> tuple[str, int]:
        servers.append(SslServer(server_context(spec, creds)))
        return servers[-1].address

    yield start
    for server in servers:
        server.close()


_SSL_VERSIONS = {
    V.TLS10: ssl.TLSVersion.TLSv1,
    V.TLS11: ssl.TLSVersion.TLSv1_1,
    V.TLS12: ssl.TLSVersion.TLSv1_2,
    V.TLS13: ssl.TLSVersion.TLSv1_3,
}


def _client(version: TlsVersion | None = None, ciphers: str = "ALL") -> ssl.SSLContext:
    """An unverified client pinned to one version; SECLEVEL=0 so it accepts anything."""
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        ctx.minimum_version = _SSL_VERSIONS[version] if version else ssl.TLSVersion.TLSv1
        ctx.maximum_version = _SSL_VERSIONS[version] if version else ssl.TLSVersion.TLSv1_3
    ctx.set_ciphers(f"{ciphers}:@SECLEVEL=0")
    return ctx


def _verifying_client(
    cafile: Path | None = None, cadata: str | None = None, weak: bool = False
) -> ssl.SSLContext:
    """Verifies against the given trust anchors only (never the SSL_CERT_FILE bundle)."""
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.load_verify_locations(cafile=cafile, cadata=cadata)
    if weak:
        ctx.set_ciphers("ALL:@SECLEVEL=0")  # accept SHA-1 signatures and RSA-1024
    return ctx


def _handshake(
    address: tuple[str, int], ctx: ssl.SSLContext, name: str | None = None
) -> tuple[str, bytes]:
    """(negotiated suite, leaf DER) after reading the server's reply."""
    with (
        socket.create_connection(address, timeout=3) as sock,
        ctx.wrap_socket(sock, server_hostname=name) as tls,
    ):
        assert tls.recv(16) == b"lab"
        cipher = tls.cipher()
        der = tls.getpeercert(binary_form=True)
        assert cipher is not None
        return cipher[0], der or b""


def _verify_error(address: tuple[str, int], ctx: ssl.SSLContext, name: str) -> int | None:
    """The X.509 verification error a verifying client gets (None: verified)."""
    try:
        _handshake(address, ctx, name)
    except ssl.SSLCertVerificationError as exc:
        return int(exc.verify_code)
    return None


# OpenSSL's own description of every suite it knows (TLS 1.2 and below, no PSK/SRP).
_SUITES = {
    c["name"]: c
    for c in _client(ciphers="ALL:COMPLEMENTOFALL").get_ciphers()
    if c["protocol"] != "TLSv1.3" and c["kea"] in ("kx-ecdhe", "kx-dhe", "kx-rsa")
}


def _classes(suite: Mapping[str, object]) -> frozenset[CipherClass]:
    found = set()
    if suite["auth"] == "auth-null":
        found.add(C.ANON)
    if suite["kea"] == "kx-rsa":
        found.add(C.RSA_KEX)
    if suite["symmetric"] is None:
        found.add(C.NULL)
    if not found:
        found.add(C.AEAD if suite["aead"] else C.CBC)
    return frozenset(found)


def _openssl_probe(address: tuple[str, int], version: TlsVersion, cls: C | None) -> str | None:
    """The suite negotiated offering every suite of `cls` (None: all suites), or None."""
    names = [n for n, s in _SUITES.items() if cls is None or cls in _classes(s)]
    try:
        return _handshake(address, _client(version, ":".join(names)))[0]
    except (ssl.SSLError, OSError):
        return None


def _leaf(creds: Credentials) -> x509.Certificate:
    return x509.load_pem_x509_certificates(creds.chain_pem)[0]


# ---------------------------------------------------------------- the CA


def test_root_is_the_only_file_to_trust_and_stable_across_restarts(
    ca: LabCA, tmp_path: Path
) -> None:
    again = LabCA(tmp_path, get_settings().cache_dir)
    assert ca.root_pem_path.name == "ca.pem"
    assert ca.root_pem_path.read_bytes() == again.root_pem_path.read_bytes() == ca.root_pem
    root = x509.load_pem_x509_certificate(ca.root_pem)
    constraints = root.extensions.get_extension_for_class(x509.BasicConstraints)
    assert constraints.critical and constraints.value.ca
    assert ca.rogue_root_pem != ca.root_pem


def test_leaf_chain_and_extensions(ca: LabCA) -> None:
    names = ["www.fjordvik.test", "fjordvik.test"]
    creds = ca.issue(names, CertSpec())
    leaf, intermediate = x509.load_pem_x509_certificates(creds.chain_pem)
    root = x509.load_pem_x509_certificate(ca.root_pem)
    assert leaf.issuer == intermediate.subject and intermediate.issuer == root.subject
    leaf.verify_directly_issued_by(intermediate)
    intermediate.verify_directly_issued_by(root)
    ext = leaf.extensions
    assert (
        ext.get_extension_for_class(x509.SubjectAlternativeName).value.get_values_for_type(
            x509.DNSName
        )
        == names
    )
    assert (
        ExtendedKeyUsageOID.SERVER_AUTH in ext.get_extension_for_class(x509.ExtendedKeyUsage).value
    )
    basic = ext.get_extension_for_class(x509.BasicConstraints)
    assert basic.critical and not basic.value.ca
    inter_ski = intermediate.extensions.get_extension_for_class(x509.SubjectKeyIdentifier)
    aki = ext.get_extension_for_class(x509.AuthorityKeyIdentifier).value
    assert aki.key_identifier == inter_ski.value.digest
    ski = ext.get_extension_for_class(x509.SubjectKeyIdentifier).value
    assert ski == x509.SubjectKeyIdentifier.from_public_key(leaf.public_key())
    inter_basic = intermediate.extensions.get_extension_for_class(x509.BasicConstraints).value
    assert inter_basic.ca and inter_basic.path_length == 0
    # The files hold what the Credentials hold, and the key belongs to the leaf.
    assert creds.cert_file.read_bytes() == creds.chain_pem
    assert creds.key_file.read_bytes() == creds.key_pem
    key = serialization.load_pem_private_key(creds.key_pem, None)
    assert key.public_key() == leaf.public_key()
    assert creds.cert_file.parent == ca.state_dir / "certs"


def test_issuing_is_deterministic_within_a_day(ca: LabCA) -> None:
    spec = CertSpec(key=CertKey.EC384, days_left=40)
    first = ca.issue(["same.fjordvik.test"], spec)
    assert ca.issue(["same.fjordvik.test"], spec) == first
    other = ca.issue(["same.fjordvik.test"], spec.model_copy(update={"days_left": 41}))
    assert other.cert_file != first.cert_file
    assert _leaf(other).serial_number != _leaf(first).serial_number


@pytest.mark.parametrize(
    ("kind", "expected"),
    [
        (CertKey.EC256, ("secp256r1", 256)),
        (CertKey.EC384, ("secp384r1", 384)),
        (CertKey.RSA1024, ("rsa", 1024)),
        (CertKey.RSA2048, ("rsa", 2048)),
        (CertKey.RSA4096, ("rsa", 4096)),
    ],
)
def test_key_kinds(ca: LabCA, kind: CertKey, expected: tuple[str, int]) -> None:
    key = _leaf(ca.issue([f"{kind.value}.keys.test"], CertSpec(key=kind))).public_key()
    if isinstance(key, rsa.RSAPublicKey):
        assert ("rsa", key.key_size) == expected
    else:
        assert isinstance(key, ec.EllipticCurvePublicKey)
        assert (key.curve.name, key.curve.key_size) == expected


@pytest.mark.parametrize("days_left", [0, 5, 200, 3650])
def test_days_left_is_what_a_scanner_computes(ca: LabCA, days_left: int) -> None:
    leaf = _leaf(ca.issue(["soon.fjordvik.test"], CertSpec(days_left=days_left)))
    now = dt.datetime.now(dt.UTC)
    assert leaf.not_valid_before_utc < now
    assert (leaf.not_valid_after_utc - now).days == days_left


def test_impossible_validity_is_refused(ca: LabCA) -> None:
    with pytest.raises(LabError, match="status: expired"):
        ca.issue(["x.fjordvik.test"], CertSpec(days_left=-3))
    with pytest.raises(LabError, match="at least one name"):
        ca.issue([], CertSpec())


# ---------------------------------------------------------------- certificate status, served


@pytest.mark.parametrize(
    ("cert", "verify_code"),
    [
        (CertSpec(), None),
        (CertSpec(status=CertStatus.EXPIRED), 10),  # X509_V_ERR_CERT_HAS_EXPIRED
        (CertSpec(status=CertStatus.EXPIRED, days_left=-400), 10),
        (CertSpec(status=CertStatus.NOT_YET_VALID), 9),  # X509_V_ERR_CERT_NOT_YET_VALID
        (CertSpec(status=CertStatus.SELF_SIGNED), 18),  # DEPTH_ZERO_SELF_SIGNED_CERT
        (CertSpec(status=CertStatus.UNKNOWN_ISSUER), 19),  # SELF_SIGNED_CERT_IN_CHAIN
        (CertSpec(status=CertStatus.WRONG_HOST), 62),  # X509_V_ERR_HOSTNAME_MISMATCH
        (CertSpec(chain="missing_intermediate"), 20),
        (CertSpec(key=CertKey.RSA2048, days_left=3), None),
    ],
    ids=lambda v: v.status.value + "/" + v.chain if isinstance(v, CertSpec) else str(v),
)
def test_status_verifies_as_it_should(
    ca: LabCA, serve: Any, cert: CertSpec, verify_code: int | None
) -> None:
    name = "www.status.test"
    address = serve(TlsSpec(cert=cert), ca.issue([name], cert))
    assert _verify_error(address, _verifying_client(ca.root_pem_path), name) == verify_code


def test_each_defect_is_the_only_one(ca: LabCA, serve: Any) -> None:
    """Fixing the one defect makes the chain verify: nothing else is wrong with it."""
    name = "www.defect.test"
    unknown = serve(TlsSpec(), ca.issue([name], CertSpec(status=CertStatus.UNKNOWN_ISSUER)))
    assert (
        _verify_error(unknown, _verifying_client(cadata=ca.rogue_root_pem.decode()), name) is None
    )
    wrong = serve(TlsSpec(), ca.issue([name], CertSpec(status=CertStatus.WRONG_HOST)))
    assert _verify_error(wrong, _verifying_client(ca.root_pem_path), WRONG_HOST_NAMES[0]) is None
    missing = serve(TlsSpec(), ca.issue([name], CertSpec(chain="missing_intermediate")))
    both = (ca.root_pem + ca.intermediate_pem).decode()
    assert _verify_error(missing, _verifying_client(cadata=both), name) is None


def test_sha1_and_weak_keys_are_served_and_verify_at_seclevel_0(ca: LabCA, serve: Any) -> None:
    name = "old.fjordvik.test"
    for cert, refused_by_default in [
        (CertSpec(signature="sha1"), "digest algorithm too weak"),
        (CertSpec(signature="sha1", key=CertKey.RSA2048, status=CertStatus.SELF_SIGNED), None),
        (CertSpec(key=CertKey.RSA1024), "key too weak"),
    ]:
        address = serve(TlsSpec(cert=cert), ca.issue([name], cert))
        _, der = _handshake(address, _verifying_client(cadata=_trust(ca, cert), weak=True), name)
        leaf = x509.load_der_x509_certificate(der)
        wanted = hashes.SHA1 if cert.signature == "sha1" else hashes.SHA256
        assert isinstance(leaf.signature_hash_algorithm, wanted)
        if refused_by_default:
            with pytest.raises(ssl.SSLCertVerificationError, match=refused_by_default):
                _handshake(address, _verifying_client(ca.root_pem_path), name)


def _trust(ca: LabCA, cert: CertSpec) -> str:
    if cert.status == CertStatus.SELF_SIGNED:
        return ca.issue(["old.fjordvik.test"], cert).chain_pem.decode()
    return ca.root_pem.decode()


@pytest.mark.parametrize("chain", ["full", "missing_intermediate"])
def test_served_chain_order(ca: LabCA, serve: Any, chain: str) -> None:
    """A tlslite client sees the certificates exactly as sent: leaf, then intermediate."""
    creds = ca.issue(["chain.fjordvik.test"], CertSpec.model_validate({"chain": chain}))
    host, port = serve(TlsSpec(), creds)
    with socket.create_connection((host, port), timeout=3) as sock:
        conn = TLSConnection(sock)
        conn.handshakeClientCert()
        served = [bytes(c.writeBytes()) for c in conn.session.serverCertChain.x509List]
        conn.close()
    expected = [c.public_bytes(serialization.Encoding.DER) for c in _all(creds)]
    assert served == expected
    assert len(served) == (2 if chain == "full" else 1)


def _all(creds: Credentials) -> list[x509.Certificate]:
    return x509.load_pem_x509_certificates(creds.chain_pem)


# ---------------------------------------------------------------- OpenSSL profiles

OPENSSL_PROFILES = [
    (CertKey.RSA2048, (V.TLS10, V.TLS12), (C.CBC, C.RSA_KEX)),  # with a gap at TLS 1.1
    (CertKey.EC256, (V.TLS11, V.TLS12, V.TLS13), (C.AEAD, C.NULL, C.ANON)),
    (CertKey.RSA2048, (V.TLS12, V.TLS13), (C.AEAD,)),
    (CertKey.EC384, (V.TLS13,), (C.AEAD,)),
    (CertKey.RSA4096, (V.TLS10, V.TLS11, V.TLS12), (C.NULL, C.AEAD, C.RSA_KEX)),
]


@pytest.mark.parametrize(("key", "versions", "ciphers"), OPENSSL_PROFILES)
def test_openssl_offers_exactly_the_profile(
    ca: LabCA,
    serve: Any,
    key: CertKey,
    versions: tuple[TlsVersion, ...],
    ciphers: tuple[CipherClass, ...],
) -> None:
    spec = TlsSpec(versions=versions, ciphers=ciphers, cert=CertSpec(key=key))
    address = serve(spec, ca.issue([f"{key.value}.keys.test"], spec.cert))
    for version in _SSL_VERSIONS:
        assert (_openssl_probe(address, version, None) is not None) == (version in versions)
        if version == V.TLS13:
            continue
        for cls in (C.AEAD, C.CBC, C.RSA_KEX, C.NULL, C.ANON):
            suite = _openssl_probe(address, version, cls)
            usable = version in versions and cls in ciphers
            if cls == C.AEAD and version != V.TLS12:
                usable = False  # AEAD suites need TLS 1.2
            assert (suite is not None) == usable, (version, cls, suite)
            if suite is not None:
                assert cls in _classes(_SUITES[suite]) <= set(ciphers), suite


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        # The manifest refuses this profile too; the server must still refuse it alone.
        (
            TlsSpec.model_construct(ciphers=(C.RSA_KEX,), cert=CertSpec(key=CertKey.EC256)),
            "needs an RSA",
        ),
        (TlsSpec(versions=(V.TLS10, V.TLS12), ciphers=(C.AEAD,)), "tls1.0 is offered"),
        (TlsSpec(versions=(V.TLS13,), ciphers=(C.CBC,)), "class cbc is offered"),
        (TlsSpec(versions=(V.TLS12,), ciphers=(C.RC4,)), "LegacyTlsServer"),
    ],
)
def test_openssl_refuses_impossible_profiles(ca: LabCA, spec: TlsSpec, message: str) -> None:
    with pytest.raises(LabError, match=message):
        server_context(spec, ca.issue(["impossible.fjordvik.test"], spec.cert))


# ---------------------------------------------------------------- the legacy server

# Probes a tlslite client makes: (cipher names, MAC names, key exchanges) for each class.
_ANY_KEX = ["ecdhe_rsa", "ecdhe_ecdsa", "dhe_rsa", "rsa"]
_TLSLITE_PROBES: dict[CipherClass, tuple[list[str], list[str], list[str]]] = {
    C.AEAD: (["aes128gcm", "aes256gcm", "chacha20-poly1305"], ["aead"], _ANY_KEX[:3]),
    C.CBC: (["aes128", "aes256"], ["sha", "sha256", "sha384"], _ANY_KEX[:3]),
    C.RSA_KEX: (
        ["aes128", "aes256", "aes128gcm", "aes256gcm", "3des", "rc4", "null"],
        ["sha", "sha256", "sha384", "md5", "aead"],
        ["rsa"],
    ),
    C.RC4: (["rc4"], ["sha", "md5"], _ANY_KEX),
    C.TRIPLE_DES: (["3des"], ["sha"], _ANY_KEX),
    C.NULL: (["null"], ["sha", "sha256", "md5"], _ANY_KEX),
}
_TLSLITE_VERSIONS = {V.SSL3: (3, 0), V.TLS10: (3, 1), V.TLS11: (3, 2), V.TLS12: (3, 3)}


def _ietf_classes(name: str) -> frozenset[CipherClass]:
    """Classes of a suite from its IETF name, e.g. TLS_ECDHE_RSA_WITH_RC4_128_SHA."""
    exchange, cipher = name.split("_WITH_")
    found = set()
    if exchange == "TLS_RSA":
        found.add(C.RSA_KEX)
    for marker, cls in (("RC4", C.RC4), ("3DES", C.TRIPLE_DES), ("NULL", C.NULL)):
        if cipher.startswith(marker):
            found.add(cls)
    if not found:
        found.add(C.AEAD if "GCM" in cipher or "CHACHA" in cipher else C.CBC)
    return frozenset(found)


def _tlslite_probe(
    address: tuple[str, int], version: TlsVersion, cls: CipherClass
) -> tuple[str, bytes] | None:
    """(IETF suite name, reply) when a tlslite client offering `cls` at `version` gets in."""
    ciphers, macs, kex = _TLSLITE_PROBES[cls]
    settings = HandshakeSettings()
    settings.minVersion = settings.maxVersion = _TLSLITE_VERSIONS[version]
    settings.cipherNames, settings.macNames, settings.keyExchangeNames = ciphers, macs, kex
    settings.minKeySize = 512
    with socket.create_connection(address, timeout=5) as sock:
        conn = TLSConnection(sock)
        try:
            conn.handshakeClientCert(settings=settings)
        except Exception:  # any alert or abort: not offered
            return None
        conn.write(b"GET / HTTP/1.0\r\nHost: legacy.test\r\n\r\n")
        reply = b"".join(bytes(chunk) for chunk in iter(lambda: conn.read(), b""))
        return CipherSuite.ietfNames[conn.session.cipherSuite], reply


def _echo(request: bytes) -> bytes:
    return b"HTTP/1.0 200 OK\r\n\r\n" + request


@pytest.fixture
def legacy(ca: LabCA) -> Iterator[Any]:
    servers: list[LegacyTlsServer] = []

    def start(spec: TlsSpec, name: str) -> tuple[str, int]:
        server = LegacyTlsServer(next(_ips), 0, spec, ca.issue([name], spec.cert), _echo)
        server.start()
        servers.append(server)
        return server.ip, server.port

    yield start
    for server in servers:
        server.stop()


LEGACY_PROFILES = [
    (CertKey.RSA2048, (V.SSL3, V.TLS10, V.TLS11, V.TLS12), (C.RC4, C.RSA_KEX)),
    (CertKey.EC256, (V.TLS11, V.TLS12), (C.AEAD, C.TRIPLE_DES, C.NULL)),
    (CertKey.RSA1024, (V.TLS10,), (C.TRIPLE_DES, C.CBC)),
]


@pytest.mark.parametrize(("key", "versions", "ciphers"), LEGACY_PROFILES)
def test_legacy_offers_exactly_the_profile(
    legacy: Any,
    key: CertKey,
    versions: tuple[TlsVersion, ...],
    ciphers: tuple[CipherClass, ...],
) -> None:
    spec = TlsSpec(versions=versions, ciphers=ciphers, cert=CertSpec(key=key))
    address = legacy(spec, f"{key.value}.legacy.test")
    for version in _TLSLITE_VERSIONS:
        for cls in _TLSLITE_PROBES:
            result = _tlslite_probe(address, version, cls)
            usable = version in versions and cls in ciphers
            if cls == C.AEAD and version != V.TLS12:
                usable = False
            assert (result is not None) == usable, (version, cls, result)
            if result is not None:
                suite, reply = result
                assert cls in _ietf_classes(suite) <= set(ciphers), suite
                assert reply.startswith(b"HTTP/1.0 200 OK\r\n\r\nGET / HTTP/1.0")


def test_legacy_server_survives_garbage_and_silence(legacy: Any) -> None:
    spec = TlsSpec(versions=(V.TLS10, V.TLS12), ciphers=(C.RC4, C.CBC))
    with pytest.raises(LabError, match="contiguous"):
        legacy(spec, "gap.legacy.test")
    spec = TlsSpec(versions=(V.TLS10, V.TLS11, V.TLS12), ciphers=(C.RC4, C.CBC))
    address = legacy(spec, "robust.legacy.test")
    with socket.create_connection(address, timeout=3) as garbage:
        garbage.sendall(b"NOT TLS AT ALL\r\n\r\n" * 10)
        with contextlib.suppress(ConnectionResetError):
            garbage.recv(100)  # an alert or a close, never a hang (timeout: 3 s)
    silent = socket.create_connection(address, timeout=3)  # holds a worker until stop()
    assert _tlslite_probe(address, V.TLS12, C.RC4) is not None
    silent.close()


def test_legacy_stop_is_prompt_with_a_stuck_client(ca: LabCA) -> None:
    spec = TlsSpec(versions=(V.TLS12,), ciphers=(C.TRIPLE_DES,))
    server = LegacyTlsServer(
        next(_ips), 0, spec, ca.issue(["stuck.legacy.test"], spec.cert), _echo, timeout=30
    )
    server.start()
    stuck = socket.create_connection((server.ip, server.port), timeout=3)
    stuck.sendall(b"\x16\x03\x01")  # half a record header: the handshake waits for more
    time.sleep(0.05)
    started = time.perf_counter()
    server.stop()
    # Behaviour, not speed: stop() cuts the stuck client instead of waiting out its 30 s.
    assert time.perf_counter() - started < 10
    assert stuck.recv(10) == b""  # the server cut the connection
    stuck.close()
    with pytest.raises(OSError):
        socket.create_connection((server.ip, server.port), timeout=1)


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        (TlsSpec(versions=(V.SSL3, V.TLS10), ciphers=(C.RC4,)), "needs cipher class rsa_kex"),
        (TlsSpec(versions=(V.TLS12,), ciphers=(C.RC4, C.ANON)), "class anon"),
        (
            TlsSpec.model_construct(versions=(V.TLS12,), ciphers=(C.RC4, C.RSA_KEX)),
            "needs an RSA",
        ),
        (TlsSpec(versions=(V.TLS10,), ciphers=(C.RC4, C.AEAD)), "class aead is offered"),
    ],
)
def test_legacy_refuses_impossible_profiles(ca: LabCA, spec: TlsSpec, message: str) -> None:
    with pytest.raises(LabError, match=message):
        LegacyTlsServer("127.101.9.1", 0, spec, ca.issue(["no.legacy.test"], spec.cert), _echo)


def test_legacy_binds_loopback_only(ca: LabCA) -> None:
    spec = TlsSpec(versions=(V.TLS12,), ciphers=(C.RC4,))
    creds = ca.issue(["public.legacy.test"], spec.cert)
    for ip in ("192.0.2.1", "www.fjordvik.test"):
        with pytest.raises(LabError, match="address"):
            LegacyTlsServer(ip, 443, spec, creds, _echo)
