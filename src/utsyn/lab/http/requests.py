"""HTTP/1.1 requests as the lab server reads them: size caps that answer 414/431, 400 for
garbage, 505 for other versions, and the framing keep-alive needs. Pure: bytes in, a
`Request` or a `RequestError` out."""

from __future__ import annotations

import re
from dataclasses import dataclass
from urllib.parse import unquote, urlsplit

# Apache's defaults (LimitRequestLine, LimitRequestFieldSize, LimitRequestFields): the caps a
# scanner meets on real servers.
MAX_REQUEST_LINE = 8190
MAX_HEADER_LINE = 8190
MAX_HEADERS = 100
MAX_HEAD = 32 * 1024
# Request bodies are read and thrown away so that keep-alive stays in step; larger → 413.
MAX_BODY = 1024 * 1024

_TOKEN = re.compile(r"[!#$%&'*+.^_`|~0-9A-Za-z-]+")
_VERSION = re.compile(r"HTTP/([0-9])\.([0-9])")
_TARGET = re.compile(r"[\x21-\x7e]+")
_FIELD_VALUE_CONTROLS = re.compile(r"[\x00-\x08\x0a-\x1f\x7f]")
_HOST_VALUE = re.compile(r"[A-Za-z0-9._\-\[\]:]*")
_DIGITS = re.compile(r"[0-9]{1,18}")


class RequestError(ValueError):
    """A request refused before routing; `status` is the answer (400, 413, 414, 431, 505)."""

    def __init__(self, status: int, reason: str) -> None:
        super().__init__(f"{status} {reason}")
        self.status = status


# ---------------------------------------------------------------- requests


@dataclass(frozen=True)
class Request:
    method: str
    target: str  # as sent
    origin: str  # the target in origin form (path?query as sent); "" for "*"
    path: str  # percent-decoded path without the query: what routing looks at
    version: str  # "HTTP/1.1" or "HTTP/1.0"
    headers: tuple[tuple[str, str], ...]  # names lower-cased, in the order sent
    host: str | None  # lower-cased, without port or trailing dot
    content_length: int = 0
    framed: bool = True  # False with Transfer-Encoding: the body's end is unknown to us

    def header(self, name: str) -> str | None:
        return next((v for n, v in self.headers if n == name.lower()), None)

    @property
    def keep_alive(self) -> bool:
        tokens = {
            token.strip().lower()
            for name, value in self.headers
            if name == "connection"
            for token in value.split(",")
        }
        if "close" in tokens:
            return False
        return self.version == "HTTP/1.1" or "keep-alive" in tokens


def find_head_end(data: bytes | bytearray) -> int | None:
    """The index just past the blank line that ends the request head, if it has arrived.

    Bare LF line ends are accepted, as nginx and Apache do; leading blank lines are skipped
    (RFC 9112 section 2.2).
    """
    start = len(data) - len(data.lstrip(b"\r\n"))
    ends = [i + len(sep) for sep in (b"\r\n\r\n", b"\n\n") if (i := data.find(sep, start)) >= 0]
    return min(ends) if ends else None


def parse_request(raw: bytes) -> Request:
    """Parse one request head (anything after the blank line is ignored).

    Raises RequestError with the status a real server would answer.
    """
    end = find_head_end(raw)
    head = raw[:end] if end is not None else raw
    if len(head) > MAX_HEAD:
        raise RequestError(431, "request head too large")
    lines = [line.removesuffix("\r") for line in head.lstrip(b"\r\n").decode("latin-1").split("\n")]
    while lines and not lines[-1]:
        lines.pop()
    if not lines:
        raise RequestError(400, "empty request")
    method, target, version = _request_line(lines[0])
    headers = _header_fields(lines[1:])
    content_length, framed = _body_framing(headers)
    origin, path = _route_target(target)
    return Request(
        method=method,
        target=target,
        origin=origin,
        path=path,
        version=version,
        headers=headers,
        host=_request_host(target, headers, version),
        content_length=content_length,
        framed=framed,
    )


def _request_line(line: str) -> tuple[str, str, str]:
    if len(line) > MAX_REQUEST_LINE:
        raise RequestError(414, "request line too long")
    parts = line.split(" ")
    if len(parts) != 3:
        raise RequestError(400, "malformed request line")
    method, target, version = parts
    if not _TOKEN.fullmatch(method) or not _TARGET.fullmatch(target):
        raise RequestError(400, "malformed request line")
    match = _VERSION.fullmatch(version)
    if match is None:
        raise RequestError(400, "malformed HTTP version")
    if match.group(1) != "1":
        raise RequestError(505, "only HTTP/1.x is served")
    # HTTP/1.2+ would be answered as 1.1 (RFC 9110 section 6.2); 1.0 keeps its own rules.
    return method, target, "HTTP/1.0" if version == "HTTP/1.0" else "HTTP/1.1"


def _header_fields(lines: list[str]) -> tuple[tuple[str, str], ...]:
    if len(lines) > MAX_HEADERS:
        raise RequestError(431, "too many header fields")
    fields: list[tuple[str, str]] = []
    for line in lines:
        if len(line) > MAX_HEADER_LINE:
            raise RequestError(431, "header field too large")
        name, colon, value = line.partition(":")
        # The token check also refuses obsolete line folding and space before the colon,
        # both request-smuggling vectors (RFC 9112 sections 5.1 and 5.2).
        if not colon or not _TOKEN.fullmatch(name) or _FIELD_VALUE_CONTROLS.search(value):
            raise RequestError(400, "malformed header field")
        fields.append((name.lower(), value.strip(" \t")))
    return tuple(fields)


def _body_framing(headers: tuple[tuple[str, str], ...]) -> tuple[int, bool]:
    lengths = [v for n, v in headers if n == "content-length"]
    chunked = any(n == "transfer-encoding" for n, _ in headers)
    if chunked and lengths:
        raise RequestError(400, "both Transfer-Encoding and Content-Length")
    if chunked:
        return 0, False
    if not lengths:
        return 0, True
    if len(set(lengths)) != 1 or not _DIGITS.fullmatch(lengths[0]):
        raise RequestError(400, "bad Content-Length")
    length = int(lengths[0])
    if length > MAX_BODY:
        raise RequestError(413, "request body too large")
    return length, True


def _route_target(target: str) -> tuple[str, str]:
    """(origin form, decoded path) of an origin-form, absolute-form or asterisk target."""
    if target.startswith("/"):
        origin = target
    elif target.lower().startswith(("http://", "https://")):
        parts = urlsplit(target)
        origin = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    elif target == "*":
        return "", "*"
    else:
        raise RequestError(400, "bad request target")
    return origin, unquote(origin.split("?", 1)[0])


def _request_host(target: str, headers: tuple[tuple[str, str], ...], version: str) -> str | None:
    values = [v for n, v in headers if n == "host"]
    if len(values) > 1 or (version == "HTTP/1.1" and not values):
        raise RequestError(400, "exactly one Host header is required")
    if target.lower().startswith(("http://", "https://")):
        # An absolute-form target overrides the Host header (RFC 9112 section 3.2.2).
        values = [urlsplit(target).netloc]
    if not values:
        return None
    if not _HOST_VALUE.fullmatch(values[0]):
        raise RequestError(400, "bad Host header")
    name = urlsplit("//" + values[0]).hostname
    return name.rstrip(".") if name else None
