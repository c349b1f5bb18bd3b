"""The lab's certificate authority: root → intermediate → leaf, plus an untrusted rogue CA.

Scanners are told to trust exactly one file, `state_dir/ca.pem` (the lab root). Every
certificate defect a manifest can ask for (`CertSpec`) is produced here: expired and
not-yet-valid windows, self-signed leaves, leaves from a CA nobody trusts, names of another
host, weak keys, SHA-1 signatures and chains without their intermediate.

CA keys are cached on disk (`keys.cached_key`) and CA certificates use fixed dates, fixed
serials and deterministic ECDSA, so `ca.pem` is byte-identical across lab restarts and a
scanner configured once keeps working. Leaf certificates are deterministic within a UTC day.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import os
import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from utsyn.errors import LabError
from utsyn.lab.keys import PrivateKey, cached_key, key_pem
from utsyn.lab.specs import CertKey, CertSpec, CertStatus

# The names a WRONG_HOST certificate carries instead of the host's own.
WRONG_HOST_NAMES = ("wrong-host.invalid.test",)

# CA certificates get fixed dates so that they (and ca.pem) never change between runs.
_CA_NOT_BEFORE = dt.datetime(2020, 1, 1, tzinfo=dt.UTC)
_ROOT_NOT_AFTER = dt.datetime(2050, 1, 1, tzinfo=dt.UTC)
_INTERMEDIATE_NOT_AFTER = dt.datetime(2045, 1, 1, tzinfo=dt.UTC)

_DAY = dt.timedelta(days=1)
_Digest = hashes.SHA1 | hashes.SHA256 | hashes.SHA384
_EXPIRED_DEFAULT_DAYS = -30  # notAfter of an EXPIRED cert whose days_left is not negative
_NOT_YET_VALID_DAYS = 30  # notBefore of a NOT_YET_VALID cert, in days from now
_CN_MAX = 64  # RFC 5280 ub-common-name


@dataclass(frozen=True)
class Credentials:
    """A served certificate chain (leaf first) and its private key, in memory and on disk."""

    chain_pem: bytes
    key_pem: bytes
    cert_file: Path  # the chain, as chain_pem
    key_file: Path


@dataclass(frozen=True)
class _Authority:
    cert: x509.Certificate
    key: PrivateKey


class LabCA:
    """Issues every certificate the lab serves; see the module docstring."""

    def __init__(self, state_dir: Path, cache_dir: Path) -> None:
        self.state_dir = state_dir
        self.cache_dir = cache_dir
        self.certs_dir = state_dir / "certs"
        self.certs_dir.mkdir(parents=True, exist_ok=True)
        self._root, self._intermediate = _hierarchy("Utsyn Lab", "utsyn-lab", cache_dir)
        # Same shape as the lab CA, but never written to ca.pem: a leaf it signs has an
        # issuer the scanner cannot find in its trust store (UNKNOWN_ISSUER).
        self._rogue_root, self._rogue_intermediate = _hierarchy("Rogue", "rogue", cache_dir)
        self.root_pem_path = state_dir / "ca.pem"
        self.root_pem_path.write_bytes(self.root_pem)
        self._leaf_keys: dict[tuple[str, CertKey], PrivateKey] = {}

    @property
    def root_pem(self) -> bytes:
        """The lab root, the only certificate scanners are told to trust."""
        return _pem(self._root.cert)

    @property
    def intermediate_pem(self) -> bytes:
        return _pem(self._intermediate.cert)

    @property
    def rogue_root_pem(self) -> bytes:
        """The root of the untrusted CA: for tests that prove an UNKNOWN_ISSUER chain is sound."""
        return _pem(self._rogue_root.cert)

    def issue(self, names: Sequence[str], cert: CertSpec) -> Credentials:
        """A leaf certificate for `names` (the first is the subject) shaped by `cert`."""
        if not names:
            raise LabError("a certificate needs at least one name")
        key = self._leaf_key(names[0], cert.key)
        issuer, extra = self._issuer_of(cert)
        leaf = _leaf(names, cert, key, issuer, _utc_now())
        chain = [leaf] if cert.chain == "missing_intermediate" else [leaf, *extra]
        return self._write(names, cert, chain, key)

    def _leaf_key(self, name: str, kind: CertKey) -> PrivateKey:
        # keys.cached_key reads and parses the file on every call; a host's HTTPS and
        # SMTP services ask for the same key, so keep parsed keys for the CA's lifetime.
        slot = (name, kind)
        if slot not in self._leaf_keys:
            self._leaf_keys[slot] = cached_key(kind.value, name, self.cache_dir)
        return self._leaf_keys[slot]

    def _issuer_of(self, cert: CertSpec) -> tuple[_Authority | None, list[x509.Certificate]]:
        """The signing authority (None: self-signed) and the CA certificates to serve."""
        if cert.status == CertStatus.SELF_SIGNED:
            return None, []
        if cert.status == CertStatus.UNKNOWN_ISSUER:
            # The whole untrusted chain, root included, as a private-CA server sends it:
            # a scanner then tells "unknown issuer" (error 19) from a missing intermediate (20).
            return self._rogue_intermediate, [self._rogue_intermediate.cert, self._rogue_root.cert]
        return self._intermediate, [self._intermediate.cert]

    def _write(
        self, names: Sequence[str], spec: CertSpec, chain: list[x509.Certificate], key: PrivateKey
    ) -> Credentials:
        stem = f"{_file_safe(names[0])}-{_fingerprint(names, spec)[:12]}"
        chain_pem = b"".join(_pem(c) for c in chain)
        private_pem = key_pem(key)
        cert_file = self.certs_dir / f"{stem}.pem"
        key_file = self.certs_dir / f"{stem}.key"
        cert_file.write_bytes(chain_pem)
        _write_private(key_file, private_pem)
        return Credentials(chain_pem, private_pem, cert_file, key_file)


# ---------------------------------------------------------------- CA certificates


def _hierarchy(org: str, label: str, cache_dir: Path) -> tuple[_Authority, _Authority]:
    root_key = cached_key("ec384", f"{label}-root", cache_dir)
    root_name = _name(f"{org} Root CA", org)
    root = _ca_cert(root_name, root_key, root_name, root_key, None, _ROOT_NOT_AFTER)
    root_ca = _Authority(root, root_key)
    inter_key = cached_key("ec256", f"{label}-intermediate", cache_dir)
    inter_name = _name(f"{org} Issuing CA 1", org)
    inter = _ca_cert(inter_name, inter_key, root_name, root_key, 0, _INTERMEDIATE_NOT_AFTER)
    return root_ca, _Authority(inter, inter_key)


def _ca_cert(
    subject: x509.Name,
    key: PrivateKey,
    issuer: x509.Name,
    issuer_key: PrivateKey,
    path_length: int | None,
    not_after: dt.datetime,
) -> x509.Certificate:
    builder = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(issuer)
        .public_key(key.public_key())
        # A serial derived from the subject keeps the certificate identical across runs.
        .serial_number(_serial(subject.rfc4514_string().encode()))
        .not_valid_before(_CA_NOT_BEFORE)
        .not_valid_after(not_after)
        .add_extension(x509.BasicConstraints(ca=True, path_length=path_length), critical=True)
        .add_extension(_key_usage(cert_sign=True), critical=True)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), False)
    )
    if issuer != subject:
        aki = x509.AuthorityKeyIdentifier.from_issuer_public_key(issuer_key.public_key())
        builder = builder.add_extension(aki, critical=False)
    return _sign(builder, issuer_key, hashes.SHA384())


# ---------------------------------------------------------------- leaf certificates


def _leaf(
    names: Sequence[str],
    spec: CertSpec,
    key: PrivateKey,
    issuer: _Authority | None,
    now: dt.datetime,
) -> x509.Certificate:
    dns_names = WRONG_HOST_NAMES if spec.status == CertStatus.WRONG_HOST else tuple(names)
    subject = _leaf_subject(dns_names[0])
    not_before, not_after = _validity(spec, now)
    issuer_name = subject if issuer is None else issuer.cert.subject
    issuer_key = key if issuer is None else issuer.key
    # The serial is a hash (RFC 5280 wants it unpredictable; a hash of everything that
    # shapes the cert is unique per issuer and repeatable within the day).
    seed = f"{issuer_name.rfc4514_string()}|{_fingerprint(names, spec)}|{not_before}"
    is_rsa = isinstance(key, rsa.RSAPrivateKey)
    builder = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(issuer_name)
        .public_key(key.public_key())
        .serial_number(_serial(seed.encode()))
        .not_valid_before(not_before)
        .not_valid_after(not_after)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        # keyEncipherment only for RSA keys: static-RSA key exchange needs it, EC keys can't.
        .add_extension(_key_usage(key_encipherment=is_rsa), critical=True)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        # An empty subject (a name too long for a CN) makes the SAN critical (RFC 5280 4.2.1.6).
        .add_extension(
            x509.SubjectAlternativeName([x509.DNSName(n) for n in dns_names]),
            critical=len(subject) == 0,
        )
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(issuer_key.public_key()), False
        )
    )
    digest = hashes.SHA1() if spec.signature == "sha1" else hashes.SHA256()
    return _sign(builder, issuer_key, digest)


def _validity(spec: CertSpec, now: dt.datetime) -> tuple[dt.datetime, dt.datetime]:
    """notBefore and notAfter, stable for the whole UTC day of `now`.

    notAfter is the next UTC midnight plus days_left days, so a scanner computing the days
    left on any moment of the day gets exactly days_left.
    """
    midnight = now.replace(hour=0, minute=0, second=0, microsecond=0) + _DAY
    if spec.status == CertStatus.EXPIRED:
        days = spec.days_left if spec.days_left < 0 else _EXPIRED_DEFAULT_DAYS
        not_after = midnight + days * _DAY
        return not_after - 365 * _DAY, not_after
    if spec.days_left < 0:
        raise LabError(
            "days_left %(days)s puts notAfter in the past on a %(status)s certificate; "
            "use status: expired",
            days=spec.days_left,
            status=spec.status.value,
        )
    not_after = midnight + spec.days_left * _DAY
    if spec.status == CertStatus.NOT_YET_VALID:
        not_before = midnight + _NOT_YET_VALID_DAYS * _DAY
        return not_before, max(not_after, not_before + 365 * _DAY)
    # A day of slack before now: a client clock slightly behind still sees a valid cert.
    return midnight - 2 * _DAY, not_after


def _leaf_subject(name: str) -> x509.Name:
    if len(name) > _CN_MAX:
        return x509.Name([])
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])


# ---------------------------------------------------------------- helpers


def _name(common_name: str, org: str) -> x509.Name:
    return x509.Name(
        [
            x509.NameAttribute(NameOID.COUNTRY_NAME, "NO"),
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, org),
            x509.NameAttribute(NameOID.COMMON_NAME, common_name),
        ]
    )


def _key_usage(*, cert_sign: bool = False, key_encipherment: bool = False) -> x509.KeyUsage:
    return x509.KeyUsage(
        digital_signature=True,
        content_commitment=False,
        key_encipherment=key_encipherment,
        data_encipherment=False,
        key_agreement=False,
        key_cert_sign=cert_sign,
        crl_sign=cert_sign,
        encipher_only=False,
        decipher_only=False,
    )


def _sign(builder: x509.CertificateBuilder, key: PrivateKey, digest: _Digest) -> x509.Certificate:
    if isinstance(digest, hashes.SHA1):
        return _sign_sha1(builder, key)
    if isinstance(key, ec.EllipticCurvePrivateKey):
        # Deterministic ECDSA (RFC 6979): same inputs, same certificate bytes.
        return builder.sign(key, digest, ecdsa_deterministic=True)
    return builder.sign(key, digest)  # PKCS#1 v1.5 is deterministic already


# DER AlgorithmIdentifiers of the SHA-1 signature algorithms (RFC 3279).
_SHA1_WITH_RSA = bytes.fromhex("300d06092a864886f70d0101050500")  # 1.2.840.113549.1.1.5, NULL
_ECDSA_WITH_SHA1 = bytes.fromhex("300906072a8648ce3d0401")  # 1.2.840.10045.4.1


def _sign_sha1(builder: x509.CertificateBuilder, key: PrivateKey) -> x509.Certificate:
    """A SHA-1 signed certificate, which cryptography (≥ 46) refuses to build.

    The certificate is built with SHA-256, then its TBSCertificate gets the SHA-1 algorithm
    identifier and is signed by hand: Certificate ::= SEQUENCE { tbs, algorithm, signature }.
    """
    draft = _sign(builder, key, hashes.SHA256())
    if isinstance(key, ec.EllipticCurvePrivateKey):
        algorithm = _ECDSA_WITH_SHA1
        tbs = _with_signature_algorithm(draft.tbs_certificate_bytes, algorithm)
        signature = key.sign(tbs, ec.ECDSA(hashes.SHA1(), deterministic_signing=True))
    else:
        algorithm = _SHA1_WITH_RSA
        tbs = _with_signature_algorithm(draft.tbs_certificate_bytes, algorithm)
        signature = key.sign(tbs, padding.PKCS1v15(), hashes.SHA1())
    bit_string = _der(0x03, b"\x00" + signature)  # no unused bits
    return x509.load_der_x509_certificate(_der(0x30, tbs + algorithm + bit_string))


def _with_signature_algorithm(tbs: bytes, algorithm: bytes) -> bytes:
    """The TBSCertificate with its third field (`signature` AlgorithmIdentifier) replaced."""
    _, end = _der_span(tbs, 0)
    content_start = end - _der_length(tbs, 0)
    version = _der_span(tbs, content_start)  # [0] EXPLICIT version: always v3 here
    serial = _der_span(tbs, version[1])
    old = _der_span(tbs, serial[1])
    content = tbs[content_start : old[0]] + algorithm + tbs[old[1] : end]
    return _der(0x30, content)


def _der_length(data: bytes, offset: int) -> int:
    """The content length of the DER element at `offset` (low tag numbers only)."""
    first = data[offset + 1]
    if first < 0x80:
        return first
    count = first & 0x7F
    return int.from_bytes(data[offset + 2 : offset + 2 + count], "big")


def _der_span(data: bytes, offset: int) -> tuple[int, int]:
    """(start, end) of the whole DER element at `offset`."""
    first = data[offset + 1]
    header = 2 if first < 0x80 else 2 + (first & 0x7F)
    return offset, offset + header + _der_length(data, offset)


def _der(tag: int, content: bytes) -> bytes:
    size = len(content)
    if size < 0x80:
        return bytes([tag, size]) + content
    raw = size.to_bytes((size.bit_length() + 7) // 8, "big")
    return bytes([tag, 0x80 | len(raw)]) + raw + content


def _serial(seed: bytes) -> int:
    # 127 bits: positive, non-zero and within the 20 octets RFC 5280 allows.
    return (int.from_bytes(hashlib.sha256(seed).digest()[:16], "big") >> 1) | 1


def _fingerprint(names: Sequence[str], spec: CertSpec) -> str:
    return hashlib.sha256(f"{list(names)}|{spec.model_dump_json()}".encode()).hexdigest()


def _file_safe(name: str) -> str:
    return re.sub(r"[^a-z0-9.-]", "_", name.lower())[:80]


def _pem(cert: x509.Certificate) -> bytes:
    return cert.public_bytes(serialization.Encoding.PEM)


def _write_private(path: Path, data: bytes) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as handle:
        handle.write(data)


def _utc_now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)
