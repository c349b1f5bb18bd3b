"""The lab HTTP server: real sockets on 127.103.x.y, talked to with httpx and raw bytes."""

from __future__ import annotations

import asyncio
import contextlib
import re
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import httpx
import pytest

from utsyn.lab.context import LabContext
from utsyn.lab.http.requests import (
    MAX_HEADERS,
    MAX_REQUEST_LINE,
    RequestError,
    find_head_end,
    parse_request,
)
from utsyn.lab.http.responses import respond
from utsyn.lab.http.server import http_handler, respond_bytes
from utsyn.lab.manifest import Host, Manifest, Service, parse_manifest

IP = "127.103.0.1"
WWW = "www.fjordvik.test"
ORG_NAME = "Fjordvik kommune"

FULL_SPEC: dict[str, Any] = {
    "server": "Apache/2.4.41 (Ubuntu)",
    "powered_by": "PHP/7.4.3",
    "hsts": "max-age=31536000; includeSubDomains",
    "csp": "default-src 'self'",
    "x_frame_options": "DENY",
    "x_content_type_options": "nosniff",
    "referrer_policy": "strict-origin-when-cross-origin",
    "x_xss_protection": "1; mode=block",
    "cookies": ["PHPSESSID=abc123; Path=/", "lang=nb; Secure; HttpOnly"],
    "title": "Fjordvik kommune – forsiden",
    "scripts": [
        {"src": "https://cdn.example.test/jquery.js", "integrity": True},
        {"src": "https://cdn.example.test/old.js"},
        {"src": "/css/site.css", "kind": "style", "integrity": True},
    ],
    "mixed_content": True,
    "login_form": True,
    "generator": "WordPress 5.8.1",
}


def _manifest(http: dict[str, Any], *, mta_sts: bool = True) -> Manifest:
    domain: dict[str, Any] = {
        "name": "fjordvik.test",
        "mx": ["mx1.fjordvik.test", "mx2.fjordvik.test"],
    }
    if mta_sts:
        domain["mta_sts"] = {"mode": "testing", "max_age": 86400}
    host = {
        "name": WWW,
        "aliases": ["mta-sts.fjordvik.test"],
        "ip": IP,
        "services": [{"kind": "http", "http": http}],
    }
    org = {
        "slug": "fjordvik",
        "name": ORG_NAME,
        "orgnr": "974760673",
        "sector": "municipality",
        "county": "46",
        "municipality": "4601",
        "domains": [domain],
        "hosts": [host],
    }
    return parse_manifest({"name": "http-test", "organisations": [org]})


@dataclass
class Lab:
    ctx: LabContext
    host: Host
    service: Service
    port: int = 0

    @property
    def base(self) -> str:
        return f"http://{IP}:{self.port}"


def _lab(http: dict[str, Any], *, mta_sts: bool = True) -> Lab:
    manifest = _manifest(http, mta_sts=mta_sts)
    host = manifest.organisations[0].hosts[0]
    ctx = LabContext(manifest, {host.name: IP}, None, Path("/nonexistent"))  # type: ignore[arg-type]
    return Lab(ctx, host, host.services[0])


@asynccontextmanager
async def serving(http: dict[str, Any], idle_timeout: float = 5.0, **kw: Any) -> AsyncIterator[Lab]:
    lab = _lab(http, **kw)
    handler = http_handler(lab.service, lab.host, lab.ctx, "http", idle_timeout=idle_timeout)
    server = await asyncio.start_server(handler, IP, 0)
    lab.port = server.sockets[0].getsockname()[1]
    try:
        yield lab
    finally:
        server.close()
        await server.wait_closed()


@asynccontextmanager
async def client(lab: Lab) -> AsyncIterator[httpx.AsyncClient]:
    # trust_env=False: no proxy variables may divert lab traffic.
    async with httpx.AsyncClient(base_url=lab.base, trust_env=False, headers={"Host": WWW}) as c:
        yield c


class _Tags(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.tags: list[tuple[str, dict[str, str | None]]] = []
        self.title = ""
        self._in_title = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, dict(attrs)))
        self._in_title = tag == "title"

    def handle_endtag(self, tag: str) -> None:
        self._in_title = False

    def handle_data(self, data: str) -> None:
        if self._in_title:
            self.title += data


def _tags(text: str) -> _Tags:
    parser = _Tags()
    parser.feed(text)
    return parser


# ---------------------------------------------------------------- raw-socket helpers


async def _read_response(
    reader: asyncio.StreamReader, *, head_only: bool = False
) -> tuple[int, dict[str, str], bytes]:
    head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 5)
    lines = head.decode().split("\r\n")
    status = int(lines[0].split(" ")[1])
    headers = {n.lower(): v for n, _, v in (line.partition(": ") for line in lines[1:] if line)}
    length = 0 if head_only else int(headers["content-length"])
    body = await asyncio.wait_for(reader.readexactly(length), 5)
    return status, headers, body


@asynccontextmanager
async def raw_connection(
    lab: Lab,
) -> AsyncIterator[tuple[asyncio.StreamReader, asyncio.StreamWriter]]:
    reader, writer = await asyncio.open_connection(IP, lab.port)
    try:
        yield reader, writer
    finally:
        writer.close()
        await writer.wait_closed()


async def _exchange(lab: Lab, raw: bytes) -> tuple[int, dict[str, str], bytes]:
    async with raw_connection(lab) as (reader, writer):
        writer.write(raw)
        await writer.drain()
        return await _read_response(reader)


def _get(path: str = "/", host: str = WWW, extra: str = "") -> bytes:
    return f"GET {path} HTTP/1.1\r\nHost: {host}\r\n{extra}\r\n".encode()


# ---------------------------------------------------------------- HttpSpec fields


async def test_every_configured_header_is_served_on_the_home_page() -> None:
    async with serving(FULL_SPEC) as lab, client(lab) as c:
        r = await c.get("/")
    assert r.status_code == 200
    h = r.headers
    assert h["server"] == "Apache/2.4.41 (Ubuntu)"
    assert h["x-powered-by"] == "PHP/7.4.3"
    assert h["strict-transport-security"] == "max-age=31536000; includeSubDomains"
    assert h["content-security-policy"] == "default-src 'self'"
    assert h["x-frame-options"] == "DENY"
    assert h["x-content-type-options"] == "nosniff"
    assert h["referrer-policy"] == "strict-origin-when-cross-origin"
    assert h["x-xss-protection"] == "1; mode=block"
    assert h.get_list("set-cookie") == ["PHPSESSID=abc123; Path=/", "lang=nb; Secure; HttpOnly"]
    assert h["content-type"] == "text/html; charset=utf-8"
    assert int(h["content-length"]) == len(r.content)
    assert abs((parsedate_to_datetime(h["date"]) - datetime.now(UTC)).total_seconds()) < 5


async def test_home_page_html_has_every_configured_element() -> None:
    async with serving(FULL_SPEC) as lab, client(lab) as c:
        r = await c.get("/")
    page = _tags(r.text)
    assert page.title == "Fjordvik kommune – forsiden"
    assert ("meta", {"name": "generator", "content": "WordPress 5.8.1"}) in page.tags
    scripts = {a["src"]: a for t, a in page.tags if t == "script"}
    pinned = scripts["https://cdn.example.test/jquery.js"]
    assert re.fullmatch(r"sha384-[A-Za-z0-9+/]{64}", pinned["integrity"] or "")
    assert pinned["crossorigin"] == "anonymous"
    assert "integrity" not in scripts["https://cdn.example.test/old.js"]
    styles = [a for t, a in page.tags if t == "link" and a.get("rel") == "stylesheet"]
    assert [s["href"] for s in styles] == ["/css/site.css"]
    assert (styles[0]["integrity"] or "").startswith("sha384-")
    images = [a["src"] or "" for t, a in page.tags if t == "img"]
    assert any(src.startswith("http://") for src in images)
    assert [a for t, a in page.tags if t == "form"]
    assert any(t == "input" and a.get("type") == "password" for t, a in page.tags)
    assert ORG_NAME in r.text and 'lang="nb"' in r.text


async def test_a_bare_spec_serves_no_optional_header_or_element() -> None:
    async with serving({"server": None}) as lab, client(lab) as c:
        r = await c.get("/")
    optional = {
        "server",
        "x-powered-by",
        "strict-transport-security",
        "content-security-policy",
        "x-frame-options",
        "x-content-type-options",
        "referrer-policy",
        "x-xss-protection",
        "set-cookie",
    }
    assert optional.isdisjoint(r.headers.keys())
    page = _tags(r.text)
    assert page.title == ORG_NAME  # the organisation's name when no title is configured
    kinds = {t for t, _ in page.tags}
    assert {"form", "img", "script"}.isdisjoint(kinds)
    assert not any(a.get("name") == "generator" for t, a in page.tags if t == "meta")


async def test_cookies_are_set_on_the_home_page_only() -> None:
    async with serving({**FULL_SPEC, "security_txt": "valid"}) as lab, client(lab) as c:
        assert (await c.get("/robots.txt")).headers.get_list("set-cookie") == []
        assert (await c.get("/nope")).headers.get_list("set-cookie") == []


# ---------------------------------------------------------------- redirects and errors


async def test_redirect_with_trailing_slash_keeps_path_and_query() -> None:
    spec = {"server": "nginx/1.18.0", "redirect": "https://www.fjordvik.test/", "hsts": "max-age=1"}
    async with serving(spec) as lab, client(lab) as c:
        r = await c.get("/a/b?c=1")
        root = await c.get("/")
        post = await c.post("/login", content=b"x=1")
    assert r.status_code == 301
    assert r.headers["location"] == "https://www.fjordvik.test/a/b?c=1"
    assert r.headers["server"] == "nginx/1.18.0"
    assert r.headers["strict-transport-security"] == "max-age=1"
    assert root.headers["location"] == "https://www.fjordvik.test/"
    assert post.status_code == 301


async def test_redirect_without_trailing_slash_is_served_verbatim() -> None:
    async with serving({"redirect": "https://ny.fjordvik.test/start"}) as lab, client(lab) as c:
        r = await c.get("/gammel/side")
    assert r.status_code == 301
    assert r.headers["location"] == "https://ny.fjordvik.test/start"


async def test_unknown_path_is_a_404_page_naming_the_server() -> None:
    spec = {"server": "nginx/1.22.1", "x_frame_options": "SAMEORIGIN"}
    async with serving(spec) as lab, client(lab) as c:
        r = await c.get("/finnes-ikke")
    assert r.status_code == 404
    assert r.headers["server"] == "nginx/1.22.1"
    assert r.headers["x-frame-options"] == "SAMEORIGIN"
    assert r.headers["content-type"].startswith("text/html")
    assert "404 Not Found" in r.text and "nginx/1.22.1" in r.text


async def test_other_methods_are_405_with_allow() -> None:
    async with serving({"server": "nginx"}) as lab, client(lab) as c:
        r = await c.request("OPTIONS", "/")
        d = await c.delete("/")
    assert r.status_code == 405 and d.status_code == 405
    assert r.headers["allow"] == "GET, HEAD"
    assert r.headers["server"] == "nginx"


@pytest.mark.parametrize(
    ("raw", "status"),
    [
        (b"hello there\r\n\r\n", 400),
        (b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03\r\n\r\n", 400),  # a TLS ClientHello
        (b"GET / HTTP/1.1\r\n\r\n", 400),  # no Host
        (b"GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n", 400),
        (b"GET / HTTP/1.1\r\nHost: a\r\n folded\r\n\r\n", 400),
        (b"GET / HTTP/1.1\r\nHost : a\r\n\r\n", 400),
        (b"GET / HTTP/1.1\r\nHost: a\r\nContent-Length: x\r\n\r\n", 400),
        (b"GET nope HTTP/1.1\r\nHost: a\r\n\r\n", 400),
        (b"GET / HTTP/2.0\r\nHost: a\r\n\r\n", 505),
    ],
)
async def test_malformed_requests_are_refused_with_server_header(raw: bytes, status: int) -> None:
    async with serving({"server": "nginx/1.22.1"}) as lab:
        got, headers, body = await _exchange(lab, raw)
    assert got == status
    assert headers["server"] == "nginx/1.22.1"
    assert headers["connection"] == "close"
    assert str(status).encode() in body


# ---------------------------------------------------------------- catch-all and exposures


async def test_catch_all_answers_every_path_with_the_home_page() -> None:
    async with serving({"catch_all": True, "title": "Forside"}) as lab, client(lab) as c:
        home = await c.get("/")
        git = await c.get("/.git/HEAD")
        env = await c.get("/.env")
        other = await c.get("/wp-admin/install.php")
    for r in (git, env, other):
        assert r.status_code == 200
        assert r.headers["content-type"].startswith("text/html")
        assert r.text == home.text
    assert not git.text.startswith("ref:")


async def test_catch_all_still_serves_real_exposures() -> None:
    async with serving({"catch_all": True, "exposed": ["git"]}) as lab, client(lab) as c:
        r = await c.get("/.git/HEAD")
    assert r.text == "ref: refs/heads/main\n"


async def test_exposed_files_are_served() -> None:
    spec = {"exposed": ["git", "env", "directory_listing"]}
    async with serving(spec) as lab, client(lab) as c:
        head = await c.get("/.git/HEAD")
        config = await c.get("/.git/config")
        env = await c.get("/.env")
        listing = await c.get("/backup/")
        bare = await c.get("/backup")
    assert head.status_code == 200 and head.text == "ref: refs/heads/main\n"
    assert head.headers["content-type"].startswith("text/plain")
    assert "[core]" in config.text and "repositoryformatversion = 0" in config.text
    lines = env.text.splitlines()
    assert len(lines) >= 8 and all(re.fullmatch(r"[A-Z_]+=\S.*", line) for line in lines)
    assert {"DB_PASSWORD", "APP_KEY"} <= {line.split("=")[0] for line in lines}
    assert "<title>Index of /backup/</title>" in listing.text
    assert '<a href="../">../</a>' in listing.text
    assert re.search(r'<a href="[^"]+\.sql\.gz">', listing.text)
    assert bare.status_code == 301 and bare.headers["location"] == "/backup/"


async def test_unexposed_files_are_404() -> None:
    async with serving({}) as lab, client(lab) as c:
        for path in ("/.git/HEAD", "/.git/config", "/.env", "/backup/", "/backup"):
            assert (await c.get(path)).status_code == 404, path


# ---------------------------------------------------------------- well-known files


def _expires(text: str) -> datetime:
    match = re.search(r"^Expires: (\S+)$", text, re.M)
    assert match is not None
    return datetime.fromisoformat(match.group(1))


async def test_valid_security_txt_has_contact_and_future_expiry() -> None:
    async with serving({"security_txt": "valid"}) as lab, client(lab) as c:
        r = await c.get("/.well-known/security.txt")
    assert r.status_code == 200
    assert r.headers["content-type"] == "text/plain; charset=utf-8"
    assert re.search(r"^Contact: mailto:\S+@fjordvik\.test$", r.text, re.M)
    assert _expires(r.text) > datetime.now(UTC)


async def test_expired_security_txt_has_past_expiry() -> None:
    async with serving({"security_txt": "expired"}) as lab, client(lab) as c:
        r = await c.get("/.well-known/security.txt")
    assert r.status_code == 200
    assert "Contact: " in r.text
    assert _expires(r.text) < datetime.now(UTC)


async def test_missing_security_txt_is_404() -> None:
    async with serving({"security_txt": "missing"}) as lab, client(lab) as c:
        assert (await c.get("/.well-known/security.txt")).status_code == 404


async def test_robots_txt() -> None:
    async with serving({}) as lab, client(lab) as c:
        r = await c.get("/robots.txt")
    assert r.status_code == 200 and r.text.startswith("User-agent: *")


async def test_mta_sts_policy_on_its_own_name() -> None:
    """MTA-STS policy for fjordvik.test on mta-sts.fjordvik.test (an alias of www)."""
    async with serving({}) as lab, client(lab) as c:
        r = await c.get("/.well-known/mta-sts.txt", headers={"Host": "mta-sts.fjordvik.test"})
        on_www = await c.get("/.well-known/mta-sts.txt")
    assert r.status_code == 200
    assert r.text.split("\r\n") == [
        "version: STSv1",
        "mode: testing",
        "mx: mx1.fjordvik.test",
        "mx: mx2.fjordvik.test",
        "max_age: 86400",
        "",
    ]
    assert on_www.status_code == 404


async def test_no_mta_sts_policy_when_the_domain_has_none() -> None:
    async with serving({}, mta_sts=False) as lab, client(lab) as c:
        r = await c.get("/.well-known/mta-sts.txt", headers={"Host": "mta-sts.fjordvik.test"})
    assert r.status_code == 404


# ---------------------------------------------------------------- connections


async def test_keep_alive_serves_two_requests_on_one_connection() -> None:
    async with serving({"server": "nginx"}) as lab, raw_connection(lab) as (reader, writer):
        writer.write(_get("/"))
        first = await _read_response(reader)
        writer.write(_get("/robots.txt"))
        second = await _read_response(reader)
    assert first[0] == 200 and first[1]["connection"] == "keep-alive"
    assert second[0] == 200 and second[2].startswith(b"User-agent")


async def test_pipelined_requests_and_discarded_bodies_stay_in_step() -> None:
    post = b"POST / HTTP/1.1\r\nHost: www.fjordvik.test\r\nContent-Length: 5\r\n\r\nGET /"
    async with serving({}) as lab, raw_connection(lab) as (reader, writer):
        writer.write(post + _get("/robots.txt"))
        first = await _read_response(reader)
        second = await _read_response(reader)
    assert first[0] == 405
    assert second[0] == 200 and second[2].startswith(b"User-agent")


async def test_head_sends_headers_without_a_body() -> None:
    async with serving(FULL_SPEC) as lab, raw_connection(lab) as (reader, writer):
        writer.write(_get("/").replace(b"GET", b"HEAD", 1) + _get("/robots.txt"))
        status, headers, _ = await _read_response(reader, head_only=True)
        after = await _read_response(reader)
    assert status == 200 and int(headers["content-length"]) > 100
    assert headers["server"] == "Apache/2.4.41 (Ubuntu)"
    assert after[2].startswith(b"User-agent")  # no stray body bytes came in between


async def test_connection_close_is_honoured() -> None:
    async with serving({}) as lab, raw_connection(lab) as (reader, writer):
        writer.write(_get("/", extra="Connection: close\r\n"))
        _, headers, _ = await _read_response(reader)
        rest = await asyncio.wait_for(reader.read(), 2)
    assert headers["connection"] == "close"
    assert rest == b""


async def test_http10_closes_unless_keep_alive_is_asked_for() -> None:
    async with serving({}) as lab, raw_connection(lab) as (reader, writer):
        writer.write(b"GET / HTTP/1.0\r\n\r\n")
        _, headers, _ = await _read_response(reader)
        assert headers["connection"] == "close"
        assert await asyncio.wait_for(reader.read(), 2) == b""


async def test_idle_connection_is_closed_after_the_timeout() -> None:
    async with serving({}, idle_timeout=0.3) as lab, raw_connection(lab) as (reader, writer):
        writer.write(_get("/"))
        await _read_response(reader)
        loop = asyncio.get_running_loop()
        started = loop.time()
        assert await asyncio.wait_for(reader.read(), 3) == b""
        assert 0.2 < loop.time() - started < 2


async def test_silent_connection_is_closed_after_the_timeout() -> None:
    async with serving({}, idle_timeout=0.3) as lab, raw_connection(lab) as (reader, _):
        assert await asyncio.wait_for(reader.read(), 3) == b""


async def test_too_many_headers_are_refused() -> None:
    extra = "".join(f"X-H{i}: v\r\n" for i in range(MAX_HEADERS + 1))
    async with serving({"server": "nginx"}) as lab:
        status, headers, _ = await _exchange(lab, _get("/", extra=extra))
    assert status == 431 and headers["server"] == "nginx"


async def test_oversize_header_is_refused() -> None:
    async with serving({"server": "nginx"}) as lab:
        status, headers, _ = await _exchange(lab, _get("/", extra=f"Cookie: {'a' * 20000}\r\n"))
    assert status == 431 and headers["server"] == "nginx"


async def test_endless_head_is_refused_before_it_ends() -> None:
    """The server answers before the client has finished sending a huge head."""
    async with serving({}) as lab, raw_connection(lab) as (reader, writer):
        writer.write(b"GET / HTTP/1.1\r\nHost: www.fjordvik.test\r\n" + b"X-A: b\r\n" * 10_000)
        status, _, _ = await _read_response(reader)
    assert status == 431


async def test_oversize_request_line_is_414() -> None:
    async with serving({}) as lab:
        status, _, _ = await _exchange(lab, _get("/" + "a" * (MAX_REQUEST_LINE + 10)))
    assert status == 414


# ---------------------------------------------------------------- pure functions


def test_parse_request_reads_origin_and_absolute_forms() -> None:
    req = parse_request(b"GET /a%2Eenv?x=1 HTTP/1.1\r\nHost: WWW.Fjordvik.test.:8080\r\n\r\nbody")
    assert (req.method, req.path, req.origin, req.host) == (
        "GET",
        "/a.env",
        "/a%2Eenv?x=1",
        "www.fjordvik.test",
    )
    absolute = parse_request(b"GET http://mta-sts.fjordvik.test/x?y HTTP/1.1\nHost: other\n\n")
    assert (absolute.host, absolute.origin, absolute.path) == (
        "mta-sts.fjordvik.test",
        "/x?y",
        "/x",
    )


def test_parse_request_errors_carry_the_status() -> None:
    with pytest.raises(RequestError) as exc:
        parse_request(b"GET / HTTP/1.1\r\nHost: a\r\nContent-Length: 99999999\r\n\r\n")
    assert exc.value.status == 413


def test_find_head_end_skips_leading_blank_lines() -> None:
    assert find_head_end(b"\r\n\r\nGET / HTTP/1.1\r\nHost: a\r\n\r\nrest") == 31
    assert find_head_end(b"GET / HTTP/1.1\r\nHost: a\r\n") is None


def test_respond_uses_the_given_time_for_security_txt() -> None:
    lab = _lab({"security_txt": "valid"})
    now = datetime(2030, 1, 1, tzinfo=UTC)
    request = parse_request(
        b"GET /.well-known/security.txt HTTP/1.1\r\nHost: www.fjordvik.test\r\n\r\n"
    )
    response = respond(request, lab.service, lab.host, lab.ctx, "https", now=now)
    assert response.header("Date") == "Tue, 01 Jan 2030 00:00:00 GMT"
    assert b"Expires: 2030-06-30T00:00:00Z" in response.body
    assert b"Canonical: https://www.fjordvik.test/.well-known/security.txt" in response.body


def test_respond_bytes_for_the_legacy_tls_server() -> None:
    lab = _lab({"server": "Microsoft-IIS/7.5", "exposed": ["env"]})
    ok = respond_bytes(_get("/.env"), lab.service, lab.host, lab.ctx, "https")
    head, _, body = ok.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 200 OK\r\n")
    assert b"\r\nServer: Microsoft-IIS/7.5\r\n" in head
    assert b"\r\nConnection: close" in head
    assert body.startswith(b"APP_NAME=")
    bad = respond_bytes(b"\x16\x03\x01garbage", lab.service, lab.host, lab.ctx, "https")
    assert bad.startswith(b"HTTP/1.1 400 Bad Request\r\n")
    kept = respond_bytes(_get("/"), lab.service, lab.host, lab.ctx, "https", keep_alive=True)
    assert b"\r\nConnection: keep-alive\r\n" in kept


async def test_refusal_is_readable_while_the_client_is_still_sending() -> None:
    """Refused mid-upload, the client still reads the 431 rather than a connection reset."""
    async with serving({}) as lab, raw_connection(lab) as (reader, writer):

        async def send() -> None:
            writer.write(_get("/", extra="X-A: b\r\n" * 300_000))
            with contextlib.suppress(OSError):
                await writer.drain()

        sending = asyncio.create_task(send())
        status, _, _ = await _read_response(reader)
        await sending
    assert status == 431
