"""The lab's SMTP server greets, upgrades to TLS and refuses relaying like a real MTA.

The lab case: mail.fjordvik.test (127.104.1.1) is the MX of fjordvik.test. smtplib, the
client real tools use, talks to it over loopback; protocol corner cases use raw sockets.
"""

from __future__ import annotations

import asyncio
import ipaddress
import smtplib
import socket
import ssl
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TypeVar

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from utsyn.lab.context import LabContext
from utsyn.lab.mail import accepted_domains, smtp_handler
from utsyn.lab.manifest import Host, Service, ServiceKind, parse_manifest

IP = "127.104.1.1"
MX = "mail.fjordvik.test"
CLIENT = "scanner.test"
_T = TypeVar("_T")


def lab(banner: str | None = None, starttls: bool = False) -> tuple[Service, Host, LabContext]:
    service: dict[str, object] = {"kind": "smtp", "starttls": starttls}
    if banner is not None:
        service["banner"] = banner
    if starttls:
        service["tls"] = {}
    organisations = [
        {
            "slug": "fjordvik",
            "name": "Fjordvik kommune",
            "orgnr": "974760673",
            "sector": "municipality",
            "county": "46",
            "municipality": "4601",
            "domains": [{"name": "fjordvik.test", "mx": [MX]}],
            "hosts": [{"name": MX, "ip": IP, "services": [service]}],
        },
        {
            "slug": "nabo",
            "name": "Nabo kommune",
            "orgnr": "964338531",
            "sector": "municipality",
            "county": "46",
            "domains": [{"name": "nabo.test"}],
        },
    ]
    manifest = parse_manifest({"name": "mail test", "organisations": organisations})
    host = manifest.organisations[0].hosts[0]
    ctx = LabContext(manifest, {MX: IP}, None, Path("/nonexistent"))  # type: ignore[arg-type]
    return host.services[0], host, ctx


def self_signed(tmp_path: Path) -> tuple[ssl.SSLContext, ssl.SSLContext]:
    """(server, client) contexts around a throwaway certificate for the MX and its IP."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, MX)])
    now = datetime.now(UTC)
    san = [x509.DNSName(MX), x509.IPAddress(ipaddress.ip_address(IP))]
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(minutes=5))
        .not_valid_after(now + timedelta(days=1))
        .add_extension(x509.SubjectAlternativeName(san), critical=False)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    cert_pem = cert.public_bytes(serialization.Encoding.PEM)
    (tmp_path / "cert.pem").write_bytes(cert_pem)
    (tmp_path / "key.pem").write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    server = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    server.load_cert_chain(tmp_path / "cert.pem", tmp_path / "key.pem")
    client = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    client.load_verify_locations(cadata=cert_pem.decode())
    return server, client


@asynccontextmanager
async def mta(
    banner: str | None = None,
    starttls: bool = False,
    tls_context: ssl.SSLContext | None = None,
    idle: float = 5.0,
) -> AsyncIterator[int]:
    service, host, ctx = lab(banner, starttls)
    handler = smtp_handler(service, host, ctx, tls_context, idle_timeout=idle)
    server = await asyncio.start_server(handler, IP, 0)
    try:
        yield server.sockets[0].getsockname()[1]
    finally:
        server.close()
        await server.wait_closed()


async def with_smtplib(port: int, talk: Callable[[smtplib.SMTP], _T]) -> _T:
    """Run `talk` against the server with a connected smtplib client, in a thread."""

    def run() -> _T:
        # local_hostname: smtplib would otherwise ask the system resolver for our FQDN.
        with smtplib.SMTP(IP, port, local_hostname=CLIENT, timeout=5) as client:
            return talk(client)

    return await asyncio.to_thread(run)


class Raw:
    """A blocking line-oriented client for the corner cases smtplib hides."""

    def __init__(self, port: int) -> None:
        self.sock = socket.create_connection((IP, port), timeout=5)
        self.buffer = b""

    def line(self) -> bytes:
        while b"\r\n" not in self.buffer:
            chunk = self.sock.recv(4096)
            if not chunk:
                raise EOFError(self.buffer)
            self.buffer += chunk
        line, self.buffer = self.buffer.split(b"\r\n", 1)
        return line

    def reply(self) -> list[bytes]:
        """All lines of one (possibly multiline) reply."""
        lines = [self.line()]
        while lines[-1][3:4] == b"-":
            lines.append(self.line())
        return lines

    def send(self, data: bytes) -> None:
        self.sock.sendall(data)

    def closed(self) -> bool:
        """True when the server has closed (or reset) the connection and sent nothing more."""
        try:
            return self.buffer == b"" and self.sock.recv(1) == b""
        except ConnectionResetError:  # closed with our unread data still in its buffer
            return True


# ---------------------------------------------------------------- greeting and EHLO


async def greeting(port: int) -> tuple[int, bytes]:
    def connect() -> tuple[int, bytes]:
        client = smtplib.SMTP(local_hostname=CLIENT, timeout=5)
        try:
            return client.connect(IP, port)
        finally:
            client.close()

    return await asyncio.to_thread(connect)


async def test_default_greeting_is_a_debian_postfix() -> None:
    async with mta() as port:
        assert await greeting(port) == (220, b"mail.fjordvik.test ESMTP Postfix (Debian/GNU)")


async def test_banner_is_served_verbatim_with_its_mta_flavour() -> None:
    banner = "mail.fjordvik.test ESMTP Exim 4.94.2 Ubuntu Fri, 05 Jan 2024 10:00:00 +0100"
    async with mta(banner) as port:

        def talk(client: smtplib.SMTP) -> tuple[int, bytes]:
            return client.ehlo()

        greeted = await greeting(port)
        code, text = await with_smtplib(port, talk)
    assert greeted == (220, banner.encode())
    assert code == 250
    lines = text.split(b"\n")
    assert lines[0].startswith(b"mail.fjordvik.test Hello scanner.test [127.")
    assert b"SIZE 52428800" in lines and b"STARTTLS" not in lines


async def test_ehlo_capabilities_without_tls_and_helo() -> None:
    async with mta() as port:

        def talk(client: smtplib.SMTP) -> tuple[dict[str, str], tuple[int, bytes]]:
            client.ehlo()
            return client.esmtp_features, client.helo()

        features, helo = await with_smtplib(port, talk)
    assert {"pipelining", "size", "8bitmime", "enhancedstatuscodes"} <= set(features)
    assert features["size"] == "10240000"
    assert "starttls" not in features
    assert helo == (250, MX.encode())


# ---------------------------------------------------------------- STARTTLS


async def test_starttls_upgrades_the_same_connection(tmp_path: Path) -> None:
    server_ctx, client_ctx = self_signed(tmp_path)
    async with mta(starttls=True, tls_context=server_ctx) as port:

        def talk(client: smtplib.SMTP) -> tuple[bool, tuple[int, bytes], str, bool, int]:
            client.ehlo()
            offered = client.has_extn("starttls")
            reply = client.starttls(context=client_ctx)  # smtplib sends EHLO again itself
            client.ehlo()
            assert isinstance(client.sock, ssl.SSLSocket)
            version = client.sock.version() or ""
            return offered, reply, version, client.has_extn("starttls"), client.noop()[0]

        offered, reply, version, again, noop = await with_smtplib(port, talk)
    assert offered and reply == (220, b"2.0.0 Ready to start TLS")
    assert version.startswith("TLSv1") and not again and noop == 250


async def test_starttls_needs_both_the_manifest_and_a_tls_context(tmp_path: Path) -> None:
    server_ctx, _ = self_signed(tmp_path)
    async with mta(starttls=True, tls_context=None) as without_context:

        def talk(client: smtplib.SMTP) -> tuple[bool, int]:
            client.ehlo()
            return client.has_extn("starttls"), client.docmd("STARTTLS")[0]

        assert await with_smtplib(without_context, talk) == (False, 502)
    async with mta(starttls=False, tls_context=server_ctx) as not_in_manifest:
        assert await with_smtplib(not_in_manifest, talk) == (False, 502)


async def test_commands_pipelined_behind_starttls_are_discarded(tmp_path: Path) -> None:
    """The CVE-2011-0411 injection: NOOP sent in plaintext must not be answered under TLS."""
    server_ctx, client_ctx = self_signed(tmp_path)
    async with mta(starttls=True, tls_context=server_ctx) as port:

        def talk() -> list[bytes]:
            raw = Raw(port)
            raw.line()
            raw.send(b"EHLO scanner.test\r\n")
            raw.reply()
            raw.send(b"STARTTLS\r\nNOOP\r\n")
            assert raw.line() == b"220 2.0.0 Ready to start TLS"
            raw.sock = client_ctx.wrap_socket(raw.sock, server_hostname=IP)
            raw.send(b"EHLO scanner.test\r\n")
            return raw.reply()

        reply = await asyncio.to_thread(talk)
    assert reply[0] == b"250-mail.fjordvik.test"


# ---------------------------------------------------------------- relaying


async def test_lab_domains_are_accepted_and_never_relayed() -> None:
    async with mta() as port:

        def talk(client: smtplib.SMTP) -> list[tuple[int, bytes]]:
            client.ehlo()
            return [
                client.mail("audit@scanner.test"),
                client.rcpt("postmottak@fjordvik.test"),
                client.rcpt("victim@example.com"),
                client.rcpt("postmottak@nabo.test"),  # another organisation: also relaying
                client.rcpt("postmaster"),
                client.data(b"Subject: test\r\n\r\nhello\r\n"),
            ]

        mail, local, external, neighbour, postmaster, data = await with_smtplib(port, talk)
    assert mail == (250, b"2.1.0 Ok") and local == (250, b"2.1.5 Ok")
    assert external == (554, b"5.7.1 <victim@example.com>: Relay access denied")
    assert neighbour[0] == 554 and postmaster[0] == 250
    assert data[0] == 250 and data[1].startswith(b"2.0.0 Ok: queued as ")


@pytest.mark.parametrize(
    ("banner", "refusal"),
    [
        (f"{MX} ESMTP Exim 4.94.2", (550, b"relay not permitted")),
        (
            f"{MX} Microsoft ESMTP MAIL Service ready at Fri, 5 Jan 2024 10:00:00 +0100",
            (550, b"5.7.54 SMTP; Unable to relay recipient in non-accepted domain"),
        ),
    ],
)
async def test_relay_refusal_in_the_mta_wording(banner: str, refusal: tuple[int, bytes]) -> None:
    async with mta(banner) as port:

        def talk(client: smtplib.SMTP) -> tuple[int, bytes]:
            client.ehlo()
            client.mail("")
            return client.rcpt("victim@example.com")

        assert await with_smtplib(port, talk) == refusal


def test_accepted_domains_are_the_mx_zones_and_own_names() -> None:
    _, host, ctx = lab()
    assert accepted_domains(host, ctx) == frozenset({"fjordvik.test", MX})


async def test_sendmail_to_a_lab_domain_succeeds() -> None:
    async with mta() as port:

        def talk(client: smtplib.SMTP) -> dict[str, tuple[int, bytes]]:
            return client.sendmail("a@scanner.test", ["b@fjordvik.test"], "Subject: x\r\n\r\ny")

        assert await with_smtplib(port, talk) == {}


# ---------------------------------------------------------------- errors and limits


async def test_command_sequence_and_syntax_errors() -> None:
    async with mta() as port:

        def talk(client: smtplib.SMTP) -> list[int]:
            codes = [client.docmd("MAIL FROM:<a@b.test>")[0]]  # before EHLO
            client.ehlo()
            codes += [client.docmd("RCPT TO:<b@fjordvik.test>")[0]]  # before MAIL
            codes += [client.docmd("DATA")[0]]
            codes += [client.docmd("MAIL", "FROM:a@b.test")[0]]  # no angle brackets
            codes += [client.docmd("XYZZY")[0], client.docmd("RSET")[0]]
            codes += [client.docmd("EHLO")[0], client.docmd("X" * 3000)[0]]
            codes += [client.quit()[0]]
            return codes

        codes = await with_smtplib(port, talk)
    assert codes == [503, 503, 503, 501, 502, 250, 501, 500, 221]


async def test_idle_client_gets_421_and_is_disconnected() -> None:
    async with mta(idle=0.3) as port:

        def talk() -> tuple[bytes, bool]:
            raw = Raw(port)
            raw.line()
            return raw.line(), raw.closed()

        line, closed = await asyncio.to_thread(talk)
    assert line == b"421 4.4.2 mail.fjordvik.test Error: timeout exceeded" and closed


async def test_too_many_errors_end_the_session() -> None:
    async with mta() as port:

        def talk() -> tuple[list[bytes], bool]:
            raw = Raw(port)
            raw.line()
            raw.send(b"BOGUS\r\n" * 25)
            lines = [raw.line() for _ in range(21)]
            return lines, raw.closed()

        lines, closed = await asyncio.to_thread(talk)
    assert lines[:20] == [b"502 5.5.2 Error: command not recognized"] * 20
    assert lines[20] == b"421 4.7.0 mail.fjordvik.test Error: too many errors" and closed


async def test_an_endless_line_closes_the_connection() -> None:
    async with mta() as port:

        def talk() -> bool:
            raw = Raw(port)
            raw.line()
            try:
                raw.send(b"A" * 200_000)
            except OSError:
                return True  # reset while sending: closed as well
            return raw.closed()

        assert await asyncio.to_thread(talk)


def test_only_smtp_services_are_served() -> None:
    _, host, ctx = lab()
    with pytest.raises(ValueError, match="ssh"):
        smtp_handler(Service(kind=ServiceKind.SSH), host, ctx, None)
