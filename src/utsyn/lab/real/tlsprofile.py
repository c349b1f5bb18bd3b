"""A manifest's TLS profile as a real web server's settings, from Mozilla's guidelines.

Administrators configure nginx and Apache httpd from Mozilla's server-side TLS guidelines
(`utsyn/data/tls/mozilla-guidelines-5.7.json`, MPL-2.0), so the real tier does the same
wherever a manifest's `TlsSpec` is one of them: same versions, and Mozilla's suites (those
the certificate's key can use) fall into exactly the spec's cipher classes. Mozilla's DHE
suites stay only when the spec asks for DHE with the guideline's group size: nginx never
offers DHE without `ssl_dhparam`, but Apache httpd would, with a group of its own choice.
Any other profile is served with the suites the Python tier uses for it (`lab.tls`), so
both tiers offer the same classes either way.

In 5.7, `modern` (TLS 1.3 only, ECDSA certificate) and `intermediate` (TLS 1.2 and 1.3,
ECDHE/DHE with AEAD) can be served; `old` cannot: it offers 3DES, which Debian's OpenSSL
3.0 has no more, and a manifest cannot ask for 3DES beside TLS 1.3 anyway.

What a real server cannot serve at all (SSLv3, RC4, 3DES) is `refusal`'s to say; the
profile then stays on the Python tier's tlslite-ng server.
"""

from __future__ import annotations

import functools
import json
from dataclasses import dataclass
from importlib.resources import files
from typing import Any

from cryptography.hazmat.primitives.asymmetric import dh
from cryptography.hazmat.primitives.serialization import Encoding, ParameterFormat

from utsyn.errors import LabError
from utsyn.lab.ca import Credentials
from utsyn.lab.specs import CipherClass, TlsSpec, TlsVersion
from utsyn.lab.tls import DH_PRIMES, KeyFamily, needs_seclevel0, openssl_suites

GUIDELINES = "mozilla-guidelines-5.7.json"

# OpenSSL's protocol names, as nginx's ssl_protocols and Apache's SSLProtocol spell them.
PROTOCOL_NAMES: dict[TlsVersion, str] = {
    TlsVersion.TLS10: "TLSv1",
    TlsVersion.TLS11: "TLSv1.1",
    TlsVersion.TLS12: "TLSv1.2",
    TlsVersion.TLS13: "TLSv1.3",
}
ORDER = (TlsVersion.TLS10, TlsVersion.TLS11, TlsVersion.TLS12, TlsVersion.TLS13)


@dataclass(frozen=True)
class TlsSettings:
    """What a web server's TLS directives say for one site."""

    profile: str | None  # "modern" / "intermediate": Mozilla's; None: the lab's own suites
    protocols: tuple[str, ...]  # OpenSSL names, lowest first
    ciphers: str  # an OpenSSL cipher string for TLS ≤ 1.2, with @SECLEVEL=0 where needed
    curves: tuple[str, ...]  # () for OpenSSL's default groups
    dh_bits: int | None  # the finite-field DHE group to load, if any
    prefer_server_ciphers: bool


def refusal(spec: TlsSpec) -> str | None:
    """Why OpenSSL 3.0 (nginx's and Apache's) cannot serve `spec`, or None."""
    if TlsVersion.SSL3 in spec.versions:
        return "SSLv3: Debian's OpenSSL 3.0 is built without it"
    legacy = sorted(c.value for c in spec.ciphers if c in (CipherClass.RC4, CipherClass.TRIPLE_DES))
    if legacy:
        return f"cipher classes {', '.join(legacy)}: Debian's OpenSSL 3.0 has no such suites"
    try:
        openssl_suites(spec, family_of(spec))
    except LabError as exc:
        return str(exc)  # a profile no TLS server can honour (the Python tier says so too)
    return None


def family_of(spec: TlsSpec) -> KeyFamily:
    return "rsa" if spec.cert.key.startswith("rsa") else "ec"


def tls_settings(spec: TlsSpec, creds: Credentials) -> TlsSettings:
    """The settings serving exactly `spec` with `creds` (whose key is `spec.cert.key`)."""
    family = family_of(spec)
    protocols = tuple(PROTOCOL_NAMES[v] for v in ORDER if v in spec.versions)
    level0 = ":@SECLEVEL=0" if needs_seclevel0(spec, creds) else ""
    for name, config in _guidelines().items():
        suites = mozilla_suites(spec, family, config)
        if suites is not None:
            # Mozilla's modern profile names no TLS ≤ 1.2 suites; OpenSSL refuses an empty list.
            chosen = suites or openssl_suites(spec, family)
            return TlsSettings(
                profile=name,
                protocols=protocols,
                ciphers=":".join(chosen) + level0,
                curves=tuple(config["tls_curves"]),
                dh_bits=spec.dhe,
                prefer_server_ciphers=bool(config["server_preferred_order"]),
            )
    return TlsSettings(
        profile=None,
        protocols=protocols,
        ciphers=":".join(openssl_suites(spec, family)) + level0,
        curves=(),
        dh_bits=spec.dhe,
        prefer_server_ciphers=True,
    )


def mozilla_suites(spec: TlsSpec, family: KeyFamily, config: dict[str, Any]) -> list[str] | None:
    """The guideline's suites serving `spec`, or None when `spec` is not this guideline."""
    versions = {v for v, name in PROTOCOL_NAMES.items() if name in config["tls_versions"]}
    if set(spec.versions) != versions:
        return None
    if {"rsa": "rsa", "ec": "ecdsa"}[family] not in config["certificate_types"]:
        return None
    suites = [s for s in config["ciphers"]["openssl"] if _usable(s, family)]
    dhe = [s for s in suites if s.startswith("DHE-")]
    if spec.dhe is None:
        suites = [s for s in suites if s not in dhe]
    elif spec.dhe != config["dh_param_size"] or not dhe:
        return None
    if versions - {TlsVersion.TLS13} and {suite_class(s) for s in suites} != set(spec.ciphers):
        return None
    return suites


def suite_class(name: str) -> CipherClass:
    """The cipher class of a TLS ≤ 1.2 suite by its OpenSSL name."""
    if "NULL" in name:
        return CipherClass.NULL
    if name.startswith(("ADH-", "AECDH-")):
        return CipherClass.ANON
    if "RC4" in name:
        return CipherClass.RC4
    if "DES-CBC3" in name:
        return CipherClass.TRIPLE_DES
    if not name.startswith(("ECDHE-", "DHE-")):
        return CipherClass.RSA_KEX  # static RSA key exchange, whatever the cipher
    return CipherClass.AEAD if "GCM" in name or "CHACHA20" in name else CipherClass.CBC


def _usable(name: str, family: KeyFamily) -> bool:
    """Whether a certificate of `family` can serve the suite (ECDSA suites need an EC key)."""
    return ("-ECDSA-" in name) == (family == "ec")


def dh_params_pem(bits: int) -> bytes:
    """The fixed DHE group the Python tier serves for `bits` (RFC 2409 / RFC 7919), as PEM."""
    numbers = dh.DHParameterNumbers(DH_PRIMES[bits], 2)
    return numbers.parameters().parameter_bytes(Encoding.PEM, ParameterFormat.PKCS3)


@functools.cache
def _guidelines() -> dict[str, dict[str, Any]]:
    text = files("utsyn.data").joinpath("tls", GUIDELINES).read_text(encoding="utf-8")
    configurations: dict[str, dict[str, Any]] = json.loads(text)["configurations"]
    return configurations
