"""What one service of a lab host is configured to serve, protocol by protocol: its TLS
profile and certificate, its HTTP virtual host and its SSH logins and host keys.

Part of the lab manifest (`manifest`), which puts these on services; kept apart because the
lab's servers (`tls`, `ca`, `http`, `ssh`) and the ground truth (`expected`) read them.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


# ---------------------------------------------------------------- TLS


class TlsVersion(StrEnum):
    SSL3 = "ssl3"
    TLS10 = "tls1.0"
    TLS11 = "tls1.1"
    TLS12 = "tls1.2"
    TLS13 = "tls1.3"


class CipherClass(StrEnum):
    """Classes of TLS 1.0–1.2 cipher suites a server offers (TLS 1.3 suites are all AEAD)."""

    AEAD = "aead"  # ECDHE/DHE with AES-GCM or ChaCha20-Poly1305
    CBC = "cbc"  # ECDHE/DHE with AES-CBC
    RSA_KEX = "rsa_kex"  # static RSA key exchange: no forward secrecy
    RC4 = "rc4"
    TRIPLE_DES = "3des"  # 64-bit block cipher (Sweet32)
    NULL = "null"  # no encryption
    ANON = "anon"  # no authentication (ADH/AECDH)


LEGACY_CIPHERS = frozenset({CipherClass.RC4, CipherClass.TRIPLE_DES})


class CertStatus(StrEnum):
    VALID = "valid"
    EXPIRED = "expired"
    NOT_YET_VALID = "not_yet_valid"
    SELF_SIGNED = "self_signed"
    UNKNOWN_ISSUER = "unknown_issuer"  # signed by a CA the scanner is not told to trust
    WRONG_HOST = "wrong_host"  # names another host


class CertKey(StrEnum):
    EC256 = "ec256"
    EC384 = "ec384"
    RSA1024 = "rsa1024"
    RSA2048 = "rsa2048"
    RSA4096 = "rsa4096"


class CertSpec(Strict):
    status: CertStatus = CertStatus.VALID
    key: CertKey = CertKey.EC256
    signature: Literal["sha256", "sha1"] = "sha256"
    chain: Literal["full", "missing_intermediate"] = "full"
    # Days from now until notAfter; a small value makes an "expiring soon" certificate.
    days_left: int = Field(default=200, ge=-3650, le=3650)


class TlsSpec(Strict):
    versions: tuple[TlsVersion, ...] = (TlsVersion.TLS12, TlsVersion.TLS13)
    ciphers: tuple[CipherClass, ...] = (CipherClass.AEAD,)
    cert: CertSpec = CertSpec()
    # Finite-field DHE beside ECDHE, with the AEAD and CBC classes at TLS ≤ 1.2 (DHE-RSA, so
    # an RSA certificate): 1024 bits is RFC 2409's Oakley group 2, the prime Logjam found
    # most used; 2048 bits is RFC 7919's ffdhe2048. None: no DHE, as before.
    dhe: Literal[1024, 2048] | None = None

    @property
    def legacy(self) -> bool:
        """True when only tlslite-ng can serve this profile (the system OpenSSL cannot)."""
        return TlsVersion.SSL3 in self.versions or bool(LEGACY_CIPHERS & set(self.ciphers))

    @model_validator(mode="after")
    def _consistent(self) -> TlsSpec:
        if not self.versions:
            raise ValueError("versions: at least one TLS version is needed")
        pre13 = [v for v in self.versions if v != TlsVersion.TLS13]
        if pre13 and not self.ciphers:
            raise ValueError("ciphers: needed when a version below TLS 1.3 is offered")
        if CipherClass.RSA_KEX in self.ciphers and not self.cert.key.startswith("rsa"):
            raise ValueError("ciphers: rsa_kex (static RSA key exchange) needs an RSA cert key")
        if self.legacy and TlsVersion.TLS13 in self.versions:
            raise ValueError("a legacy profile (SSLv3, RC4 or 3DES) cannot also offer TLS 1.3")
        if self.dhe is not None:
            self._dhe_servable(bool(pre13))
        return self

    def _dhe_servable(self, pre13: bool) -> None:
        if not self.cert.key.startswith("rsa"):
            raise ValueError("dhe: DHE-RSA suites need an RSA cert key")
        if not pre13 or not {CipherClass.AEAD, CipherClass.CBC} & set(self.ciphers):
            raise ValueError("dhe: needs TLS 1.2 or lower with the aead or cbc class")
        if self.legacy:
            raise ValueError("dhe: not served by the legacy (tlslite-ng) profile")


# ---------------------------------------------------------------- HTTP


class ScriptRef(Strict):
    """A <script src> (or a stylesheet) in the home page."""

    src: str
    integrity: bool = False
    kind: Literal["script", "style"] = "script"


class SecurityTxt(StrEnum):
    VALID = "valid"
    EXPIRED = "expired"
    MISSING = "missing"


class Exposure(StrEnum):
    GIT = "git"  # /.git/HEAD
    ENV = "env"  # /.env
    DIRECTORY_LISTING = "directory_listing"  # /backup/


class HttpSpec(Strict):
    """What one HTTP(S) virtual host answers. Header values are served verbatim."""

    server: str | None = "nginx"
    powered_by: str | None = None
    # A Location served with 301 for every path (the http→https redirect, or a chain hop).
    redirect: str | None = None
    hsts: str | None = None
    csp: str | None = None
    x_frame_options: str | None = None
    x_content_type_options: str | None = None
    referrer_policy: str | None = None
    x_xss_protection: str | None = None
    cookies: tuple[str, ...] = ()
    title: str = ""
    scripts: tuple[ScriptRef, ...] = ()
    mixed_content: bool = False  # the page loads an http:// image
    login_form: bool = False
    generator: str | None = None  # <meta name="generator">, e.g. "WordPress 5.8.1"
    security_txt: SecurityTxt = SecurityTxt.MISSING
    exposed: tuple[Exposure, ...] = ()
    # Answers 200 with the home page to every path: a trap for naive path checks.
    catch_all: bool = False


# ---------------------------------------------------------------- SSH

SshAuth = Literal["publickey", "password", "keyboard-interactive"]
SshHostKey = Literal["ed25519", "ecdsa256", "rsa1024", "rsa2048", "rsa3072", "dsa1024"]


class SshSpec(Strict):
    """An SSH server's logins and host keys. Its algorithms are the defaults of the OpenSSH
    release its banner names (`lab.ssh.release_algorithms`)."""

    # The methods a `none` login is told may continue: sshd's PubkeyAuthentication,
    # PasswordAuthentication and KbdInteractiveAuthentication. Every attempt fails.
    auth: tuple[SshAuth, ...] = ("publickey",)
    # What OpenSSH generates on installation: RSA 3072, ECDSA P-256 and Ed25519.
    host_keys: tuple[SshHostKey, ...] = ("rsa3072", "ecdsa256", "ed25519")
    # The identification line of the release whose default algorithms are offered, when
    # it is not the banner's: a newer sshd configured with an older release's lists, as
    # the real tier's OpenSSH 9.2 serves a manifest naming OpenSSH 7.4. None: the banner's.
    algorithms_of: str | None = None

    @model_validator(mode="after")
    def _consistent(self) -> SshSpec:
        for field, values in (("auth", self.auth), ("host_keys", self.host_keys)):
            if not values or len(set(values)) != len(values):
                raise ValueError(f"{field}: at least one, each once")
        if sum(k.startswith("rsa") for k in self.host_keys) > 1:
            raise ValueError("host_keys: one RSA key at most, as sshd loads one of a kind")
        return self
