"""SSH: the algorithms a server offers, the host key it signs with and the logins it allows.

Three jobs per SSH service, one connection each:

- `kexinit`: the identification exchange, then the server's SSH_MSG_KEXINIT (RFC 4253
  section 7.1), which is sent in clear before any key exchange. Its name-lists are kept
  (`ssh.algorithms`) and the weak names of each kind reported (`ssh.kex.weak`,
  `ssh.kex.sha1`, `ssh.host_key.weak`, `ssh.cipher.weak`; see `weak_names`).
- `hostkey`: a key exchange (asyncssh) asking for RSA host keys first, since their size
  varies: the key the server signs with, as "rsa3072", "ed25519", "ecdsa256", "dsa1024".
- `auth`: a key exchange and one `none` authentication request for a user that does not
  exist (RFC 4252 section 5.2): the failure lists the methods that may continue, such as
  "publickey" and "password". No password and no key is ever tried.

Every connection is opened by the guarded network; asyncssh runs over the socket it gives.
"""

from __future__ import annotations

import asyncio
import functools
import logging
import re
import struct
from collections.abc import Iterable, Iterator
from typing import ClassVar

import asyncssh
from asyncssh.compression import get_compression_algs, get_default_compression_algs
from asyncssh.encryption import get_default_encryption_algs, get_encryption_algs
from asyncssh.kex import get_default_kex_algs, get_kex_algs
from asyncssh.mac import get_default_mac_algs, get_mac_algs

from utsyn import __version__
from utsyn.scan.family import ScanContext
from utsyn.scan.model import Job, Observation, ServiceTarget, Target, excerpt, failed, observe

# asyncssh logs every connection at INFO: a scan of many hosts would drown the log.
logging.getLogger("asyncssh").setLevel(logging.WARNING)

CLIENT_VERSION = f"Utsyn_{__version__}"
# The user of the `none` request: no such account exists, and the server's log names us.
PROBE_USER = "utsyn-scan"
MAX_PACKET = 35000  # RFC 4253 section 6.1: what every implementation must accept
_IDENT_LINES = 32  # RFC 4253 4.2: other lines may precede the identification
_LINE_LIMIT = 8192
_MAX_NAMES = 128  # names kept per list; RFC 4251 section 6 caps a name at 64 characters
_NAME = re.compile(r"[\x21-\x2b\x2d-\x7e]{1,64}")  # printable US-ASCII, no comma
_SSH_MSG_KEXINIT = 20

KEXINIT_CHECKS = (
    "ssh.algorithms",
    "ssh.kex.weak",
    "ssh.kex.sha1",
    "ssh.host_key.weak",
    "ssh.cipher.weak",
)
_LISTS = (
    "kex",
    "host_key",
    "cipher_c2s",
    "cipher_s2c",
    "mac_c2s",
    "mac_s2c",
    "compression_c2s",
    "compression_s2c",
)

# ---------------------------------------------------------------- weak names

# Key exchange over groups under 2048 bits: RFC 9142 section 4 says SHOULD NOT for
# diffie-hellman-group1-sha1 (the 1024-bit Oakley group 2 of Logjam) and MUST NOT for
# rsa1024-sha1; RFC 8732 deprecates the GSS-API group1 methods. A trailing "-" is a prefix.
WEAK_KEX = ("diffie-hellman-group1-sha1", "rsa1024-sha1", "gss-group1-sha1-")
# SHA-1 exchange hashes over 2048-bit groups: RFC 9142 demotes diffie-hellman-group14-sha1
# from MUST to MAY and says SHOULD NOT to diffie-hellman-group-exchange-sha1. The host key
# signs this hash, and NIST SP 800-131A Rev. 2 disallows SHA-1 for signature generation.
SHA1_KEX = (
    "diffie-hellman-group14-sha1",
    "diffie-hellman-group-exchange-sha1",
    "gss-group14-sha1-",
    "gss-gex-sha1-",
)
# DSA host keys are 1024-bit with SHA-1 signatures (FIPS 186-5 withdrew DSA; OpenSSH 7.0
# disabled and 10.0 removed them).
WEAK_HOST_KEYS = ("ssh-dss", "ssh-dss-cert-v01@openssh.com", "x509v3-ssh-dss")
_RSA_SHA1 = ("ssh-rsa", "ssh-rsa-cert-v01@openssh.com", "x509v3-ssh-rsa")
_RSA_SHA2 = ("rsa-sha2-256", "rsa-sha2-512")
# RC4 (RFC 8758), 64-bit blocks (3DES, Blowfish, CAST, IDEA: Sweet32) and CBC modes, which
# leak plaintext in SSH (Albrecht, Paterson and Watson 2009; RFC 4344 section 4 prefers CTR).
_WEAK_CIPHER = re.compile(
    r"^(none|arcfour.*|3des.*|des(-.*)?|blowfish.*|cast128.*|idea.*|.*-cbc(@.*)?)$"
)
# MD5 and truncated 96-bit tags; HMAC-SHA1 itself is not broken and is not listed.
_WEAK_MAC = re.compile(r"^(none|.*md5.*|.*-96(-etm)?(@.*)?)$")


def _matches(name: str, table: Iterable[str]) -> bool:
    return any(name == entry or (entry.endswith("-") and name.startswith(entry)) for entry in table)


def weak_names(algorithms: dict[str, list[str]]) -> dict[str, list[str]]:
    """The weak names of each kind in a server's lists (see the tables above), sorted.

    An RSA host key is weak only when it signs with SHA-1 alone: a server that also offers
    rsa-sha2-256/512 (RFC 8332) gives every current client a SHA-2 signature.
    """
    kex = algorithms.get("kex", [])
    host_keys = algorithms.get("host_key", [])
    rsa_sha1_only = not set(_RSA_SHA2) & set(host_keys)
    weak_keys = [k for k in host_keys if k in WEAK_HOST_KEYS or (rsa_sha1_only and k in _RSA_SHA1)]
    ciphers = [c for c in algorithms.get("cipher", []) if _WEAK_CIPHER.match(c)]
    macs = [m for m in algorithms.get("mac", []) if _WEAK_MAC.match(m)]
    return {
        "ssh.kex.weak": sorted({k for k in kex if _matches(k, WEAK_KEX)}),
        "ssh.kex.sha1": sorted({k for k in kex if _matches(k, SHA1_KEX)}),
        "ssh.host_key.weak": sorted(set(weak_keys)),
        "ssh.cipher.weak": sorted(set(ciphers) | set(macs)),
    }


# ---------------------------------------------------------------- KEXINIT


class SshProtocolError(ValueError):
    """The service did not speak SSH-2 as RFC 4253 describes."""


def parse_kexinit(payload: bytes) -> dict[str, list[str]]:
    """The name-lists of an SSH_MSG_KEXINIT payload, both directions merged."""
    if len(payload) < 17 or payload[0] != _SSH_MSG_KEXINIT:
        raise SshProtocolError("the first packet is not a KEXINIT")
    lists: dict[str, list[str]] = {}
    at = 17  # message number and cookie
    for key in _LISTS:
        if at + 4 > len(payload):
            raise SshProtocolError("a truncated KEXINIT")
        (size,) = struct.unpack_from(">I", payload, at)
        raw = payload[at + 4 : at + 4 + size]
        if len(raw) != size:
            raise SshProtocolError("a KEXINIT name-list runs past the packet")
        lists[key] = _names(raw)
        at += 4 + size
    merged = {"kex": lists["kex"], "host_key": lists["host_key"]}
    for kind in ("cipher", "mac", "compression"):
        both = lists[f"{kind}_c2s"] + lists[f"{kind}_s2c"]
        merged[kind] = list(dict.fromkeys(both))
    return merged


def _names(raw: bytes) -> list[str]:
    text = raw.decode("ascii", "replace")
    return [n for n in text.split(",") if _NAME.fullmatch(n)][:_MAX_NAMES]


async def _identification(scan: ScanContext, reader: asyncio.StreamReader) -> str:
    for _ in range(_IDENT_LINES):
        try:
            line = await scan.net.readline(reader)
        except ValueError as exc:  # longer than the stream's limit
            raise SshProtocolError("an identification line is too long") from exc
        if not line:
            raise SshProtocolError("the server closed before identifying itself")
        if line.startswith(b"SSH-"):
            if not line.startswith((b"SSH-2.0-", b"SSH-1.99-")):
                raise SshProtocolError(f"not SSH-2: {excerpt(line.strip(), 100)}")
            return excerpt(line.strip(), 255)
    raise SshProtocolError(f"no identification in the first {_IDENT_LINES} lines")


async def _first_packet(scan: ScanContext, reader: asyncio.StreamReader) -> bytes:
    """The payload of the first binary packet (no encryption or MAC yet, RFC 4253 6)."""
    length, padding = struct.unpack(">IB", await scan.net.read_exactly(reader, 5))
    if not 5 <= length <= MAX_PACKET or padding >= length:
        raise SshProtocolError(f"a packet of {length} bytes with {padding} of padding")
    body = await scan.net.read_exactly(reader, length - 1)
    return body[: length - 1 - padding]


async def kexinit(target: ServiceTarget, scan: ScanContext) -> list[Observation]:
    async with scan.net.tcp(target.ip, target.port, name=target.host, limit=_LINE_LIMIT) as (
        reader,
        writer,
    ):
        try:
            # Each read has its timeout; a server dripping lines must not add them up.
            async with asyncio.timeout(scan.net.timeouts.read * 2):
                writer.write(f"SSH-2.0-{CLIENT_VERSION}\r\n".encode())
                ident = await _identification(scan, reader)
                algorithms = parse_kexinit(await _first_packet(scan, reader))
        except (TimeoutError, OSError, asyncio.IncompleteReadError, SshProtocolError) as exc:
            return [failed(target, c, _reason(exc), "kexinit") for c in KEXINIT_CHECKS]
    evidence = f"{ident}; " + "; ".join(f"{k}: {','.join(v)}" for k, v in algorithms.items())
    out = [observe(target, "ssh.algorithms", algorithms, "kexinit", evidence)]
    for check, names in weak_names(algorithms).items():
        listed = ", ".join(names) or "none of these offered"
        out.append(observe(target, check, names, "kexinit", f"{ident}: {listed}"))
    return out


# ---------------------------------------------------------------- key exchanges (asyncssh)

# RSA first: its size is what varies. Then the rest, DSA last, as clients prefer.
HOST_KEY_PREFERENCE = (
    "rsa-sha2-512",
    "rsa-sha2-256",
    "ssh-rsa",
    "ssh-ed25519",
    "ecdsa-sha2-nistp256",
    "ecdsa-sha2-nistp384",
    "ecdsa-sha2-nistp521",
    "ssh-ed448",
    "ssh-dss",
)


def _everything(supported: list[bytes], default: list[bytes]) -> list[str]:
    """asyncssh's defaults first, then the legacy rest: an old server must still answer."""
    ordered = [*default, *(a for a in supported if a not in default)]
    return [a.decode() for a in ordered if not a.startswith(b"gss-")]


@functools.cache
def client_options() -> asyncssh.SSHClientConnectionOptions:
    """No configuration file, no known hosts, no keys, no agent: a stranger's client."""
    return asyncssh.SSHClientConnectionOptions(
        config=None,
        known_hosts=None,
        client_keys=None,
        agent_path=None,
        username=PROBE_USER,
        client_version=CLIENT_VERSION,
        kex_algs=_everything(get_kex_algs(), get_default_kex_algs()),
        encryption_algs=_everything(get_encryption_algs(), get_default_encryption_algs()),
        mac_algs=_everything(get_mac_algs(), get_default_mac_algs()),
        compression_algs=_everything(get_compression_algs(), get_default_compression_algs()),
        server_host_key_algs=list(HOST_KEY_PREFERENCE),
    )


def describe_key(public_data: bytes) -> str:
    """ "rsa3072", "dsa1024", "ecdsa256", "ed25519" from an SSH public key blob (RFC 4253 6.6)."""
    fields = _wire_strings(public_data, 3)
    algorithm = fields[0].decode("ascii", "replace")
    if algorithm == "ssh-rsa":  # e, n
        return f"rsa{int.from_bytes(fields[2], 'big').bit_length()}"
    if algorithm == "ssh-dss":  # p, q, g, y
        return f"dsa{int.from_bytes(fields[1], 'big').bit_length()}"
    if algorithm.startswith("ecdsa-sha2-nistp"):
        return f"ecdsa{algorithm.removeprefix('ecdsa-sha2-nistp')}"
    return excerpt(algorithm.removeprefix("ssh-"), 64)


def _wire_strings(data: bytes, count: int) -> list[bytes]:
    out: list[bytes] = []
    at = 0
    while len(out) < count and at + 4 <= len(data):
        (size,) = struct.unpack_from(">I", data, at)
        out.append(data[at + 4 : at + 4 + size])
        at += 4 + size
    if not out:
        raise SshProtocolError("an empty host key")
    return out


_ASYNCSSH_FAILURES = (asyncssh.Error, OSError, TimeoutError, EOFError, ValueError)


async def host_key(target: ServiceTarget, scan: ScanContext) -> Observation:
    async with scan.net.blocking_socket(target.ip, target.port, name=target.host) as sock:
        try:
            async with asyncio.timeout(scan.net.timeouts.read * 2):
                key = await asyncssh.get_server_host_key(
                    sock=sock, config=None, options=client_options()
                )
        except _ASYNCSSH_FAILURES as exc:
            return failed(target, "ssh.host_key", _reason(exc), "hostkey")
    if key is None:
        return failed(target, "ssh.host_key", "no host key was offered", "hostkey")
    evidence = f"{key.get_algorithm()} {key.get_fingerprint()}"
    return observe(target, "ssh.host_key", describe_key(key.public_data), "hostkey", evidence)


async def auth_methods(target: ServiceTarget, scan: ScanContext) -> Observation:
    async with scan.net.blocking_socket(target.ip, target.port, name=target.host) as sock:
        try:
            async with asyncio.timeout(scan.net.timeouts.read * 2):
                methods = await asyncssh.get_server_auth_methods(
                    sock=sock, username=PROBE_USER, config=None, options=client_options()
                )
        except _ASYNCSSH_FAILURES as exc:
            return failed(target, "ssh.auth_methods", _reason(exc), "auth")
    names = sorted({excerpt(m, 64) for m in methods})
    evidence = f"userauth none for {PROBE_USER}: {', '.join(methods) or 'no methods'}"
    return observe(target, "ssh.auth_methods", names, "auth", evidence)


def _reason(exc: BaseException) -> str:
    if isinstance(exc, TimeoutError):
        return "timeout: the server did not answer in time"
    if isinstance(exc, asyncio.IncompleteReadError):
        return f"connection closed after {len(exc.partial)} bytes"
    return excerpt(f"{type(exc).__name__}: {exc}", 300)


# ---------------------------------------------------------------- the family


class SshFamily:
    family: ClassVar[str] = "ssh"

    def jobs(self, target: Target) -> Iterator[Job]:
        if isinstance(target, ServiceTarget) and target.protocol == "ssh":
            for name in ("kexinit", "hostkey", "auth"):
                yield Job(self.family, name, target)

    async def run(self, job: Job, scan: ScanContext) -> list[Observation]:
        """One connection. Connect failures propagate: the engine retries and reports them."""
        target = job.target
        if not isinstance(target, ServiceTarget):
            raise TypeError(f"an SSH job needs a service, not {target!r}")
        if job.name == "kexinit":
            return await kexinit(target, scan)
        if job.name == "hostkey":
            return [await host_key(target, scan)]
        return [await auth_methods(target, scan)]
