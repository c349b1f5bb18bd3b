"""The lab's SSH servers: real SSH-2 (asyncssh), configured like the OpenSSH release they name.

A client sees the manifest's identification line, then the KEXINIT lists that release
sends by default (`release_algorithms`), completes a real key exchange with the manifest's
host keys, and on a `none` login is told the manifest's methods (RFC 4252 section 5.2).
Every login attempt fails and no session ever opens. Names asyncssh does not implement
(sntrup761, hmac-ripemd160, rijndael-cbc) are left out; `served_algorithms` is what
remains, and the ground truth is derived from it.

Host keys are generated once per kind and cached, like the CA's keys (`lab.keys`).
"""

from __future__ import annotations

import functools
import logging
import os
import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import asyncssh
from asyncssh.compression import get_compression_algs
from asyncssh.encryption import get_encryption_algs
from asyncssh.kex import get_kex_algs
from asyncssh.mac import get_mac_algs

from utsyn.lab.context import LabContext
from utsyn.lab.manifest import Host, Service, ServiceKind
from utsyn.lab.services.common import DEFAULT_BANNERS
from utsyn.lab.session import idle_timeout_for
from utsyn.lab.specs import SshHostKey

# asyncssh logs every connection at INFO; the lab serves thousands in a benchmark.
logging.getLogger("asyncssh").setLevel(logging.WARNING)


@dataclass(frozen=True)
class Algorithms:
    """What an SSH server lists in its KEXINIT, one list per kind (both directions alike)."""

    kex: tuple[str, ...]
    rsa: tuple[str, ...]  # the signature algorithms an RSA host key is offered with
    cipher: tuple[str, ...]
    mac: tuple[str, ...]
    compression: tuple[str, ...] = ("none", "zlib@openssh.com")


_ECDH = (
    "curve25519-sha256",
    "curve25519-sha256@libssh.org",
    "ecdh-sha2-nistp256",
    "ecdh-sha2-nistp384",
    "ecdh-sha2-nistp521",
)
_DH = (
    "diffie-hellman-group-exchange-sha256",
    "diffie-hellman-group16-sha512",
    "diffie-hellman-group18-sha512",
)
_CIPHERS = (
    "chacha20-poly1305@openssh.com",
    "aes128-ctr",
    "aes192-ctr",
    "aes256-ctr",
    "aes128-gcm@openssh.com",
    "aes256-gcm@openssh.com",
)
_MACS = (
    "umac-64-etm@openssh.com",
    "umac-128-etm@openssh.com",
    "hmac-sha2-256-etm@openssh.com",
    "hmac-sha2-512-etm@openssh.com",
    "hmac-sha1-etm@openssh.com",
    "umac-64@openssh.com",
    "umac-128@openssh.com",
    "hmac-sha2-256",
    "hmac-sha2-512",
    "hmac-sha1",
)
# OpenSSH 5.3 to 6.6 (RHEL 6, Debian 7): SHA-1 and 1024-bit key exchange, RC4, CBC, MD5.
_BEFORE_7_0 = Algorithms(
    kex=(
        "diffie-hellman-group-exchange-sha256",
        "diffie-hellman-group-exchange-sha1",
        "diffie-hellman-group14-sha1",
        "diffie-hellman-group1-sha1",
    ),
    rsa=("ssh-rsa",),
    cipher=(
        "aes128-ctr",
        "aes192-ctr",
        "aes256-ctr",
        "arcfour256",
        "arcfour128",
        "aes128-cbc",
        "3des-cbc",
        "blowfish-cbc",
        "cast128-cbc",
        "aes192-cbc",
        "aes256-cbc",
        "arcfour",
        "rijndael-cbc@lysator.liu.se",
    ),
    mac=(
        "hmac-md5",
        "hmac-sha1",
        "umac-64@openssh.com",
        "hmac-ripemd160",
        "hmac-ripemd160@openssh.com",
        "hmac-sha1-96",
        "hmac-md5-96",
    ),
)
# OpenSSH 7.0 to 8.7: SHA-1 key exchange and ssh-rsa signatures still on by default.
_BEFORE_8_8 = Algorithms(
    kex=(
        *_ECDH,
        *_DH,
        "diffie-hellman-group-exchange-sha1",
        "diffie-hellman-group14-sha256",
        "diffie-hellman-group14-sha1",
    ),
    rsa=("ssh-rsa", "rsa-sha2-512", "rsa-sha2-256"),
    cipher=_CIPHERS,
    mac=_MACS,
)


def release_algorithms(ident: str) -> Algorithms:
    """The KEXINIT defaults of the OpenSSH release named in `ident`.

    Releases before 7.0 still offer 1024-bit DH, RC4, CBC and MD5; before 8.8 SHA-1 key
    exchange and ssh-rsa signatures; 9.0 prefers the post-quantum hybrid. Distribution
    backports are not modelled. Anything that is not OpenSSH gets the 7.x list.
    """
    match = re.search(r"OpenSSH_(\d+)\.(\d+)", ident)
    version = (int(match[1]), int(match[2])) if match else (7, 4)
    if version < (7, 0):
        return _BEFORE_7_0
    if version < (8, 8):
        return _BEFORE_8_8
    pq = "sntrup761x25519-sha512@openssh.com"
    kex = (pq, *_ECDH) if version >= (9, 0) else (*_ECDH, pq)
    return Algorithms(
        kex=(*kex, *_DH, "diffie-hellman-group14-sha256"),
        rsa=("rsa-sha2-512", "rsa-sha2-256"),
        cipher=_CIPHERS,
        mac=_MACS,
    )


_KEY_ALGORITHMS: dict[str, tuple[str, ...]] = {
    "ed25519": ("ssh-ed25519",),
    "ecdsa256": ("ecdsa-sha2-nistp256",),
    "dsa1024": ("ssh-dss",),  # only when configured: sshd has it off by default since 7.0
}


def banner(service: Service) -> str:
    return service.banner if service.banner is not None else DEFAULT_BANNERS[ServiceKind.SSH]


def key_algorithms(kind: SshHostKey, release: Algorithms) -> tuple[str, ...]:
    return release.rsa if kind.startswith("rsa") else _KEY_ALGORITHMS[kind]


def served_algorithms(service: Service) -> dict[str, list[str]]:
    """The names the lab's server for `service` lists, kind by kind (as `scan.ssh` reads)."""
    release = release_algorithms(service.ssh_spec.algorithms_of or banner(service))
    host_keys = [a for k in service.ssh_spec.host_keys for a in key_algorithms(k, release)]
    return {
        "kex": _supported(release.kex, get_kex_algs()),
        "host_key": list(dict.fromkeys(host_keys)),
        "cipher": _supported(release.cipher, get_encryption_algs()),
        "mac": _supported(release.mac, get_mac_algs()),
        "compression": _supported(release.compression, get_compression_algs()),
    }


def _supported(names: Sequence[str], implemented: Sequence[bytes]) -> list[str]:
    return [n for n in names if n.encode() in implemented]


# ---------------------------------------------------------------- host keys

_GENERATE: dict[str, tuple[str, int | None]] = {
    "ed25519": ("ssh-ed25519", None),
    "ecdsa256": ("ecdsa-sha2-nistp256", None),
    "rsa1024": ("ssh-rsa", 1024),
    "rsa2048": ("ssh-rsa", 2048),
    "rsa3072": ("ssh-rsa", 3072),
    "dsa1024": ("ssh-dss", None),
}


@functools.cache
def host_key(kind: SshHostKey, cache_dir: Path) -> asyncssh.SSHKey:
    """The lab's host key of `kind`: generated once, then read from the cache."""
    path = cache_dir / "lab-keys" / f"ssh-host-{kind}.key"
    if path.exists():
        return asyncssh.read_private_key(path)
    algorithm, size = _GENERATE[kind]
    key = (
        asyncssh.generate_private_key(algorithm, key_size=size)
        if size
        else asyncssh.generate_private_key(algorithm)
    )
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(f".{os.getpid()}.tmp")
    tmp.write_bytes(key.export_private_key())
    os.replace(tmp, path)  # atomic: a concurrent reader never sees half a key
    return key


def _keypairs(service: Service, cache_dir: Path) -> list[asyncssh.SSHKeyPair]:
    """Each configured key, offered with exactly the release's signature algorithms."""
    release = release_algorithms(service.ssh_spec.algorithms_of or banner(service))
    pairs = []
    for kind in service.ssh_spec.host_keys:
        (pair,) = asyncssh.load_keypairs([host_key(kind, cache_dir)])
        pair.host_key_algorithms = [a.encode() for a in key_algorithms(kind, release)]
        pairs.append(pair)
    return pairs


# ---------------------------------------------------------------- the server


class _Refusing(asyncssh.SSHServer):
    """Asks every client to log in, names the manifest's methods and accepts nothing."""

    def __init__(self, methods: frozenset[str]) -> None:
        self._methods = methods

    def begin_auth(self, username: str) -> bool:
        return True

    def public_key_auth_supported(self) -> bool:
        return "publickey" in self._methods

    def validate_public_key(self, username: str, key: asyncssh.SSHKey) -> bool:
        return False

    def password_auth_supported(self) -> bool:
        return "password" in self._methods

    def validate_password(self, username: str, password: str) -> bool:
        return False

    def kbdint_auth_supported(self) -> bool:
        return "keyboard-interactive" in self._methods

    def get_kbdint_challenge(
        self, username: str, lang: str, submethods: str
    ) -> tuple[str, str, str, list[tuple[str, bool]]]:
        return "", "", "", [("Password: ", False)]

    def validate_kbdint_response(self, username: str, responses: Sequence[str]) -> bool:
        return False


async def start_ssh_server(
    service: Service, host: Host, ctx: LabContext, ip: str, *, idle_timeout: float | None = None
) -> asyncssh.SSHAcceptor:
    """Listen on `ip` for `service` of `host`; the acceptor's close() stops it."""
    if service.kind != ServiceKind.SSH:
        raise ValueError(f"start_ssh_server cannot serve a {service.kind} service")
    served = served_algorithms(service)
    methods = frozenset(service.ssh_spec.auth)
    return await asyncssh.listen(
        ip,
        service.effective_port,
        reuse_address=True,
        backlog=256,
        config=None,
        server_factory=lambda: _Refusing(methods),
        server_host_keys=_keypairs(service, ctx.ca.cache_dir),
        server_version=banner(service).removeprefix("SSH-2.0-"),
        kex_algs=served["kex"],
        encryption_algs=served["cipher"],
        mac_algs=served["mac"],
        compression_algs=served["compression"],
        gss_host=None,
        login_timeout=idle_timeout_for(ctx, idle_timeout),
        allow_scp=False,
    )
