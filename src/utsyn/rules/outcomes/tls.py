"""TLS and certificates (`scan.tls`, on HTTPS and on mail after STARTTLS)."""

from __future__ import annotations

from collections.abc import Iterator, Mapping

from utsyn.rules.outcomes.model import Hit, Outcome
from utsyn.rules.outcomes.view import TargetView, hit

_VERSION_OUTCOMES = {
    "tls.version.ssl3": Outcome.TLS_SSL3,
    "tls.version.tls1.0": Outcome.TLS_TLS10,
    "tls.version.tls1.1": Outcome.TLS_TLS11,
}
_CIPHER_OUTCOMES = {
    "tls.cipher.rc4": Outcome.TLS_RC4,
    "tls.cipher.3des": Outcome.TLS_3DES,
    "tls.cipher.null": Outcome.TLS_NULL,
    "tls.cipher.anon": Outcome.TLS_ANON,
    "tls.cipher.rsa_kex": Outcome.TLS_NO_FS,
}
_CERT_STATUS = {
    "valid": Outcome.CERT_VALID,
    "expired": Outcome.CERT_EXPIRED,
    "not_yet_valid": Outcome.CERT_NOT_YET_VALID,
    "self_signed": Outcome.CERT_SELF_SIGNED,
    "unknown_issuer": Outcome.CERT_UNTRUSTED,
    "wrong_host": Outcome.CERT_WRONG_HOST,
    "incomplete_chain": Outcome.CERT_INCOMPLETE_CHAIN,
}


def _offered(view: TargetView, asset: str, table: Mapping[str, Outcome]) -> list[Hit]:
    """A hit for each check of `table` that `asset` answered yes (a version, a suite)."""
    checks = view.assets[asset]
    return [hit(out, asset, checks[c]) for c, out in table.items() if view.value(asset, c) is True]


def tls_protocols(view: TargetView) -> Iterator[Hit]:
    for asset, o in view.assets_with("tls.version.tls1.3"):
        old = _offered(view, asset, _VERSION_OUTCOMES)
        yield from old
        if o.value is not True:
            yield hit(Outcome.TLS_NO_TLS13, asset, o)
        elif not old:
            yield hit(Outcome.TLS_MODERN, asset, o)


def tls_ciphers(view: TargetView) -> Iterator[Hit]:
    for asset, aead in view.assets_with("tls.cipher.aead"):
        weak = _offered(view, asset, _CIPHER_OUTCOMES)
        yield from weak
        cbc_only = view.value(asset, "tls.cipher.cbc") is True and aead.value is not True
        if cbc_only:
            yield hit(Outcome.TLS_CBC_ONLY, asset, view.assets[asset]["tls.cipher.cbc"])
        if not weak and not cbc_only:
            yield hit(Outcome.TLS_CIPHERS_OK, asset, aead)


# Mozilla's intermediate configuration asks for ffdhe2048 at least; 1024-bit groups are
# within reach of a well-funded attacker's precomputation (Logjam).
DHE_MIN_BITS = 2048


def tls_dhe(view: TargetView) -> Iterator[Hit]:
    for asset, o in view.assets_with("tls.dhe.bits"):
        weak = isinstance(o.value, int) and o.value < DHE_MIN_BITS
        yield hit(Outcome.TLS_DHE_WEAK if weak else Outcome.TLS_DHE_OK, asset, o)


def certificates(view: TargetView) -> Iterator[Hit]:
    for asset, o in view.assets_with("tls.cert.status"):
        outcome = _CERT_STATUS.get(str(o.value))
        if outcome is not None:
            yield hit(outcome, asset, o)
        key = view.assets[asset].get("tls.cert.key")
        if key is not None:
            weak = key.value in ("rsa1024", "rsa512")
            yield hit(Outcome.CERT_WEAK_KEY if weak else Outcome.CERT_KEY_OK, asset, key)
        sig = view.assets[asset].get("tls.cert.signature")
        if sig is not None:
            sha1 = sig.value in ("sha1", "md5")
            yield hit(Outcome.CERT_SHA1 if sha1 else Outcome.CERT_SIGNATURE_OK, asset, sig)
        soon = view.assets[asset].get("tls.cert.expiring_soon")
        if soon is not None and soon.value is True:
            yield hit(Outcome.CERT_EXPIRING_SOON, asset, soon)
