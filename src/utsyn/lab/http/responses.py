"""The answer a server configured by a host's HttpSpec gives to a request: routing, then
the headers every response carries (Server, Date, and the configured security headers,
verbatim). Pure: `respond` and `status_response` touch no socket."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from email.utils import format_datetime
from http import HTTPStatus

from utsyn.errors import LabError
from utsyn.lab.context import LabContext
from utsyn.lab.http.pages import (
    TEXT_TYPE,
    Content,
    Site,
    exposure,
    home_page,
    mta_sts_policy,
    status_page,
    well_known,
)
from utsyn.lab.http.requests import Request
from utsyn.lab.manifest import Host, Service
from utsyn.lab.specs import HttpSpec

ALLOWED_METHODS = ("GET", "HEAD")


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


def http_spec(service: Service) -> HttpSpec:
    if service.http is None:
        raise LabError(
            "%(kind)s service on port %(port)s has no http spec",
            kind=service.kind,
            port=service.effective_port,
        )
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
    site = Site(spec, host, ctx.organisation_of(host), scheme, now or datetime.now(UTC))
    return _finish(_route(request, site, ctx), site.spec, site.now)


def status_response(status: int, service: Service, *, now: datetime | None = None) -> Response:
    """A plain error page (400, 404, 500, ...) with the same common headers as any answer."""
    spec = http_spec(service)
    return _finish(status_page(status, spec), spec, now or datetime.now(UTC))


def _finish(content: Content, spec: HttpSpec, now: datetime) -> Response:
    headers = [("Server", spec.server)] if spec.server is not None else []
    headers += [
        ("Date", format_datetime(now.astimezone(UTC), usegmt=True)),
        ("Content-Type", content.content_type),
        ("Content-Length", str(len(content.body))),
        *content.headers,
        *configured_headers(spec),
    ]
    return Response(content.status, headers, content.body)


def configured_headers(spec: HttpSpec) -> list[tuple[str, str]]:
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


def _route(request: Request, site: Site, ctx: LabContext) -> Content:
    spec = site.spec
    if spec.redirect is not None:
        # Like nginx's `return 301`, a redirecting vhost redirects every method and path.
        return _redirect(spec, request)
    if request.method not in ALLOWED_METHODS:
        return status_page(405, spec, (("Allow", ", ".join(ALLOWED_METHODS)),))
    policy = mta_sts_policy(request, site.host, ctx)
    if policy is not None:
        return Content(200, policy.encode(), TEXT_TYPE)
    found = well_known(request.path, site) or exposure(request.path, site)
    if found is not None:
        return found
    # A catch-all site answers its home page where a real file is missing (an SPA fallback).
    if request.path == "/" or spec.catch_all:
        return home_page(site)
    return status_page(404, spec)


def _redirect(spec: HttpSpec, request: Request) -> Content:
    location = spec.redirect or ""
    if location.endswith("/"):
        location += request.origin.removeprefix("/")
    return status_page(301, spec, (("Location", location),))
