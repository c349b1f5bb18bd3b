"""Private keys for the lab, cached on disk: key generation dominates lab start-up time.

Keys are lab material only (fictional hosts on loopback); they are cached under the
cache directory by a label, so a restarted lab reuses them and starts in well under a second.
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path
from typing import Literal

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.hazmat.primitives.asymmetric.types import PrivateKeyTypes

KeyKind = Literal["ec256", "ec384", "rsa1024", "rsa2048", "rsa4096"]
PrivateKey = ec.EllipticCurvePrivateKey | rsa.RSAPrivateKey


def generate_key(kind: KeyKind) -> PrivateKey:
    if kind == "ec256":
        return ec.generate_private_key(ec.SECP256R1())
    if kind == "ec384":
        return ec.generate_private_key(ec.SECP384R1())
    bits = int(kind.removeprefix("rsa"))
    return rsa.generate_private_key(public_exponent=65537, key_size=bits)


def cached_key(kind: KeyKind, label: str, cache_dir: Path) -> PrivateKey:
    """The key for `label` of this kind, generated once and then read from the cache."""
    digest = hashlib.sha256(f"{kind}:{label}".encode()).hexdigest()[:32]
    path = cache_dir / "lab-keys" / f"{kind}-{digest}.pem"
    if path.exists():
        # The lab made these keys itself: skip the RSA consistency check (60 ms per key).
        loaded: PrivateKeyTypes = serialization.load_pem_private_key(
            path.read_bytes(), None, unsafe_skip_rsa_key_validation=True
        )
        if isinstance(loaded, ec.EllipticCurvePrivateKey | rsa.RSAPrivateKey):
            return loaded
    key = generate_key(kind)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(f".{os.getpid()}.tmp")
    tmp.write_bytes(key_pem(key))
    os.replace(tmp, path)  # atomic: a concurrent reader never sees half a key
    return key


def key_pem(key: PrivateKey) -> bytes:
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
