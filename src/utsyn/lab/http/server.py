"""A small, real HTTP/1.1 server for lab hosts: it serves exactly what a host's HttpSpec says.

Scanners are tested against it, so it behaves like nginx or Apache wherever a scanner could
notice: a Server header on every response, keep-alive with an idle timeout, size caps that
answer 414/431, 400 for garbage, 405 for methods it does not serve. The behaviour lives in
two pure functions, `parse_request` and `respond`; `http_handler` runs them on asyncio
streams (plain or TLS, the runtime decides) and `respond_bytes` on a blocking socket (the
tlslite-ng server for legacy TLS profiles).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from dataclasses import dataclass

from utsyn.lab.context import IDLE_TIMEOUT, Handler, LabContext
from utsyn.lab.http.requests import (
    MAX_HEAD,
    MAX_REQUEST_LINE,
    Request,
    RequestError,
    find_head_end,
    parse_request,
)
from utsyn.lab.http.responses import Response, http_spec, respond, status_response
from utsyn.lab.manifest import (
    Host,
    Service,
)

log = logging.getLogger(__name__)

# After refusing a request, keep reading (and discarding) this long before closing, so the
# client reads our answer instead of a reset caused by its own unread bytes (Apache does 2 s).
LINGER_SECONDS = 2.0


# ---------------------------------------------------------------- serving


@dataclass(frozen=True)
class _Vhost:
    service: Service
    host: Host
    ctx: LabContext
    scheme: str

    def answer(self, request: Request) -> Response:
        try:
            return respond(request, self.service, self.host, self.ctx, self.scheme)
        except Exception:
            # A bug must not take the connection down silently: log it, answer as servers do.
            log.exception(
                "lab http: %s %s on %s failed", request.method, request.target, self.host.name
            )
            return status_response(500, self.service)


def respond_bytes(
    raw: bytes,
    service: Service,
    host: Host,
    ctx: LabContext,
    scheme: str,
    *,
    keep_alive: bool = False,
) -> bytes:
    """One request in, one response out, for a blocking server (the tlslite-ng thread).

    `raw` holds at least the request head (see `find_head_end`). The response says
    `Connection: close` unless `keep_alive` is set and the request allows it; the caller
    closes the connection when it does.
    """
    vhost = _Vhost(service, host, ctx, scheme)
    try:
        request = parse_request(raw)
    except RequestError as exc:
        return status_response(exc.status, service).encode(close=True)
    close = not (keep_alive and request.keep_alive and request.framed)
    return vhost.answer(request).encode(head_only=request.method == "HEAD", close=close)


def http_handler(
    service: Service,
    host: Host,
    ctx: LabContext,
    scheme: str,
    *,
    idle_timeout: float = IDLE_TIMEOUT,
) -> Handler:
    """A connection handler for asyncio.start_server (with or without ssl=)."""
    http_spec(service)  # a service without an http spec fails at start-up, not per request
    vhost = _Vhost(service, host, ctx, scheme)

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            await _serve(reader, writer, vhost, idle_timeout)
        except (OSError, EOFError):
            pass  # the client went away (or stalled mid-body); nobody is left to answer
        except asyncio.CancelledError:
            # The lab shutting down. Nobody awaits this task, and Python 3.11's start_server
            # logs a cancelled handler as an unhandled error, so end it quietly instead.
            pass
        finally:
            # No wait_closed(): a TLS peer that never answers close_notify would hold us here.
            writer.close()

    return handle


async def _serve(
    reader: asyncio.StreamReader,
    writer: asyncio.StreamWriter,
    vhost: _Vhost,
    idle_timeout: float,
) -> None:
    buffer = bytearray()  # bytes read beyond the current request (pipelining)
    while True:
        try:
            head = await asyncio.wait_for(_read_head(reader, buffer), idle_timeout)
            if head is None:
                return
            request = parse_request(head)
        except TimeoutError:
            return  # idle, or too slow to send a head: close silently, as nginx does
        except RequestError as exc:
            writer.write(status_response(exc.status, vhost.service).encode(close=True))
            await writer.drain()
            await _linger(reader, writer)
            return
        await asyncio.wait_for(_skip_body(reader, buffer, request.content_length), idle_timeout)
        close = not request.keep_alive or not request.framed
        response = vhost.answer(request)
        writer.write(response.encode(head_only=request.method == "HEAD", close=close))
        await writer.drain()
        if close:
            if not request.framed:
                await _linger(reader, writer)
            return


async def _read_head(reader: asyncio.StreamReader, buffer: bytearray) -> bytes | None:
    """The next request head, or None at a clean end of the connection."""
    while (end := find_head_end(buffer)) is None:
        del buffer[: len(buffer) - len(buffer.lstrip(b"\r\n"))]
        if b"\n" not in buffer and len(buffer) > MAX_REQUEST_LINE:
            raise RequestError(414, "request line too long")
        if len(buffer) > MAX_HEAD:
            raise RequestError(431, "request head too large")
        chunk = await reader.read(65536)
        if not chunk:
            if buffer:
                raise RequestError(400, "connection ended mid-request")
            return None
        buffer += chunk
    head = bytes(buffer[:end])
    del buffer[:end]
    return head


async def _skip_body(reader: asyncio.StreamReader, buffer: bytearray, length: int) -> None:
    buffered = min(length, len(buffer))
    del buffer[:buffered]
    if length > buffered:
        await reader.readexactly(length - buffered)


async def _linger(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    """Half-close and drain the client's unread bytes so it sees our answer, not a reset."""
    if not writer.can_write_eof():
        return  # TLS cannot half-close; the answer is already flushed
    writer.write_eof()
    with contextlib.suppress(OSError):
        async with asyncio.timeout(LINGER_SECONDS):
            while await reader.read(65536):
                pass
