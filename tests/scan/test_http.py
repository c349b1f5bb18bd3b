"""The HTTP family: agreement with the demo lab, robustness against hostile servers, parsing.

Hostile servers run on 127.112.0.0/16 in the test's own event loop and are scanned through
the real engine (discovery, guard, retries), with 1-second timeouts so every case is quick.
"""

from __future__ import annotations

import asyncio
import gzip
import json
import ssl
import zlib
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from tests.scan.conftest import mismatches, observed, scan_demo
from utsyn.lab.ca import LabCA
from utsyn.lab.runtime import LabInfo
from utsyn.lab.specs import CertSpec
from utsyn.scan.engine import Scanner
from utsyn.scan.family import ScanConfig
from utsyn.scan.guard import JOB_CONNECTIONS, NetStats, ScopePolicy, Timeouts
from utsyn.scan.http import HttpFamily
from utsyn.scan.http.client import SESSION_CONNECTIONS, Origin, Session, build_request
from utsyn.scan.http.exposure import exposure_confirmed, is_dotenv, is_git_head, is_listing
from utsyn.scan.http.family import MAX_REDIRECTS
from utsyn.scan.http.html import mixed_content, parse_cookie, parse_page, sri_missing
from utsyn.scan.http.response import HttpError, Response, parse_head
from utsyn.scan.http.securitytxt import security_txt_state
from utsyn.scan.model import Footprint, Observation, TargetResult
from utsyn.settings import get_settings
from utsyn.testing.egress import egress_guard

# ================================================================ the demo lab


@pytest.fixture(scope="module")
def demo_http(demo_lab: LabInfo) -> list[TargetResult]:
    return scan_demo(demo_lab, [HttpFamily()])


def test_every_http_fact_of_the_demo_scenario_agrees(demo_http: list[TargetResult]) -> None:
    assert mismatches(demo_http, "http.") == []


def test_catch_all_site_has_no_exposed_files(demo_http: list[TargetResult]) -> None:
    # www.myrvoll.test answers 200 with its home page to every path (catch_all).
    seen = observed(demo_http)
    for name in ("git", "env", "directory_listing"):
        assert seen[("www.myrvoll.test:443", f"http.exposed.{name}")].value is False
    assert seen[("www.myrvoll.test:443", "http.security_txt")].value == "missing"


def test_real_exposures_are_confirmed(demo_http: list[TargetResult]) -> None:
    # /.git and /.env on www.brekkvik.test; the /backup/ listing on www.asmyra.test.
    seen = observed(demo_http)
    assert seen[("www.brekkvik.test:80", "http.exposed.git")].value is True
    assert seen[("www.brekkvik.test:443", "http.exposed.env")].value is True
    assert seen[("www.asmyra.test:443", "http.exposed.directory_listing")].value is True


def test_legacy_tls_site_is_fetched_through_tlslite(demo_http: list[TargetResult]) -> None:
    # www.lyngoy.test speaks only SSLv3/TLS 1.0 with RC4 and 3DES: OpenSSL here cannot.
    seen = observed(demo_http)
    assert seen[("www.lyngoy.test:443", "http.status")].value == 200
    assert seen[("www.lyngoy.test:443", "http.header.server")].value == "Apache/2.4.29 (Ubuntu)"


def test_redirect_chain_that_drops_back_to_http(demo_http: list[TargetResult]) -> None:
    # http://innbygger.kystby.test → https://innbygger → http://tjenester → https://tjenester
    seen = observed(demo_http)
    chain = seen[("innbygger.kystby.test:80", "http.redirect_chain")].value
    assert [url.split(":")[0] for url in chain] == ["https", "http", "https"]
    assert seen[("innbygger.kystby.test:80", "http.redirect_http_hop")].value is True


# ================================================================ hostile servers

PORT = 8080  # an http port by number, so discovery names it "http"
Handler = Callable[[asyncio.StreamReader, asyncio.StreamWriter], Awaitable[None]]


async def _request_path(reader: asyncio.StreamReader) -> str | None:
    """The path of the next request on a connection, or None when the client is gone."""
    try:
        head = await reader.readuntil(b"\r\n\r\n")
    except (asyncio.IncompleteReadError, asyncio.LimitOverrunError, ConnectionError):
        return None
    return head.split(b" ")[1].decode()


def answering(respond: Callable[[str], bytes]) -> Handler:
    """A keep-alive server answering each request with `respond(path)`."""

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while (path := await _request_path(reader)) is not None:
                writer.write(respond(path))
                await writer.drain()
        except (ConnectionError, asyncio.CancelledError):
            # Cancelled when the test's loop ends: Python 3.11's start_server would log it.
            pass
        finally:
            writer.close()

    return handle


def once(stream: Callable[[asyncio.StreamWriter], Awaitable[None]]) -> Handler:
    """A server that reads one request and then runs `stream` until the client leaves."""

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            if await _request_path(reader) is not None:
                async with asyncio.timeout(30):  # a safety net for the test, not the scanner
                    await stream(writer)
        except (ConnectionError, TimeoutError, asyncio.CancelledError):
            pass  # the client left, or the test's loop ended
        finally:
            writer.close()

    return handle


def http(
    status: str, headers: list[tuple[str, str]] | list[tuple[bytes, bytes]], body: bytes
) -> bytes:
    lines = [f"HTTP/1.1 {status}".encode()]
    for name, value in headers:
        lines.append(
            (name if isinstance(name, bytes) else name.encode())
            + b": "
            + (value if isinstance(value, bytes) else value.encode())
        )
    lines.append(f"Content-Length: {len(body)}".encode())
    return b"\r\n".join(lines) + b"\r\n\r\n" + body


# ---------------------------------------------------------------- the servers

GOOD_CSP = "default-src  'self' ;script-src 'self'"  # odd spacing must survive verbatim
GOOD_HSTS = "max-age=300 ; includeSubDomains"


def good_site(path: str) -> bytes:
    """A well-behaved site that sends its home page chunked and gzip-compressed."""
    if path == "/":
        page = gzip.compress(
            b"<html><head><title>Bra side</title>"
            b'<script src="https://cdn.example.test/a.js"></script>'
            b'<script src="/own.js"></script></head><body>'
            b'<input type="password" name="p"></body></html>'
        )
        chunks = b"".join(b"%x\r\n%s\r\n" % (len(c), c) for c in (page[:10], page[10:]))
        head = (
            "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nContent-Encoding: gzip\r\n"
            f"Content-Type: text/html\r\nContent-Security-Policy: {GOOD_CSP}\r\n"
            f"Strict-Transport-Security: {GOOD_HSTS}\r\n"
            "Set-Cookie: a=1; Secure; HttpOnly; SameSite=Lax\r\nSet-Cookie: b=2\r\n\r\n"
        )
        return head.encode() + chunks + b"0\r\n\r\n"
    if path == "/.well-known/security.txt":
        expires = (datetime.now(UTC) + timedelta(days=30)).strftime("%Y-%m-%dT%H:%M:%SZ")
        text = f"Contact: mailto:sikkerhet@example.test\nExpires: {expires}\n"
        return http("200 OK", [("Content-Type", "text/plain")], text.encode())
    if path == "/.git/HEAD":
        return http(
            "200 OK", [("Content-Type", "text/plain")], b"0123456789abcdef" * 2 + b"01234567\n"
        )
    return http("404 Not Found", [("Content-Type", "text/html")], b"<h1>404</h1>")


async def endless_headers(writer: asyncio.StreamWriter) -> None:
    writer.write(b"HTTP/1.1 200 OK\r\n")
    while True:
        writer.write(b"X-Junk: " + b"a" * 1000 + b"\r\n")
        await writer.drain()


def many_headers(path: str) -> bytes:
    return http("200 OK", [(f"X-{i}", "1") for i in range(500)], b"")


async def huge_body(writer: asyncio.StreamWriter) -> None:
    writer.write(
        b"HTTP/1.1 200 OK\r\nContent-Type: text/html\r\nContent-Length: 1073741824\r\n\r\n"
    )
    writer.write(b"<html><title>Huge</title>")
    block = b" " * 65536
    while True:
        writer.write(block)
        await writer.drain()


def bomb_body() -> bytes:
    """200 MB of spaces behind a small page, gzip-compressed to about 200 KB."""
    packer = zlib.compressobj(9, zlib.DEFLATED, zlib.MAX_WBITS | 16)
    parts = [packer.compress(b"<html><title>Bomb</title><input type=password>")]
    block = b" " * (1 << 20)
    parts += [packer.compress(block) for _ in range(200)]
    return b"".join([*parts, packer.flush()])


def gzip_bomb(bomb: bytes) -> Callable[[str], bytes]:
    def respond(path: str) -> bytes:
        headers = [("Content-Type", "text/html"), ("Content-Encoding", "gzip")]
        return http("200 OK", headers, bomb)

    return respond


def redirect_loop(path: str) -> bytes:
    return http("302 Found", [("Location", "/igjen")], b"")


def redirect_out_of_scope(path: str) -> bytes:
    return http("301 Moved Permanently", [("Location", "http://10.0.0.1/")], b"")


async def drip_feed(writer: asyncio.StreamWriter) -> None:
    for byte in b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n":
        writer.write(bytes([byte]))
        await writer.drain()
        await asyncio.sleep(0.3)


async def garbage(writer: asyncio.StreamWriter) -> None:
    writer.write(b"\x00\xff\x1b[31mSSH-2.0-not-http\r\n\r\n")
    await writer.drain()


HOSTILE_SERVER = b"<script>alert(1)</script>\x1b[2J\x00\xff\xfe"


def hostile_text(path: str) -> bytes:
    page = b"<html><title>\x1b[31mR\xc3\xb8d\x00 \xff</title></html>"
    headers = [(b"Server", HOSTILE_SERVER), (b"X-Powered-By", b"PHP\x1b]0;owned\x07")]
    return http("200 OK", headers, page)


def echo_signature(path: str) -> bytes:
    # A trap: every path answers what /.git/HEAD would hold.
    return http("200 OK", [("Content-Type", "text/plain")], b"ref: refs/heads/main\n")


@dataclass(frozen=True)
class Case:
    ip: str
    handler: Handler


def hostile_cases() -> dict[str, Case]:
    return {
        "good": Case("127.112.0.1", answering(good_site)),
        "endless_headers": Case("127.112.0.2", once(endless_headers)),
        "many_headers": Case("127.112.0.3", answering(many_headers)),
        "huge_body": Case("127.112.0.4", once(huge_body)),
        "gzip_bomb": Case("127.112.0.5", answering(gzip_bomb(bomb_body()))),
        "redirect_loop": Case("127.112.0.6", answering(redirect_loop)),
        "out_of_scope": Case("127.112.0.7", answering(redirect_out_of_scope)),
        "drip_feed": Case("127.112.0.8", once(drip_feed)),
        "garbage": Case("127.112.0.9", once(garbage)),
        "hostile_text": Case("127.112.0.10", answering(hostile_text)),
        "echo_signature": Case("127.112.0.11", answering(echo_signature)),
    }


@dataclass
class HostileScan:
    cases: dict[str, Case]
    results: dict[str, TargetResult]  # by case
    seen: dict[tuple[str, str], Observation]
    stats: NetStats
    seconds: float

    def value(self, case: str, check: str) -> object:
        return self.seen[(self.label(case), check)].value

    def obs(self, case: str, check: str) -> Observation:
        return self.seen[(self.label(case), check)]

    def label(self, case: str) -> str:
        return f"{self.cases[case].ip}:{PORT}"


async def _scan_hostile(cases: dict[str, Case]) -> HostileScan:
    servers = [await asyncio.start_server(c.handler, c.ip, PORT) for c in cases.values()]
    config = ScanConfig(
        scope=ScopePolicy.lab(),
        nameservers=("127.112.255.53",),  # nothing listens: no case needs a name resolved
        timeouts=Timeouts(connect=1.0, read=1.0, dns=0.5),
    )
    scanner = Scanner(config, [HttpFamily()])
    footprint = Footprint("hostile", hostnames=tuple(f"{c.ip}:{PORT}" for c in cases.values()))
    loop = asyncio.get_running_loop()
    began = loop.time()
    try:
        results = [r async for r in scanner.scan([footprint])]
    finally:
        for server in servers:
            server.close()
    seconds = loop.time() - began
    assert scanner.last_context is not None
    by_ip = {r.target.split(":")[0]: r for r in results}
    by_case = {name: by_ip[c.ip] for name, c in cases.items()}
    return HostileScan(cases, by_case, observed(results), scanner.last_context.net.stats, seconds)


@pytest.fixture(scope="module")
def hostile() -> Iterator[HostileScan]:
    with egress_guard():  # module-scoped: the per-test guard is not active yet
        yield asyncio.run(_scan_hostile(hostile_cases()))


def test_the_whole_hostile_scan_ends_in_bounded_time(hostile: HostileScan) -> None:
    # Read timeout 1 s: a response may take 2 s, a job 8 s; the engine retries a timeout once.
    assert hostile.seconds < 15
    assert all(r.seconds < 12 for r in hostile.results.values())
    assert all(json.dumps(r.to_json()) for r in hostile.results.values())


def test_good_site_is_read_through_chunked_gzip_on_one_connection(hostile: HostileScan) -> None:
    assert hostile.value("good", "http.status") == 200
    assert hostile.value("good", "http.title") == "Bra side"
    assert hostile.value("good", "http.login_form") is True
    assert hostile.value("good", "http.sri_missing") == ["https://cdn.example.test/a.js"]
    assert hostile.value("good", "http.security_txt") == "valid"
    assert hostile.value("good", "http.exposed.git") is True
    assert hostile.value("good", "http.exposed.env") is False
    # discovery + the page job (six requests, kept alive) + the redirect job
    assert hostile.stats.per_ip[hostile.cases["good"].ip] == 3


def test_csp_and_hsts_are_reported_verbatim(hostile: HostileScan) -> None:
    assert hostile.value("good", "http.header.content-security-policy") == GOOD_CSP
    assert hostile.value("good", "http.header.strict-transport-security") == GOOD_HSTS
    assert hostile.value("good", "http.header.x-frame-options") is None
    assert hostile.value("good", "http.cookies") == [
        {"name": "a", "secure": True, "httponly": True, "samesite": "Lax"},
        {"name": "b", "secure": False, "httponly": False, "samesite": None},
    ]


def test_endless_headers_are_cut_at_the_head_limit(hostile: HostileScan) -> None:
    found = hostile.obs("endless_headers", "http.status")
    assert found.value is None and "response head larger than 64 KiB" in (found.error or "")


def test_too_many_header_fields_are_refused(hostile: HostileScan) -> None:
    found = hostile.obs("many_headers", "http.status")
    assert found.value is None and "more than 100 header fields" in (found.error or "")


def test_huge_body_is_capped_and_the_page_still_read(hostile: HostileScan) -> None:
    assert hostile.value("huge_body", "http.status") == 200
    assert hostile.value("huge_body", "http.title") == "Huge"
    assert hostile.value("huge_body", "http.truncated") is True


def test_gzip_bomb_stops_at_the_decoded_limit(hostile: HostileScan) -> None:
    assert hostile.value("gzip_bomb", "http.title") == "Bomb"
    assert hostile.value("gzip_bomb", "http.login_form") is True
    assert hostile.value("gzip_bomb", "http.truncated") is True


def test_redirect_loop_stops_after_ten_hops(hostile: HostileScan) -> None:
    chain = hostile.obs("redirect_loop", "http.redirect_chain")
    assert chain.value == [f"http://{hostile.label('redirect_loop')}/igjen"] * 10
    assert "stopped after 10 redirects" in chain.evidence
    assert hostile.value("redirect_loop", "http.redirects_to_https") is False


def test_the_http_jobs_fit_the_guards_connection_budget() -> None:
    # The page job: one session. The redirect job: one session per hop, each one
    # connection, or two when OpenSSL fails and tlslite-ng takes over.
    assert SESSION_CONNECTIONS <= JOB_CONNECTIONS
    assert MAX_REDIRECTS * 2 <= JOB_CONNECTIONS


def test_redirect_out_of_scope_is_recorded_never_followed(hostile: HostileScan) -> None:
    refused = hostile.obs("out_of_scope", "scope.refused")
    assert "10.0.0.1 is outside the lab" in (refused.error or "")
    assert hostile.value("out_of_scope", "http.redirect_chain") == ["http://10.0.0.1/"]
    assert hostile.value("out_of_scope", "http.redirects_to_https") is False
    assert hostile.stats.per_ip["10.0.0.1"] == 0 and hostile.stats.refused >= 1


def test_drip_feed_ends_by_the_timeout(hostile: HostileScan) -> None:
    found = hostile.obs("drip_feed", "http.error")
    assert found.error == "timeout"
    assert hostile.results["drip_feed"].seconds < 10


def test_garbage_is_recorded_as_not_http(hostile: HostileScan) -> None:
    for check in ("http.status", "http.redirects_to_https"):
        found = hostile.obs("garbage", check)
        assert found.value is None
        assert (found.error or "").startswith("not an HTTP response: \\x00")
        assert "\x1b" not in (found.error or "")


def test_control_characters_in_headers_and_title_are_escaped(hostile: HostileScan) -> None:
    server = hostile.value("hostile_text", "http.header.server")
    assert server == "<script>alert(1)</script>\\x1b[2J\\x00\\xff\\xfe"
    assert hostile.value("hostile_text", "http.header.x-powered-by") == "PHP\\x1b]0;owned\\x07"
    title = hostile.value("hostile_text", "http.title")
    assert isinstance(title, str) and title.startswith("\\x1b[31mRød\\x00")
    assert "\x00" not in title and "\x1b" not in title


def test_a_server_that_echoes_a_signature_everywhere_exposes_nothing(
    hostile: HostileScan,
) -> None:
    assert hostile.value("echo_signature", "http.status") == 200
    assert hostile.value("echo_signature", "http.exposed.git") is False


async def test_a_kept_alive_tls_connection_the_server_dropped_earns_a_fresh_one(
    tmp_path: Path,
) -> None:
    """Servers close idle kept-alive connections whenever they like (Apache's event MPM
    does when busy: the real tier met it). Over TLS the next request then fails as it is
    sent ("Connection lost"), and is retried on a fresh connection, as an EOF is."""
    creds = LabCA(tmp_path, get_settings().cache_dir).issue(["stale.test"], CertSpec())
    server_tls = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    server_tls.load_cert_chain(creds.cert_file, creds.key_file)

    async def one_answer(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        # Promises keep-alive (no Connection: close), then hangs up after one answer.
        try:
            if (path := await _request_path(reader)) is not None:
                writer.write(http("200 OK", [("Content-Type", "text/plain")], path.encode()))
                await writer.drain()
        except ConnectionError:
            pass
        finally:
            writer.close()

    ip = "127.112.1.1"
    server = await asyncio.start_server(one_answer, ip, 8443, ssl=server_tls)
    scan = Scanner(ScanConfig(scope=ScopePolicy.lab(), nameservers=(ip,))).context()
    loop = asyncio.get_running_loop()
    try:
        async with Session(scan, Origin("https", ip, ip, 8443), loop.time() + 20) as session:
            answers = [await session.get(path) for path in ("/a", "/b", "/c")]
    finally:
        server.close()
    assert [a.body for a in answers] == [b"/a", b"/b", b"/c"]
    assert session.connections == 3


# ================================================================ parsing


def _response(status: int = 200, body: bytes = b"", content_type: str = "text/plain") -> Response:
    return Response(status, "", (("content-type", content_type),), body)


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        ("sesjon=b3; Path=/; Secure; HttpOnly; SameSite=Strict",
         {"name": "sesjon", "secure": True, "httponly": True, "samesite": "Strict"}),
        ("PHPSESSID=3c9d; path=/", {"name": "PHPSESSID", "secure": False, "httponly": False,
                                    "samesite": None}),
        ("SSESSa1=9d; path=/; secure; HttpOnly", {"name": "SSESSa1", "secure": True,
                                                  "httponly": True, "samesite": None}),
        ("x=1;SECURE;samesite=none", {"name": "x", "secure": True, "httponly": False,
                                      "samesite": "none"}),
        ("x=1; Path=/securepath", {"name": "x", "secure": False, "httponly": False,
                                   "samesite": None}),
    ],
)  # fmt: skip
def test_cookie_flags(header: str, expected: dict[str, object]) -> None:
    assert parse_cookie(header) == expected


def test_a_cookie_without_a_name_is_ignored() -> None:
    assert parse_cookie("novalue; Secure") is None
    assert parse_cookie("=1; Secure") is None


def test_header_values_are_kept_verbatim_and_folded_lines_joined() -> None:
    raw = (
        b"HTTP/1.1 200 OK\r\nContent-Security-Policy: default-src  'self' ;\r\n"
        b"Strict-Transport-Security: max-age=0\r\nX-Folded: a\r\n b\r\nbad line\r\n"
        b"Server: \xffweird\r\n\r\n"
    )
    head = parse_head(raw)
    fields = dict(head.headers)
    assert fields["content-security-policy"] == "default-src  'self' ;"
    assert fields["strict-transport-security"] == "max-age=0"
    assert fields["x-folded"] == "a b"
    assert fields["server"] == "\\xffweird"
    assert "bad line" not in str(head.headers)


def test_a_head_that_is_not_http_is_refused() -> None:
    with pytest.raises(HttpError, match="not an HTTP response"):
        parse_head(b"SSH-2.0-OpenSSH_7.4\r\n\r\n")


NOW = datetime(2025, 6, 1, tzinfo=UTC)


@pytest.mark.parametrize(
    ("body", "state"),
    [
        (b"Contact: mailto:a@b.test\nExpires: 2026-01-01T00:00:00Z\n", "valid"),
        (b"Contact: mailto:a@b.test\r\nExpires: 2026-01-01T00:00:00+01:00\r\n", "valid"),
        (b"# comment\nCONTACT: https://b.test/\nexpires: 2025-01-01T00:00:00Z\n", "expired"),
        (b"Contact: mailto:a@b.test\n", "missing"),  # RFC 9116 requires Expires
        (b"Expires: 2026-01-01T00:00:00Z\n", "missing"),  # and Contact
        (b"Contact: mailto:a@b.test\nExpires: next year\n", "missing"),
    ],
)
def test_security_txt(body: bytes, state: str) -> None:
    assert security_txt_state(_response(body=body), NOW)[0] == state


def test_security_txt_as_html_or_404_is_missing() -> None:
    page = b"<html><p>Contact: mailto:a@b.test</p><p>Expires: 2026-01-01T00:00:00Z</p></html>"
    assert security_txt_state(_response(body=page, content_type="text/html"), NOW)[0] == "missing"
    assert security_txt_state(_response(404, b"Contact: x\nExpires: 2026-01-01"), NOW) == (
        "missing",
        "status 404",
    )


def test_exposure_signatures() -> None:
    assert is_git_head(_response(body=b"ref: refs/heads/main\n"))
    assert is_git_head(_response(body=b"a" * 40))
    assert not is_git_head(_response(body=b"<html>ref: refs/heads/main</html>"))
    assert is_dotenv(_response(body=b"# app\nAPP_KEY=x\nexport DB_HOST=127.0.0.1\n"))
    assert not is_dotenv(_response(body=b"<!DOCTYPE html><p>A=B</p>", content_type="text/html"))
    assert not is_dotenv(_response(body=b"APP_KEY=x\nthis is prose\n"))
    assert is_listing(_response(body=b"<html><head><title>Index of /backup/</title>"))


def test_a_catch_all_page_is_not_an_exposure() -> None:
    dotenv = _response(body=b"APP_KEY=x\n")
    assert exposure_confirmed(dotenv, _response(404), is_dotenv)
    assert exposure_confirmed(dotenv, None, is_dotenv)
    assert not exposure_confirmed(dotenv, dotenv, is_dotenv)  # the same answer everywhere
    home = _response(body=b"<html>home</html>", content_type="text/html")
    assert not exposure_confirmed(home, home, is_dotenv)


def test_sri_and_mixed_content_look_at_origins_and_subresources() -> None:
    page = parse_page(
        '<script src="https://cdn.test/a.js"></script>'
        '<script src="https://cdn.test/b.js" integrity="sha384-x"></script>'
        '<script src="https://www.site.test/own.js"></script>'
        '<link rel="stylesheet" href="//cdn.test/s.css">'
        '<a href="http://elsewhere.test/">a link is no subresource</a>'
        '<link rel="canonical" href="http://www.site.test/">'
    )
    assert sri_missing(page, "https://www.site.test/") == [
        "//cdn.test/s.css",
        "https://cdn.test/a.js",
    ]
    assert not mixed_content(page, "https://www.site.test/")
    assert mixed_content(parse_page('<img src="http://x.test/i.png">'), "https://www.site.test/")
    assert not mixed_content(parse_page('<img src="http://x.test/i.png">'), "http://www.site.test/")


def test_a_location_cannot_inject_lines_into_our_request() -> None:
    origin = Origin("http", "www.site.test", "127.0.0.1", 8080)
    request = build_request(origin, "/a\r\nX-Evil: 1\r\n\r\nGET /b", "Utsyn\r\nX: y")
    lines = request.split(b"\r\n")
    assert lines[0] == b"GET /a%0D%0AX-Evil:%201%0D%0A%0D%0AGET%20/b HTTP/1.1"
    assert b"Host: www.site.test:8080" in lines and b"User-Agent: UtsynX: y" in lines
    assert request.endswith(b"\r\n\r\n") and request.count(b"\r\n\r\n") == 1
