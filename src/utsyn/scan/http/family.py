"""The HTTP family: its jobs and what each one asks.

Two jobs per service:
* `page` (one `Session`, one keep-alive connection): GET / and, for a page that does not
  redirect, /.well-known/security.txt, a random path for the soft-404 baseline,
  /.git/HEAD, /.env and /backup/. A server that closes after every answer costs one
  connection per request, one at a time (at most `SESSION_CONNECTIONS`).
* `redirects` (plain http only): the Location chain from http://host/ across hosts, one
  session per hop (at most MAX_REDIRECTS), each hop resolved with our resolver and guarded;
  a hop costs one connection, or two when OpenSSL fails and tlslite-ng takes over.

And one DNS question per https service, `apex`: is the host name the apex of its DNS zone
(does it own the zone's SOA record)? HSTS without includeSubDomains matters there (RFC 6797
section 11.4; hstspreload.org wants the directive on the apex).
"""

from __future__ import annotations

import asyncio
import secrets
from collections.abc import Iterable
from datetime import UTC, datetime
from typing import ClassVar
from urllib.parse import urljoin, urlsplit

from utsyn.scan.family import ScanContext
from utsyn.scan.guard import ScopeRefused
from utsyn.scan.http.client import HOSTNAME, Origin, Session, job_deadline
from utsyn.scan.http.exposure import EXPOSURE_PATHS, SIGNATURES, exposure_confirmed
from utsyn.scan.http.html import TEXT_LIMIT
from utsyn.scan.http.legacy import LegacyTlsMemory
from utsyn.scan.http.observations import (
    chain_observations,
    home_observations,
    page_observations,
)
from utsyn.scan.http.response import HttpError, Response
from utsyn.scan.http.securitytxt import SECURITY_TXT_PATH, security_txt_state
from utsyn.scan.model import (
    Job,
    Observation,
    ServiceTarget,
    Target,
    excerpt,
    failed,
    is_ip,
    observe,
)
from utsyn.scan.resolve import ResolveError
from utsyn.scan.zone import zone_of

MAX_REDIRECTS = 10


class HttpFamily:
    family: ClassVar[str] = "http"

    def __init__(self) -> None:
        self.legacy = LegacyTlsMemory()

    def jobs(self, target: Target) -> Iterable[Job]:
        if not isinstance(target, ServiceTarget) or target.protocol not in ("http", "https"):
            return []
        jobs = [Job(self.family, "page", target)]
        if target.protocol == "http":
            jobs.append(Job(self.family, "redirects", target))
        else:
            jobs.append(Job(self.family, "apex", target))
        return jobs

    async def run(self, job: Job, scan: ScanContext) -> list[Observation]:
        target = job.target
        if not isinstance(target, ServiceTarget):
            raise TypeError(f"http job for a {type(target).__name__}")
        if job.name == "page":
            return await self._page(target, scan)
        if job.name == "redirects":
            return await self._redirects(target, scan)
        if job.name == "apex":
            return [await zone_apex(target, scan)]
        raise ValueError(f"unknown http job {job.name!r}")

    def _session(self, scan: ScanContext, origin: Origin, deadline: float) -> Session:
        return Session(scan, origin, deadline, legacy=self.legacy)

    # ------------------------------------------------------------ the page job

    async def _page(self, target: ServiceTarget, scan: ScanContext) -> list[Observation]:
        origin = Origin.of(target)
        async with self._session(scan, origin, job_deadline(scan)) as session:
            try:
                home = await session.get("/")
            except HttpError as exc:
                # Timeouts and refused connections go to the engine, which retries them.
                return [failed(target, "http.status", str(exc), probe="GET /")]
            out = home_observations(target, home)
            if home.location is None:
                # Parsing and fingerprinting a hostile page can take a second of CPU:
                # off the event loop, so other connections keep their timeouts.
                url = origin.url("/")
                out += await asyncio.to_thread(page_observations, target, url, home)
                out += await self._files(target, session)
        return out

    async def _files(self, target: ServiceTarget, session: Session) -> list[Observation]:
        out: list[Observation] = []
        answer = await _attempt(session, SECURITY_TXT_PATH)
        if isinstance(answer, Response):
            state, why = security_txt_state(answer, datetime.now(UTC))
            out.append(observe(target, "http.security_txt", state, f"GET {SECURITY_TXT_PATH}", why))
        else:
            out.append(failed(target, "http.security_txt", answer, f"GET {SECURITY_TXT_PATH}"))
        baseline_path = f"/{secrets.token_hex(8)}/"
        baseline = await _attempt(session, baseline_path)
        for name, path in EXPOSURE_PATHS.items():
            out.append(await _exposure(target, session, name, path, baseline))
        return out

    # ------------------------------------------------------------ the redirect chain

    async def _redirects(self, target: ServiceTarget, scan: ScanContext) -> list[Observation]:
        deadline = job_deadline(scan)
        origin, url = Origin.of(target), Origin.of(target).url("/")
        hops: list[str] = []
        notes: list[str] = []
        out: list[Observation] = []
        while len(hops) < MAX_REDIRECTS:
            try:
                async with self._session(scan, origin, deadline) as session:
                    response = await session.get(_path_of(url))
            except (HttpError, OSError, TimeoutError) as exc:
                if hops and isinstance(exc, HttpError | ConnectionRefusedError):
                    # A later hop that answers wrongly or refuses: the chain ends there,
                    # as a browser's would.
                    notes.append(f"{excerpt(url, TEXT_LIMIT)}: {_reason(exc)}")
                    break
                if hops:  # a later hop gave no answer: no verdict on the chain this time
                    return out + _chain_failed(target, f"{url}: {_reason(exc)}")
                if isinstance(exc, HttpError):
                    return _chain_failed(target, str(exc))
                raise  # the service itself: the engine retries and records timeouts
            if response.location is None:
                break
            url = urljoin(url, response.location.strip())
            hops.append(url)
            next_origin = await _hop_origin(url, scan, notes, out, target)
            if next_origin is None:
                break
            origin = next_origin
        else:
            notes.append(f"stopped after {MAX_REDIRECTS} redirects")
        return out + chain_observations(target, hops, notes)


async def zone_apex(target: ServiceTarget, scan: ScanContext) -> Observation:
    """`http.zone_apex`: whether the host name is a zone's apex (`zone.zone_of`; the same
    SOA question as the zone check, answered once by the resolver's cache)."""
    check, probe, name = "http.zone_apex", f"SOA {target.host}", target.host.lower().rstrip(".")
    if is_ip(name):
        return observe(target, check, False, probe, "an IP address has no zone")
    zone = await zone_of(name, scan)
    if zone.error is not None:
        return failed(target, check, zone.error, probe)
    return observe(target, check, zone.value == name, probe, zone.evidence)


def _chain_failed(target: ServiceTarget, reason: str) -> list[Observation]:
    """The service itself did not answer usable HTTP: no chain was observed."""
    probe = "redirect chain from /"
    checks = ("http.redirect_chain", "http.redirects_to_https", "http.redirect_http_hop")
    return [failed(target, check, reason, probe) for check in checks]


async def _attempt(session: Session, path: str) -> Response | str:
    """The response, or why there is none (one failed request must not cost the others)."""
    try:
        return await session.get(path)
    except (HttpError, OSError, TimeoutError) as exc:
        return _reason(exc)


async def _exposure(
    target: ServiceTarget,
    session: Session,
    name: str,
    path: str,
    baseline: Response | str,
) -> Observation:
    check, probe = f"http.exposed.{name}", f"GET {path}"
    answer = await _attempt(session, path)
    if isinstance(answer, str):
        return failed(target, check, answer, probe)
    base = baseline if isinstance(baseline, Response) else None
    found = exposure_confirmed(answer, base, SIGNATURES[name])
    note = "" if base is not None else f" (no soft-404 baseline: {baseline})"
    evidence = f"{answer.status}: {excerpt(answer.body, 200)}{note}"
    return observe(target, check, found, probe, evidence)


async def _hop_origin(
    url: str, scan: ScanContext, notes: list[str], out: list[Observation], target: ServiceTarget
) -> Origin | None:
    """Where the next hop connects, or None (with the reason noted) when it may not."""
    parts = urlsplit(url)
    try:
        name, port = parts.hostname or "", parts.port
    except ValueError:
        name, port = "", None
    plausible = is_ip(name) or HOSTNAME.fullmatch(name) is not None
    if parts.scheme not in ("http", "https") or not plausible:
        notes.append(f"not followed: {excerpt(url, TEXT_LIMIT)}")
        return None
    try:
        addresses = [name] if is_ip(name) else await scan.resolver.addresses(name)
    except ResolveError as exc:
        notes.append(f"{name} does not resolve: {exc}")
        return None
    if not addresses:
        notes.append(f"{name} has no address")
        return None
    try:
        scan.net.check(addresses[0], name)  # the guard itself, before any connection
    except ScopeRefused as exc:
        out.append(failed(target, "scope.refused", str(exc), probe=f"redirect {excerpt(url, 200)}"))
        notes.append(f"not followed: {exc}")
        return None
    default = 443 if parts.scheme == "https" else 80
    return Origin(parts.scheme, name.lower(), addresses[0], port or default)


def _path_of(url: str) -> str:
    parts = urlsplit(url)
    return (parts.path or "/") + (f"?{parts.query}" if parts.query else "")


def _reason(exc: BaseException) -> str:
    if isinstance(exc, TimeoutError):
        return "timeout"
    if isinstance(exc, ScopeRefused | HttpError):
        return str(exc)
    text = str(exc) or type(exc).__name__
    return f"{type(exc).__name__}: {text}"
