"""One HTTP/1.1 response read from an untrusted server, with every cap applied.

Every byte a hostile server sends is capped here: the response head (64 KiB, 100 fields),
chunk-size and trailer lines, the number of 1xx answers, and the body (1 MiB, also after
gzip/deflate decoding, so a decompression bomb stops there). Time is capped by the caller
(`client.Session`): per response and per job.
"""

from __future__ import annotations

import re
import zlib
from dataclasses import dataclass
from typing import Protocol

from utsyn.scan.model import excerpt

HEAD_LIMIT = 64 * 1024
HEADER_COUNT_LIMIT = 100
BODY_LIMIT = 1024 * 1024  # raw and decoded alike
LINE_LIMIT = 8 * 1024  # chunk-size and trailer lines
TRAILER_LIMIT = 32  # trailer fields after the last chunk
INTERIM_LIMIT = 5  # 1xx answers skipped before the real one
RECV_SIZE = 65536

_TOKEN = re.compile(rb"[!#$%&'*+.^_`|~0-9A-Za-z-]+")
_STATUS_LINE = re.compile(rb"HTTP/([0-9])\.([0-9]) ([0-9]{3})(?:[ \t](.*))?")
_DIGITS = re.compile(r"[0-9]{1,18}")


class HttpError(Exception):
    """The server's answer is not usable HTTP; the message is the reason, recorded as is."""


class StaleConnection(HttpError):
    """A kept-alive connection was closed by the server before it answered."""


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


# ---------------------------------------------------------------- reading a response


class Reader:
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
            try:
                filled = await self._fill()
            except ConnectionError as exc:
                if self._buffer or not self.used:
                    raise
                # A reset instead of a close: a kept-alive connection the server dropped.
                raise StaleConnection(f"connection reset before an answer: {exc}") from exc
            if not filled:
                if not self._buffer and self.used:
                    raise StaleConnection("connection closed before an answer")
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
class Head:
    version: tuple[int, int]
    status: int
    reason: str
    headers: tuple[tuple[str, str], ...]


def parse_head(raw: bytes) -> Head:
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
    return Head(version, int(match.group(3)), _decode(match.group(4) or b""), tuple(fields))


def _decode(value: bytes) -> str:
    # Field values are opaque octets: valid UTF-8 reads as text, anything else stays visible.
    return value.decode("utf-8", "backslashreplace")


async def read_response(reader: Reader, head_only: bool = False) -> Response:
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


def _field(head: Head, name: str) -> str:
    return ", ".join(v for n, v in head.headers if n == name).lower()


async def _read_body(reader: Reader, head: Head) -> tuple[bytes, bool, bool]:
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


async def _read_chunked(reader: Reader) -> tuple[bytes, bool]:
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


async def _skip_trailers(reader: Reader) -> None:
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


def _keeps_alive(head: Head) -> bool:
    tokens = {t.strip() for t in _field(head, "connection").split(",")}
    if "close" in tokens:
        return False
    return head.version >= (1, 1) or "keep-alive" in tokens
