"""The MTA-STS policy is fetched through the scanner's capped HTTP client: a verified 200
text/plain answer counts whatever its framing, nothing else does, and a hostile policy host
is bounded by the client's time caps.

Policy hosts listen on 127.113.0.x:443 (this module's own loopback range) with a certificate
for mta-sts.example.test from a lab CA that the scan is told to trust.
"""

from __future__ import annotations

import asyncio
import gzip
import itertools
import ssl
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from pathlib import Path

import pytest

from utsyn.lab.ca import Credentials, LabCA
from utsyn.lab.specs import CertSpec
from utsyn.scan.dns.mta_sts import PolicyFetchError, fetch_from
from utsyn.scan.engine import Scanner
from utsyn.scan.family import ScanConfig, ScanContext
from utsyn.scan.guard import ScopePolicy, Timeouts
from utsyn.settings import get_settings

HOST = "mta-sts.example.test"
POLICY = b"version: STSv1\r\nmode: enforce\r\nmx: mx.example.test\r\nmax_age: 86400\r\n"
_next_ip = itertools.count(1)

Stream = Callable[[asyncio.StreamWriter], Awaitable[None]]


@pytest.fixture(scope="module")
def lab_ca(tmp_path_factory: pytest.TempPathFactory) -> tuple[LabCA, Credentials]:
    ca = LabCA(tmp_path_factory.mktemp("mta-sts"), get_settings().cache_dir)
    return ca, ca.issue([HOST], CertSpec())


def _context(ca_file: Path | None) -> ScanContext:
    config = ScanConfig(
        scope=ScopePolicy.lab(),
        nameservers=("127.113.255.53",),  # nothing listens: the address is given
        ca_file=ca_file,
        timeouts=Timeouts(connect=1.0, read=0.5, dns=0.5),
    )
    return Scanner(config, []).context()


@asynccontextmanager
async def policy_host(credentials: Credentials, stream: Stream) -> AsyncIterator[str]:
    """A TLS server on its own address that reads one request and runs `stream`."""
    tls = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    tls.load_cert_chain(credentials.cert_file, credentials.key_file)

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            await reader.readuntil(b"\r\n\r\n")
            async with asyncio.timeout(30):  # a safety net for the test, not the scanner
                await stream(writer)
        except (ConnectionError, TimeoutError, asyncio.IncompleteReadError, ssl.SSLError):
            pass  # the client left or refused the certificate
        except asyncio.CancelledError:
            pass  # the test's loop ended
        finally:
            writer.close()

    ip = f"127.113.0.{next(_next_ip)}"
    server = await asyncio.start_server(handle, ip, 443, ssl=tls)
    try:
        yield ip
    finally:
        server.close()


def answer(data: bytes) -> Stream:
    async def stream(writer: asyncio.StreamWriter) -> None:
        writer.write(data)
        await writer.drain()

    return stream


def _fetch(
    lab_ca: tuple[LabCA, Credentials], stream: Stream, trusted: bool = True
) -> tuple[str | BaseException, ScanContext]:
    ca, credentials = lab_ca
    scan = _context(ca.root_pem_path if trusted else None)

    async def run() -> str | BaseException:
        async with policy_host(credentials, stream) as ip:
            try:
                return await fetch_from(HOST, ip, scan)
            except (PolicyFetchError, OSError, TimeoutError) as exc:
                return exc

    return asyncio.run(run()), scan


def test_a_chunked_gzip_policy_is_read_whole(lab_ca: tuple[LabCA, Credentials]) -> None:
    body = gzip.compress(POLICY)
    chunks = b"".join(b"%x\r\n%s\r\n" % (len(c), c) for c in (body[:7], body[7:]))
    head = (
        b"HTTP/1.1 200 OK\r\nContent-Type: text/plain; charset=utf-8\r\n"
        b"Content-Encoding: gzip\r\nTransfer-Encoding: chunked\r\n\r\n"
    )
    found, _ = _fetch(lab_ca, answer(head + chunks + b"0\r\n\r\n"))
    assert found == POLICY.decode()


def test_a_redirect_is_not_followed(lab_ca: tuple[LabCA, Credentials]) -> None:
    moved = b"HTTP/1.1 301 Moved Permanently\r\nLocation: https://elsewhere.test/\r\n\r\n"
    found, scan = _fetch(lab_ca, answer(moved))
    assert isinstance(found, PolicyFetchError)
    assert str(found) == "HTTP status 'HTTP/1.1 301 Moved Permanently'"
    assert scan.net.stats.connections == 1


def test_only_text_plain_counts(lab_ca: tuple[LabCA, Credentials]) -> None:
    page = b"HTTP/1.1 200 OK\r\nContent-Type: text/html\r\nContent-Length: 5\r\n\r\n<p/>\n"
    found, _ = _fetch(lab_ca, answer(page))
    assert isinstance(found, PolicyFetchError)
    assert str(found) == "Content-Type 'text/html', not text/plain"


def test_an_untrusted_certificate_is_the_answer_without_a_legacy_retry(
    lab_ca: tuple[LabCA, Credentials],
) -> None:
    found, scan = _fetch(lab_ca, answer(b""), trusted=False)
    assert isinstance(found, ssl.SSLError) and found.reason == "CERTIFICATE_VERIFY_FAILED"
    assert scan.net.stats.connections == 1  # no tlslite-ng fallback for a verifying fetch


def test_a_dripping_policy_host_is_bounded_by_the_response_time_cap(
    lab_ca: tuple[LabCA, Credentials],
) -> None:
    async def drip(writer: asyncio.StreamWriter) -> None:
        for byte in b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\n\r\n" + POLICY:
            writer.write(bytes([byte]))
            await writer.drain()
            await asyncio.sleep(0.2)  # every byte well inside the 0.5 s read timeout

    began = time.monotonic()
    found, _ = _fetch(lab_ca, drip)
    # Two read timeouts per response (1 s) and the handshake, not the 25 s of the drip.
    assert isinstance(found, TimeoutError)
    assert time.monotonic() - began < 4
