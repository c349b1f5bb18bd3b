"""Exposed services: what each open port really speaks, its banner and its product.

One job per open port, at most one connection each. The job confirms (or corrects) the
protocol the discovery guessed from the port number, reads the version the service
volunteers and turns it into products (`scan.products`). Observations:

- `service.kind`: the protocol name (`ssh`, `redis`, ...); `probe` says how it was known.
- `service.banner`: the greeting or version string, as the service gives it: the SSH
  identification line, the text after "220 " of FTP and SMTP, after "* OK" (and its
  response code) of IMAP and after "+OK" of POP3, the version number of the
  databases, LDAP's vendorVersion, the RFB line of VNC, the login banner of Telnet.
  An exchange that failed or met garbage is a `service.banner` with `error` set.
- `service.product`: one per identified product (`Product.to_json()`).
- `service.details`: protocol facts that matter for risk: RDP and NLA, SMB dialect and
  signing, VNC security types, MSSQL encryption, PostgreSQL's answer, Redis/LDAP/MongoDB
  readable without authentication, ...

SSH, FTP, SMTP, IMAP and POP3 greet first: the discovery already holds their greeting, so
no second connection is made; SMTPS, IMAPS and POP3S greet after a TLS handshake. HTTP(S)
and DNS get only `service.kind`; other families judge them. Every read is capped in size
and in time, and the whole exchange has a deadline.

Each protocol's probe lives in its own module of this package; `_PROBES` below is the
table from protocol to probe.
"""

from __future__ import annotations

import asyncio
import struct
from collections.abc import Iterable, Iterator
from typing import ClassVar

from utsyn.scan.family import ScanContext
from utsyn.scan.guard import ScopeRefused
from utsyn.scan.model import Job, Observation, ServiceTarget, Target, failed, observe
from utsyn.scan.products import identify_banner
from utsyn.scan.services import (
    elasticsearch,
    greeting,
    ldap,
    memcached,
    mongodb,
    mssql,
    mysql,
    postgres,
    rdp,
    redis,
    smb,
    telnet,
    vnc,
)
from utsyn.scan.services.exchange import Answer, Probe, ProtocolMismatch

_PASSIVE = frozenset({"http", "https", "dns"})  # other families talk to these

_PROBES: dict[str, Probe] = {
    "ssh": greeting.ssh,
    "ftp": greeting.ftp,
    "smtp": greeting.smtp,
    "imap": greeting.mail,
    "pop3": greeting.mail,
    "smtps": greeting.mail,
    "imaps": greeting.mail,
    "pop3s": greeting.mail,
    "telnet": telnet.probe,
    "mysql": mysql.probe,
    "postgres": postgres.probe,
    "redis": redis.probe,
    "mongodb": mongodb.probe,
    "elasticsearch": elasticsearch.probe,
    "memcached": memcached.probe,
    "mssql": mssql.probe,
    "ldap": ldap.probe,
    "rdp": rdp.probe,
    "smb": smb.probe,
    "vnc": vnc.probe,
}


class ServicesFamily:
    """`service.*` facts for every open port (see the module documentation)."""

    family: ClassVar[str] = "services"

    def jobs(self, target: Target) -> Iterable[Job]:
        if isinstance(target, ServiceTarget):
            yield Job(self.family, f"identify:{target.protocol}", target)

    async def run(self, job: Job, scan: ScanContext) -> list[Observation]:
        target = job.target
        if not isinstance(target, ServiceTarget):
            return []
        if target.protocol in _PASSIVE:
            return [observe(target, "service.kind", target.protocol, probe="port number")]
        probe = _PROBES.get(target.protocol, greeting.unknown)
        timeouts = scan.config.timeouts
        # A trickling server could keep every single read just inside its timeout. The mail
        # probe bounds its own exchange once connected: on a mail host it waits for a
        # connection slot behind the TLS probes of every port, which is no slowness of the
        # service (a real server with 25, 143, 465, 587, 993 and 995 has some ninety).
        deadline = None if probe is greeting.mail else timeouts.connect + 2 * timeouts.read
        try:
            async with asyncio.timeout(deadline):
                answer = await probe(target, scan)
        except ScopeRefused:
            raise  # the engine records refusals in one place
        except (OSError, EOFError, TimeoutError, ValueError, struct.error) as exc:
            return _unconfirmed(target, job.name, _reason(exc))
        return list(_observations(target, answer))


def _observations(target: ServiceTarget, answer: Answer) -> Iterator[Observation]:
    evidence = answer.evidence
    yield observe(target, "service.kind", answer.protocol, answer.probe, evidence)
    if answer.banner is not None:
        yield observe(target, "service.banner", answer.banner, answer.probe, evidence)
        for product in identify_banner(answer.product_family or answer.protocol, answer.banner):
            yield observe(target, "service.product", product.to_json(), answer.probe)
    if answer.details:
        yield observe(target, "service.details", answer.details, answer.probe, evidence)


def _unconfirmed(target: ServiceTarget, probe: str, reason: str) -> list[Observation]:
    """The port's usual protocol, marked unconfirmed, and why the exchange failed."""
    kind = observe(target, "service.kind", target.protocol, probe="port number (unconfirmed)")
    return [kind, failed(target, "service.banner", reason, probe)]


def _reason(exc: BaseException) -> str:
    if isinstance(exc, TimeoutError):
        return "timeout: the service did not answer in time"
    if isinstance(exc, asyncio.IncompleteReadError):
        return f"connection closed after {len(exc.partial)} bytes"
    if isinstance(exc, EOFError):
        return "connection closed before an answer"
    if isinstance(exc, ProtocolMismatch):
        return str(exc)
    if isinstance(exc, ValueError | struct.error):
        return f"malformed answer: {exc}"[:300]
    return f"{type(exc).__name__}: {exc}"[:300]
