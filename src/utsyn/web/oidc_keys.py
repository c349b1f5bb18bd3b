"""Utsyn's own signing keys for `private_key_jwt` (a client assertion at a provider's token
endpoint), published as a JWK set at `/.well-known/jwks.json`.

`UTSYN_OIDC_SIGNING_KEYS` names PEM files (EC P-256 or RSA); the first signs and all are
published, so a key is rotated by putting the new one first, waiting until every provider
has fetched the set again, then dropping the old one. Unset, and a provider uses
`private_key_jwt`: one EC P-256 key is made once and kept beside the data (mode 0600).
A key's id is its RFC 7638 thumbprint.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from joserfc.jwk import ECKey, RSAKey

from utsyn.errors import ConfigError
from utsyn.web.settings import WebSettings

KEPT_KEY = "oidc-signing-key.pem"
SigningKey = ECKey | RSAKey


@dataclass(frozen=True)
class SigningKeys:
    keys: tuple[SigningKey, ...]

    @property
    def current(self) -> SigningKey:
        return self.keys[0]

    @property
    def algorithm(self) -> str:
        return "ES256" if isinstance(self.current, ECKey) else "RS256"

    def private_jwk(self) -> dict[str, Any]:
        return dict(self.current.as_dict(private=True))

    def public_jwks(self) -> dict[str, Any]:
        """The published set: public halves only, each with its id, use and algorithm."""
        published = []
        for key in self.keys:
            jwk = dict(key.as_dict(private=False))
            jwk |= {"use": "sig", "alg": "ES256" if isinstance(key, ECKey) else "RS256"}
            published.append(jwk)
        return {"keys": published}


def load_signing_keys(settings: WebSettings) -> SigningKeys:
    """The configured keys; one kept beside the data when a provider needs one; else none."""
    paths = settings.oidc_signing_keys
    if not paths and any(p.auth_method == "private_key_jwt" for p in settings.oidc_providers):
        paths = (_kept_key(settings.data_dir / KEPT_KEY),)
    return SigningKeys(tuple(_read(path) for path in paths))


def _read(path: Path) -> SigningKey:
    try:
        pem = path.read_bytes()
    except OSError as exc:
        raise ConfigError("cannot read the signing key %(path)s", path=str(path)) from exc
    for kind in (ECKey, RSAKey):
        try:
            key: SigningKey = kind.import_key(pem, {"use": "sig"})
        except (ValueError, TypeError):
            continue
        if key.is_private:
            key.ensure_kid()
            return key
    raise ConfigError("%(path)s is not a private EC or RSA key in PEM", path=str(path))


def _kept_key(path: Path) -> Path:
    if not path.is_file():
        path.parent.mkdir(parents=True, exist_ok=True)
        pem = ECKey.generate_key("P-256", private=True).as_pem(private=True)
        # Created 0600 from the start: never readable by others, even briefly.
        with open(path, "xb", opener=_private_opener) as out:
            out.write(pem)
    return path


def _private_opener(path: str, flags: int) -> int:
    return os.open(path, flags, 0o600)
