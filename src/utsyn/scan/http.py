"""HTTP(S) checks: the home page, its headers and HTML, security.txt, exposed files, and the
redirect chain of plain-HTTP services.

The requests go through a small HTTP/1.1 client of our own over `GuardedNet` connections,
because every byte a hostile server sends must be capped: the response head (64 KiB, 100
fields), the body (1 MiB, also after gzip/deflate decoding, so a decompression bomb stops
there), the time per response and per job, and the number of redirects and connections.
TLS is fetched with OpenSSL at its most permissive (certificates are the TLS family's
business); a server that only speaks SSLv3, RC4 or 3DES, which this OpenSSL cannot, is
fetched with tlslite-ng over a blocking socket in a thread.

Two jobs per service:
* `page` (one keep-alive connection): GET / and, for a page that does not redirect,
  /.well-known/security.txt, a random path for the soft-404 baseline, /.git/HEAD, /.env and
  /backup/. A server that closes after every answer costs one connection per request, one
  at a time.
* `redirects` (plain http only): the Location chain from http://host/ across hosts, one
  connection per hop (at most 10), each hop resolved with our resolver and guarded.

And one DNS question per https service, `apex`: is the host name the apex of its DNS zone
(does it own the zone's SOA record)? HSTS without includeSubDomains matters there (RFC 6797
section 11.4; hstspreload.org wants the directive on the apex).
"""

from __future__ import annotations

import asyncio
import codecs
import functools
import re
import secrets
import socket
import ssl
import warnings
import zlib
from collections.abc import Callable, Iterable
from contextlib import AsyncExitStack, suppress
from dataclasses import dataclass, field
from datetime import UTC, datetime
from html.parser import HTMLParser
from typing import Any, ClassVar, Protocol
from urllib.parse import quote, urljoin, urlsplit

from utsyn.scan.family import ScanContext
from utsyn.scan.guard import ScopeRefused
from utsyn.scan.model import Job, Observation, ServiceTarget, Target, excerpt, failed, observe
from utsyn.scan.resolve import ResolveError
from utsyn.scan.zone import zone_of

# ---------------------------------------------------------------- limits

HEAD_LIMIT = 64 * 1024
HEADER_COUNT_LIMIT = 100
BODY_LIMIT = 1024 * 1024  # raw and decoded alike
LINE_LIMIT = 8 * 1024  # chunk-size and trailer lines
TRAILER_LIMIT = 32  # trailer fields after the last chunk
INTERIM_LIMIT = 5  # 1xx answers skipped before the real one
MAX_REDIRECTS = 10
CONNECTIONS_PER_JOB = 8
RESPONSE_READS = 2  # one response may take this many read timeouts in all (drip-feeding)
JOB_READS = 8  # one job may take this many read timeouts in all (< the host deadline)
VALUE_LIMIT = 8192  # a reported header value; a CSP of a few KiB is normal
TEXT_LIMIT = 512  # titles, cookie names, URLs
ASSET_LIMIT = 1000  # scripts and subresources remembered per page
RECV_SIZE = 65536
LEGACY_CACHE_LIMIT = 4096

REPORTED_HEADERS = (
    "server",
    "x-powered-by",
    "strict-transport-security",
    "content-security-policy",
    "x-frame-options",
    "x-content-type-options",
    "referrer-policy",
    "x-xss-protection",
)
SECURITY_TXT_PATH = "/.well-known/security.txt"
EXPOSURE_PATHS = {"git": "/.git/HEAD", "env": "/.env", "directory_listing": "/backup/"}

_TOKEN = re.compile(rb"[!#$%&'*+.^_`|~0-9A-Za-z-]+")
_STATUS_LINE = re.compile(rb"HTTP/([0-9])\.([0-9]) ([0-9]{3})(?:[ \t](.*))?")
_DIGITS = re.compile(r"[0-9]{1,18}")
_HOSTNAME = re.compile(r"[A-Za-z0-9_.-]{1,253}")


class HttpError(Exception):
    """The server's answer is not usable HTTP; the message is the reason, recorded as is."""


class _StaleConnection(HttpError):
    """A kept-alive connection was closed by the server before it answered."""


# ---------------------------------------------------------------- origins and responses


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


@dataclass(frozen=True, slots=True)
class Response:
    status: int
    reason: str
    headers: tuple[tuple[str, str], ...]  # names lower-cased, values decoded, in order
    body: bytes  # de-chunked and decompressed, at most BODY_LIMIT
    truncated: bool = False
    reusable: bool = False  # the connection may carry another request
    head: bytes = b""  # the raw head, for evidence

    def header(self, name: str) -> str | None:
        """All values of a field joined as RFC 9110 section 5.3 allows; None when absent."""
        values = self.all(name)
        return ", ".join(values) if values else None

    def all(self, name: str) -> list[str]:
        return [v for n, v in self.headers if n == name]

    @property
    def location(self) -> str | None:
        """The redirect target of a 3xx answer, as sent."""
        return self.header("location") if 300 <= self.status < 400 else None

    @property
    def is_html(self) -> bool:
        kind = (self.header("content-type") or "").lower()
        return "html" in kind or self.body.lstrip()[:1] == b"<"


# ---------------------------------------------------------------- channels


class Channel(Protocol):
    async def send(self, data: bytes) -> None: ...

    async def recv(self) -> bytes:
        """Some bytes, or b"" at the end of the stream; TimeoutError after the read timeout."""
        ...


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


class _LegacyTlsChannel:
    """tlslite-ng over a guarded blocking socket; every blocking call runs in a thread."""

    def __init__(self, sock: socket.socket) -> None:
        from tlslite import TLSConnection

        self._sock = sock
        self._tls = TLSConnection(sock)
        # Many old servers end the connection without close_notify: that is an end, not an error.
        self._tls.ignoreAbruptClose = True

    async def handshake(self, name: str) -> None:
        from tlslite.errors import TLSError

        try:
            await asyncio.to_thread(self._handshake, name)
        except TLSError as exc:
            raise ConnectionError(f"legacy TLS handshake failed: {exc!r}") from exc

    def _handshake(self, name: str) -> None:
        from tlslite import HandshakeSettings

        settings = HandshakeSettings()
        settings.minVersion = (3, 0)
        settings.maxVersion = (3, 3)
        settings.cipherNames = [*settings.cipherNames, "rc4"]
        # PKCS#1 first and no SHA-384/512 with PSS: old servers (and tlslite-ng's own server)
        # may pick a PSS hash too long for a 1024-bit key and drop the connection.
        settings.rsaSchemes = ["pkcs1", "pss"]
        settings.rsaSigHashes = ["sha256", "sha1"]
        server_name = name if _HOSTNAME.fullmatch(name) and not _is_ip(name) else None
        self._tls.handshakeClientCert(settings=settings, serverName=server_name)

    async def send(self, data: bytes) -> None:
        await asyncio.to_thread(self._tls.write, data)

    async def recv(self) -> bytes:
        from tlslite.errors import TLSError

        try:
            return bytes(await asyncio.to_thread(self._tls.read, RECV_SIZE, 1))
        except TLSError as exc:
            raise ConnectionError(f"legacy TLS read failed: {exc!r}") from exc

    def close(self) -> None:
        # shutdown() wakes a thread blocked in recv(); close() alone would leave it waiting
        # for the socket timeout.
        with suppress(OSError):
            self._sock.shutdown(socket.SHUT_RDWR)


# ---------------------------------------------------------------- reading a response


class _Reader:
    """Buffered, capped reading from a channel."""

    def __init__(self, channel: Channel) -> None:
        self.channel = channel
        self._buffer = bytearray()
        self.used = False  # has a response been read on this connection?

    async def _fill(self) -> bool:
        chunk = await self.channel.recv()
        self._buffer += chunk
        return bool(chunk)

    async def head(self) -> bytes:
        while True:
            # Stray line ends before a head (after a body of the wrong length) are skipped.
            del self._buffer[: len(self._buffer) - len(self._buffer.lstrip(b"\r\n"))]
            end = _head_end(self._buffer)
            if end is not None:
                head = bytes(self._buffer[:end])
                del self._buffer[:end]
                return head
            if len(self._buffer) > HEAD_LIMIT:
                raise HttpError(f"response head larger than {HEAD_LIMIT // 1024} KiB")
            if not await self._fill():
                if not self._buffer and self.used:
                    raise _StaleConnection("connection closed before an answer")
                if not self._buffer:
                    raise HttpError("connection closed without an answer")
                raise HttpError(f"connection closed mid-head: {excerpt(bytes(self._buffer), 80)}")

    async def line(self) -> bytes:
        while (end := self._buffer.find(b"\n")) < 0:
            if len(self._buffer) > LINE_LIMIT:
                raise HttpError("chunked framing line too long")
            if not await self._fill():
                raise HttpError("connection closed mid-body")
        line = bytes(self._buffer[: end + 1])
        del self._buffer[: end + 1]
        return line.rstrip(b"\r\n")

    async def exactly(self, size: int) -> bytes:
        while len(self._buffer) < size:
            if not await self._fill():
                raise HttpError("connection closed mid-body")
        data = bytes(self._buffer[:size])
        del self._buffer[:size]
        return data

    async def until_eof(self, limit: int) -> tuple[bytes, bool]:
        while len(self._buffer) <= limit:
            if not await self._fill():
                break
        data = bytes(self._buffer[:limit])
        truncated = len(self._buffer) > limit
        self._buffer.clear()
        return data, truncated


def _head_end(data: bytearray) -> int | None:
    ends = [i + len(sep) for sep in (b"\r\n\r\n", b"\n\n") if (i := data.find(sep)) >= 0]
    return min(ends) if ends else None


@dataclass(frozen=True, slots=True)
class _Head:
    version: tuple[int, int]
    status: int
    reason: str
    headers: tuple[tuple[str, str], ...]


def parse_head(raw: bytes) -> _Head:
    """The status line and header fields of a response head; values are kept verbatim."""
    lines = [line.rstrip(b"\r") for line in raw.split(b"\n")]
    match = _STATUS_LINE.fullmatch(lines[0])
    if match is None:
        raise HttpError(f"not an HTTP response: {excerpt(lines[0], 120)}")
    fields: list[tuple[str, str]] = []
    for line in lines[1:]:
        if not line:  # the blank line that ends the head
            continue
        if line[:1] in b" \t" and fields:  # obsolete line folding (RFC 9112 section 5.2)
            last_name, last_value = fields[-1]
            fields[-1] = (last_name, last_value + " " + _decode(line.strip(b" \t")))
            continue
        name, colon, value = line.partition(b":")
        if colon and _TOKEN.fullmatch(name):  # browsers skip malformed lines; so do we
            fields.append((name.decode("ascii").lower(), _decode(value.strip(b" \t"))))
        if len(fields) > HEADER_COUNT_LIMIT:
            raise HttpError(f"more than {HEADER_COUNT_LIMIT} header fields")
    version = (int(match.group(1)), int(match.group(2)))
    return _Head(version, int(match.group(3)), _decode(match.group(4) or b""), tuple(fields))


def _decode(value: bytes) -> str:
    # Field values are opaque octets: valid UTF-8 reads as text, anything else stays visible.
    return value.decode("utf-8", "backslashreplace")


async def read_response(reader: _Reader, head_only: bool = False) -> Response:
    """One response (skipping 1xx interim answers), with every cap applied."""
    for _ in range(INTERIM_LIMIT + 1):
        raw = await reader.head()
        head = parse_head(raw)
        if not 100 <= head.status < 200:
            break
    else:
        raise HttpError("too many interim (1xx) answers")
    reader.used = True
    if head_only or head.status in (204, 304):
        body, truncated, framed = b"", False, True
    else:
        body, truncated, framed = await _read_body(reader, head)
    body, overflow = _decompress(body, _field(head, "content-encoding"))
    return Response(
        status=head.status,
        reason=head.reason,
        headers=head.headers,
        body=body,
        truncated=truncated or overflow,
        reusable=framed and not truncated and _keeps_alive(head),
        head=raw,
    )


def _field(head: _Head, name: str) -> str:
    return ", ".join(v for n, v in head.headers if n == name).lower()


async def _read_body(reader: _Reader, head: _Head) -> tuple[bytes, bool, bool]:
    """(body, truncated, framed): `framed` is False when only the end of the stream ends it."""
    codings = [c.strip() for c in _field(head, "transfer-encoding").split(",") if c.strip()]
    if codings and codings[-1] == "chunked":
        body, truncated = await _read_chunked(reader)
        return body, truncated, True
    if codings:
        body, truncated = await reader.until_eof(BODY_LIMIT)
        return body, truncated, False
    lengths = {v.strip() for n, v in head.headers if n == "content-length"}
    if not lengths:
        body, truncated = await reader.until_eof(BODY_LIMIT)
        return body, truncated, False
    if len(lengths) != 1 or not _DIGITS.fullmatch(next(iter(lengths))):
        raise HttpError(f"bad Content-Length: {excerpt(', '.join(sorted(lengths)), 80)}")
    length = int(next(iter(lengths)))
    body = await reader.exactly(min(length, BODY_LIMIT))
    return body, length > BODY_LIMIT, True


async def _read_chunked(reader: _Reader) -> tuple[bytes, bool]:
    body = bytearray()
    while True:
        size_text = (await reader.line()).split(b";", 1)[0].strip()
        try:
            size = int(size_text, 16)
        except ValueError:
            raise HttpError(f"bad chunk size: {excerpt(size_text, 40)}") from None
        if size == 0:
            await _skip_trailers(reader)
            return bytes(body), False
        take = min(size, BODY_LIMIT - len(body))
        body += await reader.exactly(take)
        if take < size:
            return bytes(body), True
        await reader.line()  # the CRLF after the chunk data


async def _skip_trailers(reader: _Reader) -> None:
    for _ in range(TRAILER_LIMIT):
        if not await reader.line():
            return
    raise HttpError(f"more than {TRAILER_LIMIT} trailer fields")


def _decompress(body: bytes, coding: str) -> tuple[bytes, bool]:
    """The decoded body and whether decoding stopped at BODY_LIMIT (a bomb stops there)."""
    if coding in ("gzip", "x-gzip"):
        choices = [zlib.MAX_WBITS | 16]
    elif coding == "deflate":
        choices = [zlib.MAX_WBITS, -zlib.MAX_WBITS]  # zlib-wrapped as specified, or raw
    else:
        return body, False  # identity, or a coding we did not ask for: left as sent
    for wbits in choices:
        decoder = zlib.decompressobj(wbits)
        try:
            out = decoder.decompress(body, BODY_LIMIT + 1)
        except zlib.error:
            continue
        return out[:BODY_LIMIT], len(out) > BODY_LIMIT or bool(decoder.unconsumed_tail)
    raise HttpError(f"body does not decode as {coding}")


def _keeps_alive(head: _Head) -> bool:
    tokens = {t.strip() for t in _field(head, "connection").split(",")}
    if "close" in tokens:
        return False
    return head.version >= (1, 1) or "keep-alive" in tokens


def build_request(origin: Origin, path: str, user_agent: str) -> bytes:
    """A GET request whose every line is safe: paths from Location headers are untrusted."""
    target = quote(path if path.startswith("/") else "/" + path, safe="/%:@!$&'()*+,;=-._~?")
    agent = re.sub(r"[^\x20-\x7e]", "", user_agent)
    lines = [
        f"GET {target} HTTP/1.1",
        f"Host: {origin.host_header}",
        f"User-Agent: {agent}",
        "Accept: text/html,application/xhtml+xml,*/*;q=0.8",
        "Accept-Encoding: gzip, deflate",
        "Connection: keep-alive",
    ]
    return ("\r\n".join(lines) + "\r\n\r\n").encode("ascii")


# ---------------------------------------------------------------- sessions


class LegacyTlsMemory:
    """Which (ip, port) needed tlslite-ng, so later jobs skip the failing OpenSSL attempt."""

    def __init__(self) -> None:
        self._known: set[tuple[str, int]] = set()

    def __contains__(self, key: tuple[str, int]) -> bool:
        return key in self._known

    def add(self, key: tuple[str, int]) -> None:
        if len(self._known) >= LEGACY_CACHE_LIMIT:  # a long-lived worker must not grow
            self._known.clear()
        self._known.add(key)


@functools.cache
def tls_context() -> ssl.SSLContext:
    """OpenSSL at its most permissive: fetch whatever an old server speaks, judge nothing."""
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    with warnings.catch_warnings():  # deprecated on purpose: old servers are still scanned
        warnings.simplefilter("ignore", DeprecationWarning)
        ctx.minimum_version = ssl.TLSVersion.TLSv1
    ctx.set_ciphers("ALL:@SECLEVEL=0")
    ctx.options |= getattr(ssl, "OP_LEGACY_SERVER_CONNECT", 0x4)  # pre-RFC 5746 servers
    ctx.set_alpn_protocols(["http/1.1"])
    return ctx


class Session:
    """Requests to one origin over at most one open connection at a time.

    A kept-alive connection carries the next request; a server that closes (or whose answer
    was cut at a cap) costs a new connection, up to CONNECTIONS_PER_JOB. Every response has
    its own deadline, and all of them together the job's `deadline` (event-loop time).
    """

    def __init__(
        self, scan: ScanContext, origin: Origin, legacy: LegacyTlsMemory, deadline: float
    ) -> None:
        self.scan = scan
        self.origin = origin
        self.legacy = legacy
        self.deadline = deadline
        self.connections = 0
        self._stack: AsyncExitStack | None = None
        self._reader: _Reader | None = None

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
                    await reader.channel.send(self._request(path))
                    response = await read_response(reader)
            except _StaleConnection:
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
        return build_request(self.origin, path, self.scan.config.user_agent)

    async def _drop(self) -> None:
        stack, self._stack, self._reader = self._stack, None, None
        if stack is not None:
            await stack.aclose()

    async def _connect(self) -> _Reader:
        if self.connections >= CONNECTIONS_PER_JOB:
            raise HttpError(f"more than {CONNECTIONS_PER_JOB} connections needed")
        stack = AsyncExitStack()
        try:
            channel = await self._open(stack)
        except BaseException:
            await stack.aclose()
            raise
        self._stack, self._reader = stack, _Reader(channel)
        return self._reader

    async def _open(self, stack: AsyncExitStack) -> Channel:
        o, net = self.origin, self.scan.net
        key = (o.ip, o.port)
        if o.scheme == "https" and key in self.legacy:
            return await self._open_legacy(stack)
        self.connections += 1
        tls = tls_context() if o.scheme == "https" else None
        try:
            reader, writer = await stack.enter_async_context(net.tcp(o.ip, o.port, o.name, tls))
        except (ssl.SSLError, ConnectionResetError):
            if tls is None:
                raise
            # OpenSSL here cannot speak SSLv3, RC4 or 3DES, and some old stacks reset the
            # connection on a modern ClientHello; tlslite-ng can talk to both.
            self.legacy.add(key)
            return await self._open_legacy(stack)
        return _StreamChannel(reader, writer, self.scan)

    async def _open_legacy(self, stack: AsyncExitStack) -> Channel:
        o, net = self.origin, self.scan.net
        self.connections += 1
        sock = await stack.enter_async_context(net.blocking_socket(o.ip, o.port, o.name))
        channel = _LegacyTlsChannel(sock)
        stack.callback(channel.close)
        # Bounded by the session's response deadline; the socket timeout bounds each read.
        await channel.handshake(o.name)
        return channel


# ---------------------------------------------------------------- what a page says


@dataclass
class Page:
    """What the HTML of one page holds that a check looks at."""

    title: str | None = None
    generator: str | None = None
    login_form: bool = False
    assets: list[tuple[str, str, bool]] = field(default_factory=list)  # (kind, url, integrity)
    subresources: list[str] = field(default_factory=list)  # URLs a browser loads by itself


# Tags whose URL attributes a browser fetches while rendering (mixed-content candidates).
_SUBRESOURCE_ATTRS: dict[str, tuple[str, ...]] = {
    "img": ("src",),
    "script": ("src",),
    "iframe": ("src",),
    "frame": ("src",),
    "audio": ("src",),
    "video": ("src", "poster"),
    "source": ("src",),
    "track": ("src",),
    "embed": ("src",),
    "object": ("data",),
    "input": ("src",),
}
_LOADED_LINKS = frozenset({"stylesheet", "icon", "preload", "modulepreload", "manifest"})


class _PageParser(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.page = Page()
        self._title: list[str] | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = {name: (value or "") for name, value in attrs}
        page = self.page
        for name in _SUBRESOURCE_ATTRS.get(tag, ()):
            self._subresource(a.get(name, ""))
        if tag == "script" and a.get("src"):
            self._asset("script", a["src"], a.get("integrity", ""))
        elif tag == "link":
            rels = set(a.get("rel", "").lower().split())
            if rels & _LOADED_LINKS:
                self._subresource(a.get("href", ""))
            if "stylesheet" in rels and a.get("href"):
                self._asset("style", a["href"], a.get("integrity", ""))
        elif tag == "input" and a.get("type", "").strip().lower() == "password":
            page.login_form = True
        elif tag == "meta" and a.get("name", "").strip().lower() == "generator":
            if page.generator is None:
                page.generator = a.get("content", "")
        elif tag == "title" and page.title is None:
            self._title = []

    def handle_endtag(self, tag: str) -> None:
        if tag == "title" and self._title is not None:
            self.page.title = "".join(self._title).strip()
            self._title = None

    def handle_data(self, data: str) -> None:
        if self._title is not None and sum(map(len, self._title)) < TEXT_LIMIT:
            self._title.append(data)

    def _subresource(self, url: str) -> None:
        if url.strip() and len(self.page.subresources) < ASSET_LIMIT:
            self.page.subresources.append(url.strip())

    def _asset(self, kind: str, url: str, integrity: str) -> None:
        if len(self.page.assets) < ASSET_LIMIT:
            self.page.assets.append((kind, url.strip(), bool(integrity.strip())))


def parse_page(html: str) -> Page:
    parser = _PageParser()
    parser.feed(html)
    parser.close()
    return parser.page


def page_text(response: Response) -> str:
    """The body as text, in the charset the server names (or the page declares), else UTF-8."""
    charset = _charset(response.header("content-type") or "")
    if charset is None:
        found = re.search(rb"<meta[^>]+charset=[\"']?([A-Za-z0-9_-]+)", response.body[:2048], re.I)
        charset = found.group(1).decode("ascii") if found else None
    try:
        codecs.lookup(charset or "utf-8")
    except LookupError:
        charset = None
    return response.body.decode(charset or "utf-8", "replace")


def _charset(content_type: str) -> str | None:
    found = re.search(r"charset=[\"']?([A-Za-z0-9_-]+)", content_type, re.I)
    return found.group(1) if found else None


def sri_missing(page: Page, page_url: str) -> list[str]:
    """Cross-origin scripts and stylesheets without an integrity attribute, as written."""
    own = _origin_of(page_url)
    missing = {
        url
        for _, url, integrity in page.assets
        if not integrity and _origin_of(urljoin(page_url, url)) not in (own, None)
    }
    return sorted(missing)


def _origin_of(url: str) -> tuple[str, str, int] | None:
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:
        return None
    if parts.scheme not in ("http", "https") or not parts.hostname:
        return None
    return parts.scheme, parts.hostname, port or (443 if parts.scheme == "https" else 80)


def mixed_content(page: Page, page_url: str) -> bool:
    """An https page that makes the browser load something over plain http."""
    if not page_url.startswith("https:"):
        return False
    return any(urljoin(page_url, url).lower().startswith("http:") for url in page.subresources)


def parse_cookie(header: str) -> dict[str, Any] | None:
    """The name and security attributes of one Set-Cookie value (RFC 6265 section 5.2)."""
    pair, *attributes = header.split(";")
    name, equals, _ = pair.partition("=")
    if not equals or not name.strip():
        return None  # a user agent ignores a cookie without a name
    flags: dict[str, str] = {}
    for attribute in attributes:
        key, _, value = attribute.partition("=")
        flags.setdefault(key.strip().lower(), value.strip())
    return {
        "name": _clean(name.strip(), TEXT_LIMIT),
        "secure": "secure" in flags,
        "httponly": "httponly" in flags,
        "samesite": _clean(flags["samesite"], TEXT_LIMIT) if flags.get("samesite") else None,
    }


def security_txt_state(response: Response, now: datetime) -> tuple[str, str]:
    """("valid" | "expired" | "missing", why) for an answer to /.well-known/security.txt.

    RFC 9116: Contact and Expires are required and an expired file is not to be trusted. A
    file that lacks either is no security.txt at all: it says "missing", with the reason.
    """
    if response.status != 200:
        return "missing", f"status {response.status}"
    if response.is_html:
        return "missing", "an HTML page, not a security.txt"
    fields: dict[str, list[str]] = {}
    for line in response.body.decode("utf-8", "replace").splitlines()[:1000]:
        name, colon, value = line.partition(":")
        if colon and not line.startswith("#"):
            fields.setdefault(name.strip().lower(), []).append(value.strip())
    if not fields.get("contact"):
        return "missing", "no Contact field"
    expires = fields.get("expires", [])
    if len(expires) != 1:
        return "missing", "no Expires field" if not expires else "more than one Expires field"
    when = _iso_datetime(expires[0])
    if when is None:
        return "missing", f"Expires is not an RFC 3339 date: {_clean(expires[0], 80)}"
    return ("valid" if when > now else "expired"), f"Expires: {when.isoformat()}"


def _iso_datetime(text: str) -> datetime | None:
    try:
        when = datetime.fromisoformat(text.strip().replace("Z", "+00:00").replace("z", "+00:00"))
    except ValueError:
        return None
    return when if when.tzinfo else when.replace(tzinfo=UTC)


# Content signatures: what the real file looks like, whatever the status line claims.
_GIT_HEAD = re.compile(r"ref: refs/[^\s]+|[0-9a-f]{40}|[0-9a-f]{64}")
_ENV_LINE = re.compile(r"(export\s+)?[A-Za-z_][A-Za-z0-9_.]*\s*=.*")
_LISTING = re.compile(rb"<title>\s*Index of /|<h1>\s*Index of /", re.I)


def is_git_head(response: Response) -> bool:
    text = response.body[:200].decode("ascii", "replace").strip()
    return _GIT_HEAD.fullmatch(text) is not None


def is_dotenv(response: Response) -> bool:
    if response.is_html:
        return False
    lines = [
        line.strip()
        for line in response.body[:65536].decode("utf-8", "replace").splitlines()
        if line.strip() and not line.lstrip().startswith("#")
    ]
    return bool(lines) and all(_ENV_LINE.fullmatch(line) for line in lines)


def is_listing(response: Response) -> bool:
    return _LISTING.search(response.body[:8192]) is not None


SIGNATURES: dict[str, Callable[[Response], bool]] = {
    "git": is_git_head,
    "env": is_dotenv,
    "directory_listing": is_listing,
}


def exposure_confirmed(
    candidate: Response, baseline: Response | None, signature: Callable[[Response], bool]
) -> bool:
    """A file is there when it answers 200 with its signature and a random path does not.

    The baseline catches servers that answer the same thing everywhere (a catch-all page,
    or a trap that echoes the signature to every path).
    """
    if candidate.status != 200 or not signature(candidate):
        return False
    if baseline is None or baseline.status != 200:
        return True
    return not signature(baseline) and baseline.body != candidate.body


# ---------------------------------------------------------------- the family


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
        return Session(scan, origin, self.legacy, deadline)

    def _deadline(self, scan: ScanContext) -> float:
        return asyncio.get_running_loop().time() + scan.net.timeouts.read * JOB_READS

    # ------------------------------------------------------------ the page job

    async def _page(self, target: ServiceTarget, scan: ScanContext) -> list[Observation]:
        origin = Origin.of(target)
        async with self._session(scan, origin, self._deadline(scan)) as session:
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
        deadline = self._deadline(scan)
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
    if _is_ip(name):
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
    plausible = _is_ip(name) or _HOSTNAME.fullmatch(name) is not None
    if parts.scheme not in ("http", "https") or not plausible:
        notes.append(f"not followed: {excerpt(url, TEXT_LIMIT)}")
        return None
    try:
        addresses = [name] if _is_ip(name) else await scan.resolver.addresses(name)
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


# ---------------------------------------------------------------- observations


def home_observations(target: ServiceTarget, home: Response) -> list[Observation]:
    probe = "GET /"
    head = home.head[:HEAD_LIMIT]
    out = [
        observe(target, "http.status", home.status, probe, head.split(b"\n", 1)[0]),
        observe(target, "http.redirect", _optional(home.location, VALUE_LIMIT), probe),
    ]
    for name in REPORTED_HEADERS:
        value = _optional(home.header(name), VALUE_LIMIT)
        out.append(observe(target, f"http.header.{name}", value, probe))
    return out


def page_observations(target: ServiceTarget, url: str, home: Response) -> list[Observation]:
    probe = "GET /"
    html = page_text(home) if home.is_html else ""
    page = parse_page(html)
    cookies = [c for c in map(parse_cookie, home.all("set-cookie")) if c is not None]
    out = [
        observe(target, "http.title", _optional(page.title, TEXT_LIMIT), probe),
        observe(target, "http.cookies", cookies, probe),
        observe(
            target,
            "http.sri_missing",
            [_clean(u, TEXT_LIMIT) for u in sri_missing(page, url)],
            probe,
        ),
        observe(target, "http.mixed_content", mixed_content(page, url), probe),
        observe(target, "http.login_form", page.login_form, probe),
        observe(target, "http.generator", _optional(page.generator, TEXT_LIMIT), probe),
    ]
    if home.truncated:
        out.append(observe(target, "http.truncated", True, probe, f"capped at {BODY_LIMIT}"))
    return out + _products(target, home, html, page)


def _products(target: ServiceTarget, home: Response, html: str, page: Page) -> list[Observation]:
    """Products named by the headers and the HTML.

    The Server and X-Powered-By banners are read by `identify_banner`, which knows the
    distribution suffixes (`Apache/2.4.29 (Ubuntu)`) that make a CVE match only potential;
    web fingerprints add what the banners do not name.
    """
    from utsyn.scan.fingerprint import identify_web
    from utsyn.scan.products import identify_banner

    banners = [home.header("server") or "", home.header("x-powered-by") or ""]
    named = [p.to_json() for b in banners if b for p in identify_banner("http", b)]
    covered = {_product_key(p.get("cpe")) for p in named} - {None}
    headers = {name: home.header(name) or "" for name, _ in home.headers}
    scripts = [url for kind, url, _ in page.assets if kind == "script"]
    try:
        found = identify_web(headers, html, scripts, home.all("set-cookie"))
    except Exception as exc:  # its bug must not cost the page's other results
        return [failed(target, "service.product", f"fingerprint failed: {exc!r}", "GET /")]
    extra = [p for p in found if _product_key(p.get("cpe")) not in covered]
    return [observe(target, "service.product", product, "GET /") for product in named + extra]


def _product_key(cpe: object) -> str | None:
    """`vendor:product` of a CPE 2.3 name, to tell two sources naming one product."""
    if not isinstance(cpe, str) or not cpe.startswith("cpe:2.3:"):
        return None
    parts = cpe.split(":")
    return f"{parts[3]}:{parts[4]}" if len(parts) > 4 else None


def chain_observations(
    target: ServiceTarget, hops: list[str], notes: list[str]
) -> list[Observation]:
    probe = "redirect chain from /"
    evidence = "; ".join(notes)
    schemes = [urlsplit(hop).scheme for hop in hops]
    first_https = schemes.index("https") if "https" in schemes else len(schemes)
    return [
        observe(
            target, "http.redirect_chain", [_clean(h, TEXT_LIMIT) for h in hops], probe, evidence
        ),
        observe(target, "http.redirects_to_https", bool(hops) and schemes[-1] == "https", probe),
        observe(target, "http.redirect_http_hop", "http" in schemes[first_https:], probe),
    ]


def _clean(text: str, limit: int) -> str:
    # Values go to JSON, the database and terminals: control characters (NUL, ANSI
    # escapes) are escaped and the size is capped, exactly as for evidence.
    return excerpt(text, limit)


def _optional(text: str | None, limit: int) -> str | None:
    return None if text is None else _clean(text, limit)


def _reason(exc: BaseException) -> str:
    if isinstance(exc, TimeoutError):
        return "timeout"
    if isinstance(exc, ScopeRefused | HttpError):
        return str(exc)
    text = str(exc) or type(exc).__name__
    return f"{type(exc).__name__}: {text}"


def _is_ip(name: str) -> bool:
    import ipaddress

    try:
        ipaddress.ip_address(name)
    except ValueError:
        return False
    return True
