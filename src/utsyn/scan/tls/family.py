"""The TLS family: protocol versions, cipher-suite classes and the certificate of a service.

Every probe is one hand-built ClientHello on one connection (`messages`, `client`), so the
answers do not depend on what the local OpenSSL can speak:

- `version:<v>`: a hello whose highest version is v (TLS 1.3: supported_versions holding
  only 1.3), offering every suite valid at v. Supported when the server answers with v.
- `cipher:<class>`: a hello at TLS 1.2 offering only the suites of one class, with the
  extensions real clients send; the server may answer at a lower version. Offered when the
  server picks one. Classes describe TLS ≤ 1.2 suites (every TLS 1.3 suite is AEAD).
- `cert`: a hello offering TLS 1.0–1.3 and every authenticated suite; the chain comes out
  of the Certificate message (decrypted for TLS 1.3) and is judged by `certs.classify`.
- `dhe`: a TLS 1.2 hello offering only finite-field DHE suites and no RFC 7919 group, so
  the server uses the group every older client gets; its ServerKeyExchange gives the size
  of the prime (Logjam: 1024 bits and less). None when the server refuses DHE.
- `starttls` (SMTP, IMAP, POP3): what the server offers before TLS (`mailproto`): whether
  STARTTLS is offered (`smtp.starttls`, `imap.starttls`, `pop3.starttls`) and whether a
  password login is (`mail.cleartext_login`). The TLS probes of such a service run inside
  STARTTLS on their own connection, and observe nothing when it is not offered; those of
  SMTPS, IMAPS and POP3S (RFC 8314's implicit TLS) start with the ClientHello, as HTTPS.

A server that answers with an alert, a close or a reset has refused: the fact is false. A
server that answers with garbage, or not in time, leaves the fact unknown: an observation
with `error` set and value None.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from typing import ClassVar

from utsyn.scan.family import ScanContext
from utsyn.scan.mail import mailproto
from utsyn.scan.mail.mailproto import CLEARTEXT_CHECK, MailProtocolError, Stream
from utsyn.scan.model import Job, Observation, ServiceTarget, Target, excerpt, failed, observe
from utsyn.scan.tls.certs import classify, trust_store
from utsyn.scan.tls.client import Refused, exchange
from utsyn.scan.tls.messages import EC_GROUPS, HandshakeError, HelloSpec, build_client_hello
from utsyn.scan.tls.suites import (
    SSL3,
    SUITES,
    TLS10,
    TLS11,
    TLS12,
    TLS13,
    bulk_cipher,
    key_exchange,
    max_version,
    min_version,
)

VERSIONS: dict[str, int] = {
    "ssl3": SSL3,
    "tls1.0": TLS10,
    "tls1.1": TLS11,
    "tls1.2": TLS12,
    "tls1.3": TLS13,
}
CIPHER_CLASSES = ("aead", "cbc", "rsa_kex", "rc4", "3des", "null", "anon")
CERT_CHECKS = ("tls.cert.status", "tls.cert.key", "tls.cert.signature", "tls.cert.expiring_soon")
PROTOCOLS = frozenset({"https", *mailproto.STARTTLS_PROTOCOLS, *mailproto.IMPLICIT_TLS_PROTOCOLS})
DHE_CHECK = "tls.dhe.bits"

# Key exchanges that are ephemeral and authenticated: the only ones AEAD and CBC classes
# count. Static RSA is its own class (no forward secrecy), anonymous ones too.
_EPHEMERAL = frozenset({"ECDHE_RSA", "ECDHE_ECDSA", "DHE_RSA", "DHE_DSS"})
# 64-bit block ciphers, all open to Sweet32 (CVE-2016-2183): graded with 3DES.
_SHORT_BLOCK = ("3DES", "DES_", "IDEA")
_AEAD_MODES = ("GCM", "CCM", "CHACHA20")


def suite_classes(name: str) -> frozenset[str]:
    """The classes of a TLS ≤ 1.2 suite (IANA name); a suite can be in several, e.g.
    TLS_RSA_WITH_RC4_128_SHA is rsa_kex and rc4. TLS 1.3 suites belong to none."""
    kex, cipher = key_exchange(name), bulk_cipher(name)
    classes: set[str] = set()
    if kex == "RSA":
        classes.add("rsa_kex")
    if kex.endswith("_anon"):
        classes.add("anon")
    if cipher.startswith("NULL"):
        classes.add("null")
    elif cipher.startswith("RC4"):
        classes.add("rc4")
    elif cipher.startswith(_SHORT_BLOCK):
        classes.add("3des")
    elif kex in _EPHEMERAL:
        classes.add("aead" if any(m in cipher for m in _AEAD_MODES) else "cbc")
    return frozenset(classes)


def class_suites(cipher_class: str) -> tuple[int, ...]:
    return tuple(c for c, n in SUITES.items() if cipher_class in suite_classes(n))


def version_suites(version: int) -> tuple[int, ...]:
    """Every suite a client of `version` could offer (TLS 1.3: the 1.3 suites alone)."""
    return tuple(
        code for code, name in SUITES.items() if min_version(name) <= version <= max_version(name)
    )


def version_hello(version: str, host: str) -> HelloSpec:
    number = VERSIONS[version]
    suites = version_suites(number)
    if number == TLS13:
        return HelloSpec(TLS12, suites, host, supported_versions=(TLS13,))
    # OpenSSL sends no extensions in an SSLv3 hello; some SSLv3 stacks choke on them.
    return HelloSpec(number, suites, host, extensions=number != SSL3)


def cipher_hello(cipher_class: str, host: str) -> HelloSpec:
    return HelloSpec(TLS12, class_suites(cipher_class), host)


def dhe_hello(host: str) -> HelloSpec:
    """Every authenticated finite-field DHE suite, with elliptic curves as the only groups."""
    suites = tuple(c for c, n in SUITES.items() if key_exchange(n).startswith("DHE_"))
    return HelloSpec(TLS12, suites, host, groups=EC_GROUPS)


def certificate_hello(host: str) -> HelloSpec:
    """Any version, any authenticated suite: whatever the server speaks, it shows its chain."""
    suites = tuple(c for c, n in SUITES.items() if "anon" not in suite_classes(n))
    offered = (TLS13, TLS12, TLS11, TLS10)
    return HelloSpec(TLS12, suites, host, supported_versions=offered)


# ---------------------------------------------------------------- probes


async def _version(job: Job, stream: Stream) -> list[Observation]:
    version = job.name.partition(":")[2]
    spec = version_hello(version, _service(job).host)
    return await _accepted(job, stream, f"tls.version.{version}", spec, VERSIONS[version])


async def _cipher(job: Job, stream: Stream) -> list[Observation]:
    cipher_class = job.name.partition(":")[2]
    spec = cipher_hello(cipher_class, _service(job).host)
    return await _accepted(job, stream, f"tls.cipher.{cipher_class}", spec)


async def _accepted(
    job: Job, stream: Stream, check: str, spec: HelloSpec, version: int | None = None
) -> list[Observation]:
    """One hello: a refusal is False; a ServerHello is True (given `version`, only when the
    server agreed to that version)."""
    answer = await exchange(stream.reader, stream.writer, stream.net, build_client_hello(spec))
    if isinstance(answer, Refused):
        return [observe(job.target, check, False, job.name, answer.reason)]
    agreed = version is None or answer.hello.version == version
    return [observe(job.target, check, agreed, job.name, answer.hello.describe())]


async def _dhe(job: Job, stream: Stream) -> list[Observation]:
    hello = build_client_hello(dhe_hello(_service(job).host))
    answer = await exchange(stream.reader, stream.writer, stream.net, hello, key_exchange=True)
    if isinstance(answer, Refused):
        return [observe(job.target, DHE_CHECK, None, job.name, f"no DHE: {answer.reason}")]
    evidence = f"{answer.hello.describe()}; a {answer.dh_bits}-bit DH prime"
    return [observe(job.target, DHE_CHECK, answer.dh_bits, job.name, evidence)]


async def _certificate(job: Job, stream: Stream, scan: ScanContext) -> list[Observation]:
    host = _service(job).host
    hello = build_client_hello(certificate_hello(host))
    answer = await exchange(stream.reader, stream.writer, stream.net, hello, certificates=True)
    if isinstance(answer, Refused):
        raise HandshakeError(f"the server refused every version and suite: {answer.reason}")
    if not answer.certificates:
        raise HandshakeError(f"{answer.hello.describe()}: no certificate was reached")
    try:
        report = classify(answer.certificates, host, trust_store(scan.config.ca_file))
    except ValueError as exc:
        raise HandshakeError(f"the leaf certificate does not parse: {exc}") from exc
    evidence = f"{answer.hello.describe()}; {report.evidence()}"
    values = (report.status, report.key, report.signature, report.expiring_soon)
    facts = [
        observe(job.target, check, value, job.name, evidence)
        for check, value in zip(CERT_CHECKS, values, strict=True)
    ]
    names = [excerpt(n, 253) for n in report.names]
    listed = ", ".join(names) or "no DNS names in the certificate"
    return [*facts, observe(job.target, "tls.cert.names", names, job.name, listed)]


async def _starttls_offered(job: Job, stream: Stream) -> list[Observation]:
    protocol = _service(job).protocol
    offer = await mailproto.offer(protocol, stream)
    offered = observe(job.target, f"{protocol}.starttls", offer.starttls, job.name, offer.evidence)
    if offer.cleartext_login is None:
        reason = f"the server does not list its logins: {excerpt(offer.evidence, 200)}"
        return [offered, failed(job.target, CLEARTEXT_CHECK, reason, job.name)]
    login = observe(job.target, CLEARTEXT_CHECK, offer.cleartext_login, job.name, offer.evidence)
    return [offered, login]


def _checks(job: Job) -> tuple[str, ...]:
    """The facts a job reports, so that a failed job reports each of them as unknown."""
    kind, _, arg = job.name.partition(":")
    if kind == "version":
        return (f"tls.version.{arg}",)
    if kind == "cipher":
        return (f"tls.cipher.{arg}",)
    if kind == "starttls":
        return (f"{_service(job).protocol}.starttls", CLEARTEXT_CHECK)
    if kind == "dhe":
        return (DHE_CHECK,)
    return CERT_CHECKS


def _service(job: Job) -> ServiceTarget:
    if not isinstance(job.target, ServiceTarget):
        raise TypeError(f"a TLS job needs a service, not {job.target!r}")
    return job.target


# ---------------------------------------------------------------- the family


class TlsFamily:
    family: ClassVar[str] = "tls"

    def jobs(self, target: Target) -> Iterator[Job]:
        if not isinstance(target, ServiceTarget) or target.protocol not in PROTOCOLS:
            return
        if target.protocol in mailproto.STARTTLS_PROTOCOLS:
            yield Job(self.family, "starttls", target)
        for version in VERSIONS:
            yield Job(self.family, f"version:{version}", target)
        for cipher_class in CIPHER_CLASSES:
            yield Job(self.family, f"cipher:{cipher_class}", target)
        yield Job(self.family, "dhe", target)
        yield Job(self.family, "cert", target)

    async def run(self, job: Job, scan: ScanContext) -> list[Observation]:
        """One connection. Connect failures propagate: the engine retries and reports them."""
        target = _service(job)
        async with scan.net.tcp(target.ip, target.port, name=target.host) as (reader, writer):
            stream = Stream(reader, writer, scan.net)
            try:
                return await self._converse(job, stream, scan)
            except TimeoutError:
                reason = "timeout: the server did not answer in time"
            except (HandshakeError, MailProtocolError) as exc:
                reason = str(exc)
            except (OSError, asyncio.IncompleteReadError) as exc:
                reason = f"connection lost: {type(exc).__name__}"
        return [failed(target, check, reason, job.name) for check in _checks(job)]

    async def _converse(self, job: Job, stream: Stream, scan: ScanContext) -> list[Observation]:
        kind = job.name.partition(":")[0]
        if kind == "starttls":
            return await _starttls_offered(job, stream)
        protocol = _service(job).protocol
        if protocol in mailproto.STARTTLS_PROTOCOLS and not await mailproto.upgrade(
            protocol, stream
        ):
            return []  # no STARTTLS: the starttls job says so; no TLS to observe
        if kind == "version":
            return await _version(job, stream)
        if kind == "cipher":
            return await _cipher(job, stream)
        if kind == "dhe":
            return await _dhe(job, stream)
        return await _certificate(job, stream, scan)
