"""Runs a lab: one asyncio process serving every host on its own loopback address.

`Lab` is the asyncio core. `running_lab()` runs one in a background thread for tests and
the CLI; `utsyn lab up --detach` runs one in a child process and records it in a state file.
"""

from __future__ import annotations

import asyncio
import json
import os
import threading
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, Protocol

from utsyn.errors import LabError
from utsyn.lab.ca import LabCA
from utsyn.lab.context import DNS_IP, FIRST_HOST_OCTET, LabContext, address_plan
from utsyn.lab.dns.servers import LabDns, start_name_server, start_open_resolver
from utsyn.lab.http.server import http_handler, respond_bytes
from utsyn.lab.mail import smtp_handler
from utsyn.lab.mailbox import IMAP_KINDS, POP3_KINDS, mailbox_handler
from utsyn.lab.manifest import (
    IMPLICIT_TLS_KINDS,
    SMTP_KINDS,
    Host,
    Manifest,
    Service,
    ServiceKind,
)
from utsyn.lab.process import alive
from utsyn.lab.real.software import RealSoftware
from utsyn.lab.real.tier import RealTier
from utsyn.lab.services.handler import service_handler
from utsyn.lab.ssh import start_ssh_server
from utsyn.lab.tls import LegacyTlsServer, server_context

Tier = Literal["python", "real"]


class Stoppable(Protocol):
    async def stop(self) -> None: ...


class _Closable(Protocol):
    def close(self) -> None: ...
    async def wait_closed(self) -> None: ...


@dataclass
class _Listeners:
    """asyncio's and asyncssh's servers, which stop alike: close each, then wait for each."""

    servers: list[_Closable] = field(default_factory=list)

    async def stop(self) -> None:
        for server in self.servers:
            server.close()
        for server in self.servers:
            await server.wait_closed()


@dataclass
class _LegacyServers:
    servers: list[LegacyTlsServer] = field(default_factory=list)

    async def stop(self) -> None:
        await asyncio.gather(*(asyncio.to_thread(s.stop) for s in self.servers))


async def _stall(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    """Accept, read whatever comes, never answer, until the client gives up."""
    try:
        while await reader.read(4096):
            pass
    finally:
        writer.close()


@dataclass(frozen=True)
class LabInfo:
    """What a client needs to use a running lab: where its DNS is and which CA to trust."""

    scenario: str
    dns_ip: str
    dns_port: int
    ca_file: Path
    trust_anchor_file: Path
    state_dir: Path
    addresses: dict[str, str]
    started_in: float

    def to_json(self) -> dict[str, Any]:
        return {
            "scenario": self.scenario,
            "dns_ip": self.dns_ip,
            "dns_port": self.dns_port,
            "ca_file": str(self.ca_file),
            "trust_anchor_file": str(self.trust_anchor_file),
            "state_dir": str(self.state_dir),
            "addresses": self.addresses,
            "started_in": self.started_in,
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> LabInfo:
        return cls(
            scenario=data["scenario"],
            dns_ip=data["dns_ip"],
            dns_port=int(data["dns_port"]),
            ca_file=Path(data["ca_file"]),
            trust_anchor_file=Path(data["trust_anchor_file"]),
            state_dir=Path(data["state_dir"]),
            addresses=dict(data["addresses"]),
            started_in=float(data["started_in"]),
        )


class Lab:
    def __init__(
        self,
        manifest: Manifest,
        state_dir: Path,
        cache_dir: Path,
        dns_ip: str = DNS_IP,
        dns_port: int = 53,
        first_octet: int = FIRST_HOST_OCTET,
        stalled: frozenset[str] = frozenset(),
        tier: Tier = "python",
        software: Sequence[RealSoftware] | None = None,
    ) -> None:
        self.manifest = manifest
        # "real": what real Debian software can serve, it serves (`lab.real`), the lab's
        # name server included when its software is there; the rest stays Python.
        self.tier = tier
        self.real: RealTier | None = None
        self.software = software  # the real tier's software; None: all of `real.tier.SOFTWARE`
        self.first_octet = first_octet
        # Hosts that accept connections and then say nothing, as an overloaded server does.
        self.stalled = stalled
        self.state_dir = state_dir
        self.cache_dir = cache_dir
        self.dns_port = dns_port
        self._dns_ip = dns_ip
        self._running: list[Stoppable] = []
        self._plain = _Listeners()
        self._legacy = _LegacyServers()
        self._ssh = _Listeners()
        self.info: LabInfo | None = None

    async def start(self) -> LabInfo:
        began = time.perf_counter()
        self.state_dir.mkdir(parents=True, exist_ok=True)
        ctx = LabContext(
            manifest=self.manifest,
            addresses=address_plan(self.manifest, self.first_octet),
            ca=LabCA(self.state_dir, self.cache_dir),
            state_dir=self.state_dir,
            dns_ip=self._dns_ip,
            dns_port=self.dns_port,
        )
        self._running = [self._plain, self._legacy, self._ssh]
        try:
            if self.tier == "real":
                self.real = RealTier(ctx, self.state_dir / "real", self.software)
            dns = LabDns(ctx, port=self.dns_port, key_dir=self.cache_dir)
            await dns.start(listen=self.real is None or not self.real.serves_central)
            self._running.append(dns)
            real = await self._start_real()
            for _, host in self.manifest.hosts():
                for service in host.services:
                    if (host.name, service.effective_port) not in real:
                        await self._serve(ctx, host, service)
        except OSError as exc:
            await self.stop()
            raise LabError("the lab could not bind its addresses: %(reason)s", reason=exc) from exc
        self.info = LabInfo(
            scenario=self.manifest.name,
            dns_ip=ctx.dns_ip,
            dns_port=self.dns_port,
            ca_file=ctx.ca.root_pem_path,
            trust_anchor_file=dns.trust_anchor_path,
            state_dir=self.state_dir,
            addresses=ctx.addresses,
            started_in=time.perf_counter() - began,
        )
        return self.info

    async def stop(self) -> None:
        running, self._running = self._running, []
        for item in reversed(running):
            await item.stop()
        real, self.real = self.real, None
        if real is not None:
            await asyncio.to_thread(real.stop)

    async def _start_real(self) -> set[tuple[str, int]]:
        """Start the real tier's daemons; the (host, port) pairs they serve."""
        if self.real is None:
            return set()
        await asyncio.to_thread(self.real.start)
        return self.real.served()

    async def _serve(self, ctx: LabContext, host: Host, service: Service) -> None:
        ips = [ctx.addresses[host.name]] + (["::1"] if host.ipv6 else [])
        port = service.effective_port
        if host.name in self.stalled:
            for ip in ips:
                self._plain.servers.append(await asyncio.start_server(_stall, ip, port))
            return
        if service.kind == ServiceKind.DNS_RESOLVER:
            for ip in ips:
                self._running.append(await start_open_resolver(ctx, ip, port))
            return
        if service.kind == ServiceKind.DNS_AUTHORITATIVE:
            for ip in ips:
                self._running.append(await start_name_server(ctx, ip, port, service.version_bind))
            return
        if service.kind == ServiceKind.SSH:
            for ip in ips:
                self._ssh.servers.append(await start_ssh_server(service, host, ctx, ip))
            return
        if service.kind == ServiceKind.HTTPS and service.tls and service.tls.legacy:
            self._serve_legacy_https(ctx, host, service, ips)
            return
        handler, ssl_context = self._handler(ctx, host, service)
        for ip in ips:
            server = await asyncio.start_server(
                handler, ip, port, ssl=ssl_context, reuse_address=True, backlog=256
            )
            self._plain.servers.append(server)

    def _handler(self, ctx: LabContext, host: Host, service: Service) -> tuple[Any, Any]:
        names = [host.name, *host.aliases]
        tls_ctx = (
            server_context(service.tls, ctx.ca.issue(names, service.tls.cert))
            if service.tls is not None
            else None
        )
        if service.kind == ServiceKind.HTTP:
            return http_handler(service, host, ctx, "http"), None
        if service.kind == ServiceKind.HTTPS:
            return http_handler(service, host, ctx, "https"), tls_ctx
        # Mail services take the context for STARTTLS; with implicit TLS, the server wraps.
        implicit = tls_ctx if service.kind in IMPLICIT_TLS_KINDS else None
        if service.kind in SMTP_KINDS:
            return smtp_handler(service, host, ctx, tls_ctx if service.starttls else None), implicit
        if service.kind in IMAP_KINDS | POP3_KINDS:
            return mailbox_handler(service, host, ctx, tls_ctx), implicit
        return service_handler(service, host, ctx), None

    def _serve_legacy_https(
        self, ctx: LabContext, host: Host, service: Service, ips: list[str]
    ) -> None:
        assert service.tls is not None
        creds = ctx.ca.issue([host.name, *host.aliases], service.tls.cert)

        def respond(raw: bytes) -> bytes:
            return respond_bytes(raw, service, host, ctx, "https")

        for ip in ips:
            server = LegacyTlsServer(ip, service.effective_port, service.tls, creds, respond)
            server.start()
            self._legacy.servers.append(server)


# ------------------------------------------------------------------ a lab in a thread


class RunningLab:
    """A lab served by an event loop in a background thread (tests, CLI foreground)."""

    def __init__(self, lab: Lab) -> None:
        self.lab = lab
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, name="utsyn-lab")
        self._thread.daemon = True

    @property
    def info(self) -> LabInfo:
        assert self.lab.info is not None
        return self.lab.info

    def start(self) -> LabInfo:
        self._thread.start()
        return asyncio.run_coroutine_threadsafe(self.lab.start(), self._loop).result(60)

    def stop(self) -> None:
        if not self._thread.is_alive():
            return
        asyncio.run_coroutine_threadsafe(self.lab.stop(), self._loop).result(30)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(10)
        self._loop.close()


@contextmanager
def running_lab(
    manifest: Manifest,
    state_dir: Path,
    cache_dir: Path,
    dns_ip: str = DNS_IP,
    dns_port: int = 53,
    first_octet: int = FIRST_HOST_OCTET,
    stalled: frozenset[str] = frozenset(),
    tier: Tier = "python",
    software: Sequence[RealSoftware] | None = None,
) -> Iterator[LabInfo]:
    """A lab in a background thread for the duration of a `with` block; `stalled` hosts
    accept connections and never answer; `tier="real"` serves what it can with real software
    (`software`, or all the real tier knows)."""
    lab = RunningLab(
        Lab(manifest, state_dir, cache_dir, dns_ip, dns_port, first_octet, stalled, tier, software)
    )
    try:
        yield lab.start()
    finally:
        lab.stop()


# ------------------------------------------------------------------ the state file


def write_state(path: Path, info: LabInfo, pid: int) -> None:
    """Written atomically once the lab serves: its presence means 'ready'."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps({"pid": pid, **info.to_json()}, indent=2), encoding="utf-8")
    os.replace(tmp, path)


def read_state(path: Path) -> tuple[int, LabInfo] | None:
    """The running lab recorded in `path`, or None when there is none (or it died)."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    pid = int(data.get("pid", 0))
    if not alive(pid):
        return None
    return pid, LabInfo.from_json(data)
