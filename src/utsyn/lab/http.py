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
import base64
import contextlib
import hashlib
import html
import logging
import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from http import HTTPStatus
from urllib.parse import unquote, urlsplit

from utsyn.errors import LabError
from utsyn.lab.context import IDLE_TIMEOUT, Handler, LabContext
from utsyn.lab.manifest import (
    Domain,
    Exposure,
    Host,
    HttpSpec,
    Organisation,
    ScriptRef,
    SecurityTxt,
    Service,
)

log = logging.getLogger(__name__)

# Apache's defaults (LimitRequestLine, LimitRequestFieldSize, LimitRequestFields): the caps a
# scanner meets on real servers.
MAX_REQUEST_LINE = 8190
MAX_HEADER_LINE = 8190
MAX_HEADERS = 100
MAX_HEAD = 32 * 1024
# Request bodies are read and thrown away so that keep-alive stays in step; larger → 413.
MAX_BODY = 1024 * 1024
# After refusing a request, keep reading (and discarding) this long before closing, so the
# client reads our answer instead of a reset caused by its own unread bytes (Apache does 2 s).
LINGER_SECONDS = 2.0

ALLOWED_METHODS = ("GET", "HEAD")
SECURITY_TXT_PATH = "/.well-known/security.txt"
MTA_STS_PATH = "/.well-known/mta-sts.txt"
HTML_TYPE = "text/html; charset=utf-8"
TEXT_TYPE = "text/plain; charset=utf-8"

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


# ---------------------------------------------------------------- responses


@dataclass(frozen=True)
class Response:
    status: int
    headers: list[tuple[str, str]]
    body: bytes

    def header(self, name: str) -> str | None:
        return next((v for n, v in self.headers if n.lower() == name.lower()), None)

    def encode(self, *, head_only: bool = False, close: bool = False) -> bytes:
        """The bytes on the wire; Connection is added here because it is connection state."""
        lines = [f"HTTP/1.1 {self.status} {HTTPStatus(self.status).phrase}"]
        lines += [f"{name}: {value}" for name, value in self.headers]
        lines.append(f"Connection: {'close' if close else 'keep-alive'}")
        head = ("\r\n".join(lines) + "\r\n\r\n").encode("utf-8")
        return head if head_only else head + self.body


@dataclass(frozen=True)
class _Content:
    """What routing decides; `_finish` turns it into a Response with the common headers."""

    status: int
    body: bytes
    content_type: str = HTML_TYPE
    headers: tuple[tuple[str, str], ...] = ()


@dataclass(frozen=True)
class _Site:
    """Everything a page is rendered from."""

    spec: HttpSpec
    host: Host
    org: Organisation
    scheme: str
    now: datetime

    @property
    def mail_domain(self) -> str:
        if self.org.primary_domain:
            return self.org.primary_domain
        if self.org.domains:
            return self.org.domains[0].name
        return self.host.name.split(".", 1)[1] if self.host.name.count(".") > 1 else self.host.name


def http_spec(service: Service) -> HttpSpec:
    if service.http is None:
        raise LabError(f"{service.kind} service on port {service.effective_port} has no http spec")
    return service.http


def respond(
    request: Request,
    service: Service,
    host: Host,
    ctx: LabContext,
    scheme: str,
    *,
    now: datetime | None = None,
) -> Response:
    """The answer a server configured by `service.http` gives to `request`."""
    spec = http_spec(service)
    site = _Site(spec, host, ctx.organisation_of(host), scheme, now or datetime.now(UTC))
    return _finish(_route(request, site, ctx), site.spec, site.now)


def status_response(status: int, service: Service, *, now: datetime | None = None) -> Response:
    """A plain error page (400, 404, 500, ...) with the same common headers as any answer."""
    spec = http_spec(service)
    return _finish(_status_page(status, spec), spec, now or datetime.now(UTC))


def _finish(content: _Content, spec: HttpSpec, now: datetime) -> Response:
    headers = [("Server", spec.server)] if spec.server is not None else []
    headers += [
        ("Date", format_datetime(now.astimezone(UTC), usegmt=True)),
        ("Content-Type", content.content_type),
        ("Content-Length", str(len(content.body))),
        *content.headers,
        *_configured_headers(spec),
    ]
    return Response(content.status, headers, content.body)


def _configured_headers(spec: HttpSpec) -> list[tuple[str, str]]:
    # Sent verbatim on every response, whatever the scheme: the scanner judges, not the lab.
    pairs = (
        ("X-Powered-By", spec.powered_by),
        ("Strict-Transport-Security", spec.hsts),
        ("Content-Security-Policy", spec.csp),
        ("X-Frame-Options", spec.x_frame_options),
        ("X-Content-Type-Options", spec.x_content_type_options),
        ("Referrer-Policy", spec.referrer_policy),
        ("X-XSS-Protection", spec.x_xss_protection),
    )
    return [(name, value) for name, value in pairs if value is not None]


def _route(request: Request, site: _Site, ctx: LabContext) -> _Content:
    spec = site.spec
    if spec.redirect is not None:
        # Like nginx's `return 301`, a redirecting vhost redirects every method and path.
        return _redirect(spec, request)
    if request.method not in ALLOWED_METHODS:
        return _status_page(405, spec, (("Allow", ", ".join(ALLOWED_METHODS)),))
    policy = _mta_sts_policy(request, site.host, ctx)
    if policy is not None:
        return _Content(200, policy.encode(), TEXT_TYPE)
    found = _well_known(request.path, site) or _exposure(request.path, site)
    if found is not None:
        return found
    # A catch-all site answers its home page where a real file is missing (an SPA fallback).
    if request.path == "/" or spec.catch_all:
        return _home_page(site)
    return _status_page(404, spec)


def _redirect(spec: HttpSpec, request: Request) -> _Content:
    location = spec.redirect or ""
    if location.endswith("/"):
        location += request.origin.removeprefix("/")
    return _status_page(301, spec, (("Location", location),))


def _status_page(
    status: int, spec: HttpSpec, headers: tuple[tuple[str, str], ...] = ()
) -> _Content:
    """nginx's error page, naming the server as nginx does with server_tokens on."""
    title = f"{status} {HTTPStatus(status).phrase}"
    footer = f"<hr><center>{html.escape(spec.server)}</center>\n" if spec.server else ""
    page = (
        f"<html>\n<head><title>{title}</title></head>\n<body>\n"
        f"<center><h1>{title}</h1></center>\n{footer}</body>\n</html>\n"
    )
    return _Content(status, page.encode(), HTML_TYPE, headers)


# ---------------------------------------------------------------- well-known files


def _well_known(path: str, site: _Site) -> _Content | None:
    if path == "/robots.txt":
        return _text("User-agent: *\nDisallow: /admin/\nDisallow: /sok/\n")
    if path == SECURITY_TXT_PATH and site.spec.security_txt is not SecurityTxt.MISSING:
        return _text(_security_txt(site))
    return None


def _security_txt(site: _Site) -> str:
    """RFC 9116: Contact and Expires are required; an expired file is as good as none."""
    if site.spec.security_txt is SecurityTxt.VALID:
        expires = site.now + timedelta(days=180)
    else:
        expires = site.now - timedelta(days=60)
    return (
        f"# Sikkerhetskontakt for {site.org.name}\n"
        f"Contact: mailto:sikkerhet@{site.mail_domain}\n"
        f"Expires: {expires.astimezone(UTC).strftime('%Y-%m-%dT%H:%M:%SZ')}\n"
        "Preferred-Languages: nb, nn, en\n"
        f"Canonical: {site.scheme}://{site.host.name}{SECURITY_TXT_PATH}\n"
    )


def _mta_sts_policy(request: Request, host: Host, ctx: LabContext) -> str | None:
    """The RFC 8461 policy, when asked for by its own name on the host that serves it."""
    if request.path != MTA_STS_PATH or request.host is None:
        return None
    if not request.host.startswith("mta-sts."):
        return None
    domain = _domain_named(request.host.removeprefix("mta-sts."), ctx)
    if domain is None or domain.mta_sts is None:
        return None
    names = {host.name, *host.aliases}
    if request.host not in names and domain.mta_sts.policy_host not in names:
        return None  # a misrouted request: this host is not the policy host
    lines = [
        "version: STSv1",
        f"mode: {domain.mta_sts.mode}",
        *(f"mx: {mx}" for mx in domain.mx),
        f"max_age: {domain.mta_sts.max_age}",
    ]
    return "\r\n".join(lines) + "\r\n"  # RFC 8461 section 3.2: CRLF line ends


def _domain_named(name: str, ctx: LabContext) -> Domain | None:
    domains = (d for org in ctx.manifest.organisations for d in org.domains)
    return next((d for d in domains if d.name == name), None)


# ---------------------------------------------------------------- exposures


def _exposure(path: str, site: _Site) -> _Content | None:
    exposed = site.spec.exposed
    if Exposure.GIT in exposed and path == "/.git/HEAD":
        return _text("ref: refs/heads/main\n")
    if Exposure.GIT in exposed and path == "/.git/config":
        return _text(_git_config(site))
    if Exposure.ENV in exposed and path == "/.env":
        return _text(_dotenv(site))
    if Exposure.DIRECTORY_LISTING in exposed and path == "/backup":
        # Real servers add the slash to a directory before listing it.
        return _status_page(301, site.spec, (("Location", "/backup/"),))
    if Exposure.DIRECTORY_LISTING in exposed and path == "/backup/":
        return _Content(200, _directory_listing(site).encode())
    return None


def _text(body: str) -> _Content:
    return _Content(200, body.encode(), TEXT_TYPE)


def _fake_secret(site: _Site, label: str, size: int = 32) -> bytes:
    # Derived from the host name so the lab is reproducible; these guard nothing anywhere.
    return hashlib.sha256(f"utsyn-lab:{site.host.name}:{label}".encode()).digest()[:size]


def _git_config(site: _Site) -> str:
    return (
        "[core]\n\trepositoryformatversion = 0\n\tfilemode = true\n\tbare = false\n"
        f'[remote "origin"]\n\turl = https://git.{site.mail_domain}/web/{site.host.name}.git\n'
        "\tfetch = +refs/heads/*:refs/remotes/origin/*\n"
        '[branch "main"]\n\tremote = origin\n\tmerge = refs/heads/main\n'
    )


def _dotenv(site: _Site) -> str:
    slug = site.org.slug.replace("-", "_")
    app_key = base64.b64encode(_fake_secret(site, "app-key")).decode()
    lines = [
        f'APP_NAME="{site.org.name}"',
        "APP_ENV=production",
        "APP_DEBUG=false",
        f"APP_KEY=base64:{app_key}",
        f"APP_URL=https://{site.host.name}",
        "DB_CONNECTION=mysql",
        "DB_HOST=127.0.0.1",
        "DB_PORT=3306",
        f"DB_DATABASE={slug}",
        f"DB_USERNAME={slug}_web",
        f"DB_PASSWORD={_fake_secret(site, 'db', 12).hex()}",
        f"MAIL_HOST=smtp.{site.mail_domain}",
        "MAIL_PORT=587",
        f"MAIL_FROM_ADDRESS=noreply@{site.mail_domain}",
    ]
    return "\n".join(lines) + "\n"


def _directory_listing(site: _Site) -> str:
    """nginx autoindex output, with files whose names and sizes a backup job would leave."""
    rows = ['<a href="../">../</a>']
    for days_ago, name in ((1, "{slug}-db-{date}.sql.gz"), (8, "www-{date}.tar.gz")):
        when = site.now - timedelta(days=days_ago)
        filename = name.format(slug=site.org.slug, date=when.strftime("%Y-%m-%d"))
        size = int.from_bytes(_fake_secret(site, filename, 3)) * 64
        link = f'<a href="{filename}">{filename}</a>'
        rows.append(f"{link}{' ' * (51 - len(filename))}{when:%d-%b-%Y %H:%M} {size:>19}")
    return (
        "<html>\n<head><title>Index of /backup/</title></head>\n<body>\n"
        "<h1>Index of /backup/</h1><hr><pre>" + "\n".join(rows) + "\n</pre><hr></body>\n</html>\n"
    )


# ---------------------------------------------------------------- the home page


def _home_page(site: _Site) -> _Content:
    cookies = tuple(("Set-Cookie", cookie) for cookie in site.spec.cookies)
    return _Content(200, _home_html(site).encode(), HTML_TYPE, cookies)


def _home_html(site: _Site) -> str:
    spec, org, esc = site.spec, site.org, html.escape
    head = [
        '<meta charset="utf-8">',
        '<meta name="viewport" content="width=device-width, initial-scale=1">',
        f"<title>{esc(spec.title or org.name)}</title>",
        f'<link rel="canonical" href="{site.scheme}://{site.host.name}/">',
    ]
    if spec.generator is not None:
        head.append(f'<meta name="generator" content="{esc(spec.generator)}">')
    head += [_asset_tag(ref) for ref in spec.scripts]
    body = [
        f"<header><h1>{esc(org.name)}</h1>",
        '<nav><a href="/tjenester/">Tjenester</a> <a href="/nyheter/">Nyheter</a> '
        '<a href="/innsyn/">Politikk og innsyn</a> <a href="/kontakt/">Kontakt oss</a></nav>',
        "</header>",
        "<main>",
        f"<p>Velkommen til nettsidene til {esc(org.name)}. Her finner du informasjon om "
        "våre tjenester, nyheter og hvordan du kommer i kontakt med oss.</p>",
        *_optional_body(site),
        "</main>",
        f"<footer>{esc(org.name)} · Org.nr. {org.orgnr} · "
        f"E-post: postmottak@{esc(site.mail_domain)}</footer>",
    ]
    return (
        '<!DOCTYPE html>\n<html lang="nb">\n<head>\n'
        + "\n".join(head)
        + "\n</head>\n<body>\n"
        + "\n".join(body)
        + "\n</body>\n</html>\n"
    )


def _optional_body(site: _Site) -> list[str]:
    parts: list[str] = []
    if site.spec.mixed_content:
        parts.append(
            f'<img src="http://{site.host.name}/bilder/logo.png" '
            f'alt="Logo for {html.escape(site.org.name)}">'
        )
    if site.spec.login_form:
        parts += [
            '<form method="post" action="/logg-inn">',
            '<label for="brukernavn">Brukernavn</label>',
            '<input id="brukernavn" name="brukernavn" type="text" autocomplete="username">',
            '<label for="passord">Passord</label>',
            '<input id="passord" name="passord" type="password" autocomplete="current-password">',
            '<button type="submit">Logg inn</button>',
            "</form>",
        ]
    return parts


def _asset_tag(ref: ScriptRef) -> str:
    src = html.escape(ref.src)
    attrs = ""
    if ref.integrity:
        # The lab does not serve the referenced file; the digest stands for a pinned
        # version and is well-formed and deterministic, which is all a scanner can check.
        digest = base64.b64encode(hashlib.sha384(ref.src.encode()).digest()).decode()
        attrs = f' integrity="sha384-{digest}" crossorigin="anonymous"'
    if ref.kind == "style":
        return f'<link rel="stylesheet" href="{src}"{attrs}>'
    return f'<script src="{src}"{attrs}></script>'


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
