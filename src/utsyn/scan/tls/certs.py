"""Certificate chains as served: is the chain trusted, for this host, today, and how strong?

The trust decision is made here rather than by OpenSSL or by `cryptography`'s web-PKI
verifier: the verifier refuses SHA-1 signatures and RSA-1024 keys outright, while Utsyn
reports those as their own facts (`tls.cert.signature`, `tls.cert.key`) on a chain whose
trust is judged separately. Path building is plain RFC 5280 chaining: issuer name match and
a verifying signature, from the leaf towards a trust anchor.

Trust anchors are the system store (the OpenSSL default file compiled into the library,
never SSL_CERT_FILE, which is set globally on these machines) plus `ScanConfig.ca_file`.

Status precedence, when a chain has more than one problem (the lab never combines them):
trust first, because an untrusted chain makes every other field attacker-chosen, then time,
then name:

    self_signed > unknown_issuer > incomplete_chain > expired > not_yet_valid > wrong_host

- self_signed: the leaf is self-issued, verifies with its own key, and is not a trust anchor.
- unknown_issuer: the path ends at a self-signed root that is not a trust anchor, or at an
  issuer whose name a trust anchor carries but whose signature no anchor makes.
- incomplete_chain: the path ends at a certificate whose issuer was neither served nor is
  a trust anchor (a missing intermediate: OpenSSL error 20).
- expired / not_yet_valid: any certificate on the trusted path is outside its validity.
- wrong_host: no subjectAltName dNSName (or, without any, the subject CN) matches the host.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import ipaddress
import ssl
import warnings
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

from cryptography import x509
from cryptography.exceptions import InvalidSignature, UnsupportedAlgorithm
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import dsa, ec, ed448, ed25519, rsa
from cryptography.hazmat.primitives.asymmetric.padding import PSS, PKCS1v15
from cryptography.hazmat.primitives.asymmetric.types import CertificatePublicKeyTypes
from cryptography.utils import CryptographyDeprecationWarning
from cryptography.x509.oid import NameOID, SignatureAlgorithmOID

EXPIRING_SOON_DAYS = 30
MAX_PATH = 8  # certificates on a path; real chains have 2 to 4


@dataclass(frozen=True)
class CertReport:
    status: str  # valid, expired, not_yet_valid, self_signed, unknown_issuer, ...
    reason: str  # why, in words, for the evidence
    key: str  # ec256, rsa2048, ed25519, ...
    signature: str  # the leaf's signature hash: sha256, sha1, ...
    days_left: int  # whole days until the leaf's notAfter; negative once expired
    subject: str
    issuer: str
    not_after: str
    chain_length: int
    fingerprint: str  # SHA-256 of the leaf's DER, to tell one certificate from another
    names: tuple[str, ...] = ()  # the leaf's DNS names: footprint discovery learns from them

    @property
    def expiring_soon(self) -> bool:
        return 0 <= self.days_left < EXPIRING_SOON_DAYS

    def evidence(self) -> str:
        return (
            f"subject {self.subject}; issuer {self.issuer}; notAfter {self.not_after} "
            f"({self.days_left} days); sha256 {self.fingerprint}; {self.chain_length} served; "
            f"{self.reason}"
        )


class TrustStore:
    """Trust anchors, indexed by subject name for path building."""

    def __init__(self, anchors: Iterable[x509.Certificate]) -> None:
        self._by_subject: dict[bytes, list[x509.Certificate]] = {}
        for anchor in anchors:
            self._by_subject.setdefault(anchor.subject.public_bytes(), []).append(anchor)

    def __len__(self) -> int:
        return sum(len(v) for v in self._by_subject.values())

    def named(self, name: x509.Name) -> list[x509.Certificate]:
        return self._by_subject.get(name.public_bytes(), [])

    def issuer_of(self, cert: x509.Certificate) -> x509.Certificate | None:
        return next((a for a in self.named(cert.issuer) if issued_by(cert, a)), None)


@lru_cache(maxsize=8)
def trust_store(extra: Path | None = None) -> TrustStore:
    """The system anchors plus `extra` (a PEM file); loaded once per file."""
    anchors = list(_system_anchors())
    if extra is not None:
        anchors.extend(x509.load_pem_x509_certificates(extra.read_bytes()))
    return TrustStore(anchors)


def _system_anchors() -> list[x509.Certificate]:
    # openssl_cafile is the path compiled into OpenSSL; `cafile` would honour SSL_CERT_FILE.
    path = Path(ssl.get_default_verify_paths().openssl_cafile)
    if not path.is_file():
        return []
    with warnings.catch_warnings():
        # A few system roots have a non-positive serial: still anchors, just old.
        warnings.simplefilter("ignore", CryptographyDeprecationWarning)
        return x509.load_pem_x509_certificates(path.read_bytes())


def issued_by(cert: x509.Certificate, issuer: x509.Certificate) -> bool:
    """`issuer`'s name is `cert`'s issuer and its key verifies `cert`'s signature.

    Checked by hand: `verify_directly_issued_by` rejects SHA-1 ECDSA signatures
    ("Unsupported signature algorithm"), and a SHA-1 chain must still be judged.
    """
    if cert.issuer != issuer.subject:
        return False
    try:
        return _verifies(cert, issuer.public_key())
    except (ValueError, TypeError, InvalidSignature, UnsupportedAlgorithm):
        return False


def _verifies(cert: x509.Certificate, key: CertificatePublicKeyTypes) -> bool:
    signature, data = cert.signature, cert.tbs_certificate_bytes
    digest = cert.signature_hash_algorithm
    # signature_algorithm_parameters is None for SHA-1 ECDSA: build the scheme from the hash.
    parameters = cert.signature_algorithm_parameters
    if isinstance(key, rsa.RSAPublicKey):
        scheme = parameters if isinstance(parameters, PSS) else PKCS1v15()
        key.verify(signature, data, scheme, _required(digest))
    elif isinstance(key, ec.EllipticCurvePublicKey):
        key.verify(signature, data, ec.ECDSA(_required(digest)))
    elif isinstance(key, ed25519.Ed25519PublicKey | ed448.Ed448PublicKey):
        key.verify(signature, data)
    elif isinstance(key, dsa.DSAPublicKey):
        key.verify(signature, data, _required(digest))
    else:
        return False  # a key that cannot make this certificate's kind of signature
    return True


def _required(digest: hashes.HashAlgorithm | None) -> hashes.HashAlgorithm:
    if digest is None:
        raise ValueError("the signature names no hash")
    return digest


def self_signed(cert: x509.Certificate) -> bool:
    return cert.issuer == cert.subject and issued_by(cert, cert)


# ---------------------------------------------------------------- classification


def classify(
    chain: Sequence[bytes], host: str, store: TrustStore, now: dt.datetime | None = None
) -> CertReport:
    """The report on a served chain (DER, leaf first). Raises ValueError on a bad leaf."""
    if not chain:
        raise ValueError("no certificate was served")
    certs = [x509.load_der_x509_certificate(chain[0]), *_parse_rest(chain[1:])]
    leaf = certs[0]
    moment = now or dt.datetime.now(dt.UTC)
    status, reason = _status(certs, host, store, moment)
    return CertReport(
        status=status,
        reason=reason,
        key=key_label(leaf),
        signature=signature_label(leaf),
        days_left=(leaf.not_valid_after_utc - moment).days,
        subject=leaf.subject.rfc4514_string() or "(empty)",
        issuer=leaf.issuer.rfc4514_string(),
        not_after=leaf.not_valid_after_utc.isoformat(),
        chain_length=len(chain),
        fingerprint=hashlib.sha256(chain[0]).hexdigest(),
        names=dns_names(leaf),
    )


MAX_NAMES = 100  # a certificate listing thousands of names is not ours to store whole


def dns_names(cert: x509.Certificate) -> tuple[str, ...]:
    try:
        san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    except (x509.ExtensionNotFound, ValueError):
        return ()
    return tuple(sorted({str(n).lower() for n in san.get_values_for_type(x509.DNSName)}))[
        :MAX_NAMES
    ]


def _parse_rest(chain: Sequence[bytes]) -> list[x509.Certificate]:
    """The served CA certificates; one that does not parse cannot help a path and is skipped."""
    parsed = []
    for der in chain[:MAX_PATH]:
        try:
            parsed.append(x509.load_der_x509_certificate(der))
        except ValueError:
            continue
    return parsed


def _status(
    certs: list[x509.Certificate], host: str, store: TrustStore, now: dt.datetime
) -> tuple[str, str]:
    trust, path = _trust(certs, store)
    if trust is not None:
        return trust
    for cert in path:
        if now > cert.not_valid_after_utc:
            return "expired", f"{_cn(cert)} expired on {cert.not_valid_after_utc:%Y-%m-%d}"
        if now < cert.not_valid_before_utc:
            return (
                "not_yet_valid",
                f"{_cn(cert)} is valid from {cert.not_valid_before_utc:%Y-%m-%d}",
            )
    names = presented_names(certs[0])
    if not matches_host(names, host):
        return "wrong_host", f"{host} is not among {', '.join(names) or 'no names'}"
    return "valid", f"trusted via {_cn(path[-1])}"


def _trust(
    certs: list[x509.Certificate], store: TrustStore
) -> tuple[tuple[str, str] | None, list[x509.Certificate]]:
    """(a trust problem or None, the path from the leaf up to and including its anchor)."""
    leaf, pool = certs[0], certs[1:]
    path = [leaf]
    current = leaf
    for _ in range(MAX_PATH):
        anchor = store.issuer_of(current)
        if anchor is not None:
            return None, [*path, anchor]
        if self_signed(current):
            if current is leaf:
                return ("self_signed", "the leaf signs itself and is not trusted"), path
            return ("unknown_issuer", f"the chain ends at an untrusted root, {_cn(current)}"), path
        parent = next((c for c in pool if issued_by(current, c)), None)
        if parent is None:
            return _dead_end(current, store), path
        pool.remove(parent)
        path.append(parent)
        current = parent
    return ("unknown_issuer", f"no trusted path within {MAX_PATH} certificates"), path


def _dead_end(cert: x509.Certificate, store: TrustStore) -> tuple[str, str]:
    """Why a path stops at `cert`, whose issuer is neither served nor a verifying anchor."""
    missing = cert.issuer.rfc4514_string()
    if store.named(cert.issuer):
        return "unknown_issuer", f"{_cn(cert)} names the anchor {missing} but it did not sign it"
    return "incomplete_chain", f"the issuer {missing} was not served and is not trusted"


# ---------------------------------------------------------------- host names (RFC 6125)


def presented_names(cert: x509.Certificate) -> list[str]:
    """The DNS-IDs and IP addresses of a certificate; the CN only when it has no DNS-ID."""
    try:
        san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    except x509.ExtensionNotFound:
        san = x509.SubjectAlternativeName([])
    names = [n.lower() for n in san.get_values_for_type(x509.DNSName)]
    addresses = [str(a) for a in san.get_values_for_type(x509.IPAddress)]
    if not names:  # RFC 6125 6.4.4: the CN is consulted only without a DNS-ID
        names = [
            str(a.value).lower() for a in cert.subject.get_attributes_for_oid(NameOID.COMMON_NAME)
        ]
    return names + addresses


def matches_host(names: Iterable[str], host: str) -> bool:
    reference = host.lower().rstrip(".")
    try:
        address = ipaddress.ip_address(reference)
    except ValueError:
        return any(_dns_match(n.rstrip("."), reference) for n in names)
    return any(n == str(address) for n in names)


def _dns_match(pattern: str, reference: str) -> bool:
    """RFC 6125 6.4.3, as browsers apply it: a wildcard is the whole left-most label,
    matches exactly one label, and needs two labels after it ("*.example.no", not "*.no")."""
    if not pattern.startswith("*."):
        return pattern == reference
    suffix = pattern[2:]
    if "*" in suffix or suffix.count(".") < 1:
        return False
    label, _, rest = reference.partition(".")
    return bool(label) and rest == suffix


# ---------------------------------------------------------------- key and signature


def key_label(cert: x509.Certificate) -> str:
    key = cert.public_key()
    if isinstance(key, rsa.RSAPublicKey):
        return f"rsa{key.key_size}"
    if isinstance(key, ec.EllipticCurvePublicKey):
        return f"ec{key.curve.key_size}"
    if isinstance(key, dsa.DSAPublicKey):
        return f"dsa{key.key_size}"
    if isinstance(key, ed25519.Ed25519PublicKey):
        return "ed25519"
    if isinstance(key, ed448.Ed448PublicKey):
        return "ed448"
    return type(key).__name__.lower()


def signature_label(cert: x509.Certificate) -> str:
    """The hash of the leaf's signature ("sha256", "sha1"); EdDSA names its own algorithm."""
    try:
        algorithm = cert.signature_hash_algorithm
    except UnsupportedAlgorithm:
        return cert.signature_algorithm_oid.dotted_string
    if algorithm is None:
        return _EDDSA.get(cert.signature_algorithm_oid, cert.signature_algorithm_oid.dotted_string)
    return algorithm.name


_EDDSA = {SignatureAlgorithmOID.ED25519: "ed25519", SignatureAlgorithmOID.ED448: "ed448"}


def _cn(cert: x509.Certificate) -> str:
    names = cert.subject.get_attributes_for_oid(NameOID.COMMON_NAME)
    return str(names[0].value) if names else cert.subject.rfc4514_string() or "(empty subject)"
