"""The scan engine: footprints in, one `TargetResult` per zone and per host out, streamed.

Targets are expanded lazily and at most `hosts_in_flight` are worked on at once, so memory
stays flat however many hosts are queued. Every job runs under the guarded network's limits
and timeouts; every host has an overall deadline; no failure of one job stops another.

What is scanned follows the internet's shape: a name is checked as a zone only where it is
a zone's apex (its SOA), and a domain's mail exchangers are followed and scanned on port 25
as the domain's (`via` "mx:<domain>"), once per scan however many organisations share them.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable, Iterator, Set
from dataclasses import dataclass, replace
from typing import Literal

from utsyn.scan.discovery import discover
from utsyn.scan.family import CheckFamily, ScanConfig, ScanContext
from utsyn.scan.guard import GuardedNet, ScopeRefused
from utsyn.scan.model import (
    DomainTarget,
    Footprint,
    Job,
    Observation,
    Target,
    TargetResult,
    failed,
    is_ip,
    observe,
)
from utsyn.scan.registry import FAMILIES
from utsyn.scan.resolve import ResolveError, Resolver
from utsyn.scan.zone import zone_of


@dataclass(frozen=True, slots=True)
class Unit:
    """One zone or one host name of one organisation: the engine's unit of progress."""

    org: str
    kind: Literal["domain", "host"]
    name: str
    via: str = ""  # why: "" for the footprint's own names, "mx:<domain>" for an exchanger


def units(footprint: Footprint) -> Iterator[Unit]:
    for domain in footprint.domains:
        yield Unit(footprint.org, "domain", domain)
    for name in (*footprint.hostnames, *footprint.ips):
        yield Unit(footprint.org, "host", name)


MAIL_PORT = 25  # where other mail servers deliver (RFC 5321): what an MX must answer on


def mx_units(result: TargetResult, known_hosts: Set[str]) -> list[Unit]:
    """The mail exchangers a zone's result names, as host units on port 25 attributed to
    the zone's organisation; exchangers already in the footprint are scanned as its hosts."""
    if result.kind != "domain":
        return []
    exchangers: list[str] = next(
        (o.value for o in result.observations if o.check == "dns.mx" and o.error is None), []
    )
    wanted = sorted({str(x).lower() for x in exchangers or []} - set(known_hosts))
    via = f"mx:{result.target}"
    return [Unit(result.org, "host", f"{name}:{MAIL_PORT}", via) for name in wanted]


class Scanner:
    def __init__(self, config: ScanConfig, families: Iterable[CheckFamily] | None = None) -> None:
        if families is None:
            families = FAMILIES
        self.config = config
        self.families = list(families)
        self.last_context: ScanContext | None = None

    def context(self) -> ScanContext:
        """A fresh guarded network and resolver with this scanner's limits."""
        return self._context()

    def _context(self) -> ScanContext:
        c = self.config
        net = GuardedNet(c.scope, c.timeouts, c.max_connections, c.per_host)
        return ScanContext(c, net, Resolver(net, list(c.nameservers), c.dns_port))

    async def scan(
        self, footprints: Iterable[Footprint], skip: Set[tuple[str, str, str]] = frozenset()
    ) -> AsyncIterator[TargetResult]:
        """Results in completion order; stopping the iteration cancels the rest.

        `skip` holds (org, kind, target) already done (a resumed run): not scanned again.
        """
        scan = self._context()
        self.last_context = scan
        queue: asyncio.Queue[TargetResult | None] = asyncio.Queue(self.config.hosts_in_flight)
        producer = asyncio.create_task(self._produce(footprints, scan, queue, skip))
        try:
            while (result := await queue.get()) is not None:
                yield result
            await producer  # re-raises a failure of the producer itself
        finally:
            producer.cancel()

    async def _produce(
        self,
        footprints: Iterable[Footprint],
        scan: ScanContext,
        queue: asyncio.Queue[TargetResult | None],
        skip: Set[tuple[str, str, str]],
    ) -> None:
        slots = asyncio.Semaphore(self.config.hosts_in_flight)
        shared = _Shared()

        async def work(unit: Unit, group: asyncio.TaskGroup, known: _Known) -> None:
            try:
                result = await shared.scan(unit, lambda: self.scan_unit(unit, scan))
                await queue.put(result)
            finally:
                slots.release()
            for follow in mx_units(result, known.hosts):
                if known.claim(follow) and (follow.org, follow.kind, follow.name) not in skip:
                    await slots.acquire()
                    group.create_task(work(follow, group, known))

        try:
            async with asyncio.TaskGroup() as group:
                for footprint in footprints:
                    known = _Known(footprint)
                    for unit in units(footprint):
                        if (unit.org, unit.kind, unit.name) in skip:
                            continue
                        await slots.acquire()
                        group.create_task(work(unit, group, known))
        finally:
            await queue.put(None)

    async def scan_unit(self, unit: Unit, scan: ScanContext) -> TargetResult:
        began = time.perf_counter()
        observations: list[Observation] = []
        try:
            async with asyncio.timeout(self.config.host_deadline):
                if unit.kind == "domain":
                    await self._scan_zone(unit.name, scan, observations)
                else:
                    await self._scan_host(unit.name, scan, observations)
        except TimeoutError:
            observations.append(
                Observation(unit.name, "scan.deadline", None, error="host deadline reached")
            )
        kind: Literal["domain", "host"] = unit.kind
        seconds = time.perf_counter() - began
        return TargetResult(unit.org, unit.name, kind, tuple(observations), seconds, unit.via)

    async def _scan_zone(self, name: str, scan: ScanContext, out: list[Observation]) -> None:
        zone = await zone_of(name, scan)
        out.append(zone)
        if zone.error is not None or zone.value == name:  # an apex (or not known: ask anyway)
            await self._run_jobs(DomainTarget(name), scan, out)

    async def _scan_host(self, spec: str, scan: ScanContext, out: list[Observation]) -> None:
        name, ports = split_host_port(spec)
        ips = await self._addresses(name, scan, out)
        for ip in ips:
            targets, notes = await discover(name, ip, scan, ports or scan.config.ports)
            out.extend(notes)
            out.extend(observe(t, "service.open", True, probe="tcp connect") for t in targets)
            await asyncio.gather(*(self._run_jobs(t, scan, out) for t in targets))

    async def _addresses(self, name: str, scan: ScanContext, out: list[Observation]) -> list[str]:
        if is_ip(name):
            return [name]
        try:
            ips = await scan.resolver.addresses(name)
        except ResolveError as exc:
            out.append(Observation(name, "dns.resolve", None, error=str(exc)))
            return []
        out.append(Observation(name, "dns.resolve", ips, probe="A/AAAA"))
        return ips

    async def _run_jobs(self, target: Target, scan: ScanContext, out: list[Observation]) -> None:
        jobs = [job for family in self.families for job in family.jobs(target)]
        by_family = {f.family: f for f in self.families}
        await asyncio.gather(*(self._run_job(by_family[j.family], j, scan, out) for j in jobs))

    async def _run_job(
        self, family: CheckFamily, job: Job, scan: ScanContext, out: list[Observation]
    ) -> None:
        for attempt in range(self.config.retries + 1):
            try:
                # The connection rule (scan/family.py) is kept by the guard, per run.
                with scan.net.job(f"the job {job.family}:{job.name} on {job.target.label}"):
                    out.extend(await family.run(job, scan))
                return
            except ScopeRefused as exc:
                out.append(failed(job.target, "scope.refused", str(exc), probe=job.name))
                return
            except (TimeoutError, ConnectionError) as exc:
                if attempt == self.config.retries:
                    reason = "timeout" if isinstance(exc, TimeoutError) else _reason(exc)
                    out.append(failed(job.target, f"{job.family}.error", reason, job.name))
            except OSError as exc:
                out.append(failed(job.target, f"{job.family}.error", _reason(exc), job.name))
                return
            except Exception as exc:  # a check's bug must not cost the other results
                reason = f"internal error: {type(exc).__name__}: {exc}"
                out.append(failed(job.target, f"{job.family}.error", reason, job.name))
                return


class _Known:
    """One footprint's host names, and the followed units already claimed for it."""

    def __init__(self, footprint: Footprint) -> None:
        self.hosts = frozenset(split_host_port(h)[0] for h in footprint.hostnames)
        self._claimed: set[str] = set()

    def claim(self, unit: Unit) -> bool:
        """True the first time: two of its domains with one exchanger scan it once."""
        if unit.name in self._claimed:
            return False
        self._claimed.add(unit.name)
        return True


class _Shared:
    """Followed hosts scanned once per scan: one provider's MX serving many organisations
    is asked once, and each organisation gets the result as its own."""

    def __init__(self) -> None:
        self._scans: dict[str, asyncio.Future[TargetResult]] = {}

    async def scan(self, unit: Unit, run: Callable[[], Awaitable[TargetResult]]) -> TargetResult:
        if not unit.via:
            return await run()
        found = self._scans.get(unit.name)
        if found is not None:
            first = await asyncio.shield(found)
            return replace(first, org=unit.org, via=unit.via)
        future: asyncio.Future[TargetResult] = asyncio.get_running_loop().create_future()
        self._scans[unit.name] = future
        try:
            result = await run()
        except BaseException as exc:
            future.set_exception(exc)
            future.exception()  # retrieved: nobody else may be waiting
            raise
        future.set_result(result)
        return result


def split_host_port(spec: str) -> tuple[str, tuple[int, ...]]:
    """`host`, `host:port`, `1.2.3.4:443` or `[::1]:443` → (host, ports)."""
    if spec.startswith("["):
        host, _, rest = spec[1:].partition("]")
        return host, (int(rest[1:]),) if rest.startswith(":") else ()
    if spec.count(":") == 1:
        host, port = spec.split(":")
        return host, (int(port),)
    return spec, ()


def _reason(exc: BaseException) -> str:
    text = str(exc) or type(exc).__name__
    return f"{type(exc).__name__}: {text}" if text != type(exc).__name__ else text
