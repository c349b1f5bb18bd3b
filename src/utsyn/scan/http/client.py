"""A small HTTP/1.1 client of our own over `GuardedNet` connections.

Our own because every byte a hostile server sends must be capped: the response itself is
read within the caps of `response.py` (head, fields, body, decoded body); here are the caps
on time (per response and per job) and on connections (per session). TLS is fetched with
OpenSSL at its most permissive (certificates are the TLS family's business) unless the
caller brings a context that verifies (MTA-STS does); a server that only speaks SSLv3, RC4
or 3DES, which this OpenSSL cannot, is fetched with tlslite-ng (`legacy.py`).
"""

from __future__ import annotations

import asyncio
import re
import ssl
from contextlib import AsyncExitStack
from dataclasses import dataclass
from urllib.parse import quote

from utsyn.scan.family import ScanContext
from utsyn.scan.http.legacy import LegacyTlsChannel, LegacyTlsMemory
from utsyn.scan.http.response import (
    RECV_SIZE,
    Channel,
    HttpError,
    Reader,
    Response,
    StaleConnection,
    read_response,
)
from utsyn.scan.model import ServiceTarget, is_ip
from utsyn.scan.tlscontext import permissive_context

# A session (requests to one origin) opens at most this many connections, one at a time:
# the page job asks six paths, and a server that closes after every answer costs one each.
SESSION_CONNECTIONS = 8
RESPONSE_READS = 2  # one response may take this many read timeouts in all (drip-feeding)
JOB_READS = 8  # one job may take this many read timeouts in all (< the host deadline)
ACCEPT_HTML = "text/html,application/xhtml+xml,*/*;q=0.8"

HOSTNAME = re.compile(r"[A-Za-z0-9_.-]{1,253}")


@dataclass(frozen=True, slots=True)
class Origin:
    """Where a request goes: the scheme and name of the URL and the address to connect to."""

    scheme: str
    name: str
    ip: str
    port: int

    @classmethod
    def of(cls, target: ServiceTarget) -> Origin:
        return cls(target.protocol, target.host, target.ip, target.port)

    @property
    def host_header(self) -> str:
        host = f"[{self.name}]" if ":" in self.name else self.name
        default = 443 if self.scheme == "https" else 80
        return host if self.port == default else f"{host}:{self.port}"

    def url(self, path: str = "/") -> str:
        return f"{self.scheme}://{self.host_header}{path}"


def build_request(origin: Origin, path: str, user_agent: str, accept: str = ACCEPT_HTML) -> bytes:
    """A GET request whose every line is safe: paths from Location headers are untrusted."""
    target = quote(path if path.startswith("/") else "/" + path, safe="/%:@!$&'()*+,;=-._~?")
    agent = re.sub(r"[^\x20-\x7e]", "", user_agent)
    lines = [
        f"GET {target} HTTP/1.1",
        f"Host: {origin.host_header}",
        f"User-Agent: {agent}",
        f"Accept: {accept}",
        "Accept-Encoding: gzip, deflate",
        "Connection: keep-alive",
    ]
    return ("\r\n".join(lines) + "\r\n\r\n").encode("ascii")


def tls_context() -> ssl.SSLContext:
    """OpenSSL at its most permissive: fetch whatever an old server speaks, judge nothing."""
    return permissive_context(("http/1.1",))


def job_deadline(scan: ScanContext) -> float:
    """The event-loop time by which a job's requests must all be answered."""
    return asyncio.get_running_loop().time() + scan.net.timeouts.read * JOB_READS


@dataclass
class _StreamChannel:
    reader: asyncio.StreamReader
    writer: asyncio.StreamWriter
    scan: ScanContext

    async def send(self, data: bytes) -> None:
        self.writer.write(data)
        await asyncio.wait_for(self.writer.drain(), self.scan.net.timeouts.read)

    async def recv(self) -> bytes:
        return await self.scan.net.read(self.reader, RECV_SIZE)


async def _send(reader: Reader, request: bytes) -> None:
    """Send on the session's connection; a kept-alive one the server has dropped is stale.

    A server may close an idle kept-alive connection at any time (RFC 9112 section 9.5);
    over TLS the next request then fails as it is sent, not as the answer is read.
    """
    try:
        await reader.channel.send(request)
    except ConnectionError as exc:
        if not reader.used:
            raise
        raise StaleConnection(f"kept-alive connection dropped: {exc}") from exc


class Session:
    """Requests to one origin over at most one open connection at a time.

    A kept-alive connection carries the next request; a server that closes (or whose answer
    was cut at a cap) costs a new connection, up to SESSION_CONNECTIONS. Every response has
    its own deadline, and all of them together the job's `deadline` (event-loop time).

    `legacy`: where a failed OpenSSL handshake falls back to tlslite-ng (remembered per
    address); None: no fallback, the handshake's failure is the answer. `tls`: the context
    for https (default: the permissive `tls_context()`).
    """

    def __init__(
        self,
        scan: ScanContext,
        origin: Origin,
        deadline: float,
        *,
        legacy: LegacyTlsMemory | None = None,
        tls: ssl.SSLContext | None = None,
        accept: str = ACCEPT_HTML,
    ) -> None:
        self.scan = scan
        self.origin = origin
        self.deadline = deadline
        self.legacy = legacy
        self.tls = tls
        self.accept = accept
        self.connections = 0
        self._stack: AsyncExitStack | None = None
        self._reader: Reader | None = None

    async def __aenter__(self) -> Session:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self._drop()

    async def get(self, path: str) -> Response:
        per_response = self.scan.net.timeouts.read * RESPONSE_READS
        loop = asyncio.get_running_loop()
        for _ in range(2):  # a stale kept-alive connection earns one fresh attempt
            try:
                async with asyncio.timeout_at(min(loop.time() + per_response, self.deadline)):
                    reader = self._reader or await self._connect()
                    await _send(reader, self._request(path))
                    response = await read_response(reader)
            except StaleConnection:
                await self._drop()
                continue
            except BaseException:
                await self._drop()
                raise
            if not response.reusable:
                await self._drop()
            return response
        raise HttpError("the server closed every connection before answering")

    def _request(self, path: str) -> bytes:
        return build_request(self.origin, path, self.scan.config.user_agent, self.accept)

    async def _drop(self) -> None:
        stack, self._stack, self._reader = self._stack, None, None
        if stack is not None:
            await stack.aclose()

    async def _connect(self) -> Reader:
        stack = AsyncExitStack()
        try:
            channel = await self._open(stack)
        except BaseException:
            await stack.aclose()
            raise
        self._stack, self._reader = stack, Reader(channel)
        return self._reader

    def _count(self) -> None:
        """Every connection the session opens (a failed handshake too) counts."""
        if self.connections >= SESSION_CONNECTIONS:
            raise HttpError(f"more than {SESSION_CONNECTIONS} connections needed")
        self.connections += 1

    async def _open(self, stack: AsyncExitStack) -> Channel:
        o, net = self.origin, self.scan.net
        key = (o.ip, o.port)
        if o.scheme == "https" and self.legacy is not None and key in self.legacy:
            return await self._open_legacy(stack)
        self._count()
        tls = (self.tls or tls_context()) if o.scheme == "https" else None
        try:
            reader, writer = await stack.enter_async_context(net.tcp(o.ip, o.port, o.name, tls))
        except (ssl.SSLError, ConnectionResetError):
            if tls is None or self.legacy is None:
                raise
            # OpenSSL here cannot speak SSLv3, RC4 or 3DES, and some old stacks reset the
            # connection on a modern ClientHello; tlslite-ng can talk to both.
            self.legacy.add(key)
            return await self._open_legacy(stack)
        return _StreamChannel(reader, writer, self.scan)

    async def _open_legacy(self, stack: AsyncExitStack) -> Channel:
        o, net = self.origin, self.scan.net
        self._count()
        sock = await stack.enter_async_context(net.blocking_socket(o.ip, o.port, o.name))
        channel = LegacyTlsChannel(sock)
        stack.callback(channel.close)
        # Bounded by the session's response deadline; the socket timeout bounds each read.
        server_name = o.name if HOSTNAME.fullmatch(o.name) and not is_ip(o.name) else None
        await channel.handshake(server_name)
        return channel
