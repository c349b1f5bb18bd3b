"""The scope guard: the one chokepoint every outgoing connection of the scanner passes.

`GuardedNet` is the only way a check opens a TCP connection or sends a DNS query. It asks
the `ScopePolicy` about the destination address first, applies the connect timeout and the
global and per-host connection limits, and counts connections for the benchmarks.

It also keeps the jobs' connection rule (`CheckFamily` in scan/family.py): within
`GuardedNet.job()`, which the engine wraps around every run of a job, a job opens its
connections one at a time and at most JOB_CONNECTIONS of them. Breaking the rule raises
`JobBudgetExceeded`: a bug of the family, which the engine records as the job's failure.
"""

from __future__ import annotations

import asyncio
import ipaddress
import socket
import ssl
from collections import Counter
from collections.abc import AsyncIterator, Iterable, Iterator
from contextlib import asynccontextmanager, contextmanager
from contextvars import ContextVar
from dataclasses import dataclass, field
from typing import Literal

import dns.asyncquery
import dns.message

from utsyn.errors import ScopeError

Address = ipaddress.IPv4Address | ipaddress.IPv6Address
Network = ipaddress.IPv4Network | ipaddress.IPv6Network

# Ranges a scan of the internet must never reach: a user-entered domain that resolves
# into them would turn the scanner into a request-forgery tool against its own network.
# Sources: RFC 6890 (special-purpose registries), RFC 1918, RFC 4193, RFC 6598.
_FORBIDDEN_ON_INTERNET: tuple[str, ...] = (
    "0.0.0.0/8",
    "10.0.0.0/8",
    "100.64.0.0/10",
    "127.0.0.0/8",
    "169.254.0.0/16",
    "172.16.0.0/12",
    "192.0.0.0/24",
    "192.0.2.0/24",
    "192.168.0.0/16",
    "198.18.0.0/15",
    "198.51.100.0/24",
    "203.0.113.0/24",
    "224.0.0.0/4",
    "240.0.0.0/4",
    "::/128",
    "::1/128",
    "fc00::/7",
    "fe80::/10",
    "ff00::/8",
    "2001:db8::/32",
)
_LAB_ALLOWED: tuple[str, ...] = ("127.0.0.0/8", "::1/128")


# The connections one run of a job may open, one at a time. The largest job is the HTTP
# redirect chain: ten hops, each one connection, or two when OpenSSL fails and tlslite-ng
# takes over (scan/http/family.py). Families with a loop over addresses (AXFR per name
# server, the MTA-STS policy per address) stop at this many themselves.
JOB_CONNECTIONS = 20


class ScopeRefused(ScopeError):
    """The policy refused a destination; the message is the reason, recorded as evidence
    (in English: not a catalogue id, see tests/words.py)."""


class JobBudgetExceeded(RuntimeError):
    """A job broke the connection rule: a bug of its family, not something a server does
    (a family bounds its own loops within the rule)."""


@dataclass
class _JobCount:
    name: str
    opened: int = 0
    open_now: int = 0


# The running job's count. A context variable, so that each job's task (and any task it
# starts) sees its own job's count, however many jobs share the one GuardedNet.
_JOB: ContextVar[_JobCount | None] = ContextVar("utsyn_scan_job", default=None)


@dataclass(frozen=True)
class ScopePolicy:
    mode: Literal["internet", "lab"] = "internet"
    opt_out_networks: tuple[Network, ...] = ()
    opt_out_domains: tuple[str, ...] = ()

    @classmethod
    def lab(cls) -> ScopePolicy:
        return cls(mode="lab")

    @classmethod
    def internet(
        cls, opt_out_networks: Iterable[str] = (), opt_out_domains: Iterable[str] = ()
    ) -> ScopePolicy:
        nets = tuple(ipaddress.ip_network(n, strict=False) for n in opt_out_networks)
        domains = tuple(d.lower().rstrip(".") for d in opt_out_domains)
        return cls("internet", nets, domains)

    def refusal(self, ip: str, name: str | None = None) -> str | None:
        """Why `ip` (reached as `name`) may not be contacted, or None when it may."""
        try:
            address = ipaddress.ip_address(ip.split("%")[0])
        except ValueError:
            return f"{ip!r} is not an IP address"
        if name is not None and self._opted_out_name(name):
            return f"{name} is on the opt-out list"
        if any(address in net for net in self.opt_out_networks):
            return f"{ip} is on the opt-out list"
        if self.mode == "lab":
            if any(address in ipaddress.ip_network(n) for n in _LAB_ALLOWED):
                return None
            return f"{ip} is outside the lab (loopback only)"
        for net in _FORBIDDEN_ON_INTERNET:
            if address in ipaddress.ip_network(net):
                return f"{ip} is in a reserved or private range ({net})"
        return None

    def check(self, ip: str, name: str | None = None) -> None:
        reason = self.refusal(ip, name)
        if reason is not None:
            raise ScopeRefused(reason)

    def _opted_out_name(self, name: str) -> bool:
        name = name.lower().rstrip(".")
        return any(name == d or name.endswith("." + d) for d in self.opt_out_domains)


@dataclass(frozen=True)
class Timeouts:
    connect: float = 3.0
    read: float = 5.0
    dns: float = 3.0


@dataclass
class NetStats:
    connections: int = 0
    refused: int = 0
    dns_queries: int = 0
    per_ip: Counter[str] = field(default_factory=Counter)


class GuardedNet:
    """Opens connections for checks, within the scope policy and the connection limits."""

    def __init__(
        self,
        policy: ScopePolicy,
        timeouts: Timeouts | None = None,
        max_connections: int = 256,
        per_host: int = 4,
    ) -> None:
        self.policy = policy
        self.timeouts = timeouts or Timeouts()
        self.stats = NetStats()
        self._global = asyncio.Semaphore(max_connections)
        self._per_host_limit = per_host
        self._per_host: dict[str, asyncio.Semaphore] = {}

    def _host_slot(self, ip: str) -> asyncio.Semaphore:
        slot = self._per_host.get(ip)
        if slot is None:
            slot = self._per_host[ip] = asyncio.Semaphore(self._per_host_limit)
        return slot

    def check(self, ip: str, name: str | None = None) -> None:
        reason = self.policy.refusal(ip, name)
        if reason is not None:
            self.stats.refused += 1
            raise ScopeRefused(reason)

    @contextmanager
    def job(self, name: str) -> Iterator[None]:
        """One run of a job, named `name` in errors: within it, connections obey the rule.

        A retry is a new run with a new count. Outside any job (port discovery, a test that
        drives a check directly) connections are not counted.
        """
        token = _JOB.set(_JobCount(name))
        try:
            yield
        finally:
            _JOB.reset(token)

    @contextmanager
    def _counted(self) -> Iterator[None]:
        """The running job's next connection, or JobBudgetExceeded.

        Asked before waiting for a connection slot: a job holding one connection while
        waiting for another could hold every per-host slot and wait forever.
        """
        count = _JOB.get()
        if count is None:
            yield
            return
        if count.open_now:
            raise JobBudgetExceeded(f"{count.name} opened a connection while one was open")
        if count.opened >= JOB_CONNECTIONS:
            raise JobBudgetExceeded(f"{count.name} needed more than {JOB_CONNECTIONS} connections")
        count.opened += 1
        count.open_now += 1
        try:
            yield
        finally:
            count.open_now -= 1

    @asynccontextmanager
    async def tcp(
        self,
        ip: str,
        port: int,
        name: str | None = None,
        tls: ssl.SSLContext | None = None,
        limit: int = 2**16,
    ) -> AsyncIterator[tuple[asyncio.StreamReader, asyncio.StreamWriter]]:
        """One TCP connection (optionally TLS with `tls`), closed on exit.

        `limit` caps the StreamReader buffer: no line or chunk grows past it.
        """
        self.check(ip, name)
        with self._counted():
            async with self._global, self._host_slot(ip):
                self.stats.connections += 1
                self.stats.per_ip[ip] += 1
                reader, writer = await asyncio.wait_for(
                    asyncio.open_connection(
                        ip,
                        port,
                        ssl=tls,
                        server_hostname=(name or ip) if tls else None,
                        limit=limit,
                        ssl_handshake_timeout=self.timeouts.connect if tls else None,
                    ),
                    self.timeouts.connect,
                )
                try:
                    yield reader, writer
                finally:
                    writer.transport.abort()  # no lingering close handshake with a hostile peer

    @asynccontextmanager
    async def blocking_socket(
        self, ip: str, port: int, name: str | None = None
    ) -> AsyncIterator[socket.socket]:
        """A connected blocking socket (with the read timeout) for a library that needs one.

        tlslite-ng speaks only to blocking sockets: use the socket in `asyncio.to_thread`.
        The connection counts against the same limits as `tcp()`.
        """
        self.check(ip, name)
        with self._counted():
            async with self._global, self._host_slot(ip):
                self.stats.connections += 1
                self.stats.per_ip[ip] += 1
                family = socket.AF_INET6 if ":" in ip else socket.AF_INET
                sock = socket.socket(family, socket.SOCK_STREAM)
                try:
                    sock.setblocking(False)
                    loop = asyncio.get_running_loop()
                    connect = loop.sock_connect(sock, (ip, port))
                    await asyncio.wait_for(connect, self.timeouts.connect)
                    sock.setblocking(True)
                    sock.settimeout(self.timeouts.read)
                    yield sock
                finally:
                    sock.close()

    async def dns(
        self,
        query: dns.message.Message,
        nameserver: str,
        port: int = 53,
        tcp: bool = False,
        configured: bool = False,
    ) -> dns.message.Message:
        """One DNS query to `nameserver`, over UDP (or TCP), within the policy.

        `configured` marks the operator's own resolvers (`--resolver`): they may sit on a
        private address, unlike anything a scanned domain points at; opt-outs still apply.
        """
        if configured and self.policy.mode == "internet":
            if any(ipaddress.ip_address(nameserver) in n for n in self.policy.opt_out_networks):
                self.check(nameserver)
        else:
            self.check(nameserver)
        self.stats.dns_queries += 1
        async with self._global:
            if tcp:
                return await dns.asyncquery.tcp(
                    query, nameserver, timeout=self.timeouts.dns, port=port
                )
            return await dns.asyncquery.udp(
                query, nameserver, timeout=self.timeouts.dns, port=port, ignore_unexpected=True
            )

    async def read(self, reader: asyncio.StreamReader, limit: int) -> bytes:
        """Up to `limit` bytes, or b"" at EOF, within the read timeout."""
        return await asyncio.wait_for(reader.read(limit), self.timeouts.read)

    async def readline(self, reader: asyncio.StreamReader) -> bytes:
        return await asyncio.wait_for(reader.readline(), self.timeouts.read)

    async def read_exactly(self, reader: asyncio.StreamReader, size: int) -> bytes:
        return await asyncio.wait_for(reader.readexactly(size), self.timeouts.read)
