"""Where users send mail passwords: submission, IMAP and POP3, scanned end to end.

Against the demo lab's mail hosts (mail.solvberg.test as RFC 8314 asks, mail.bjorkeli.test
taking passwords in the clear, Exchange on mail.helse-vestkyst.test), against servers that
misbehave or tempt the scanner to log in (127.115.0.x, ports the kernel picks), and against
nmap's imap-capabilities, pop3-capabilities and smtp-commands as a reference.
"""

from __future__ import annotations

import asyncio
import re
import shutil
import subprocess
import xml.etree.ElementTree as ET
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager

import pytest

from tests.scan.conftest import lab_config
from utsyn.lab.expected import expected_observations
from utsyn.lab.runtime import LabInfo
from utsyn.lab.scenarios import load_scenario
from utsyn.scan.discovery import protocol_of
from utsyn.scan.engine import Scanner
from utsyn.scan.family import DEFAULT_PORTS, ScanConfig, ScanContext
from utsyn.scan.guard import GuardedNet, ScopePolicy, Timeouts
from utsyn.scan.mail.mailproto import (
    greeting_protocol,
    greeting_text,
    imap_offer,
    pop3_offer,
    smtp_offer,
)
from utsyn.scan.mail.smtp import SmtpFamily
from utsyn.scan.model import Footprint, Observation, ServiceTarget, TargetResult
from utsyn.scan.resolve import Resolver
from utsyn.scan.services.family import ServicesFamily
from utsyn.scan.tls.family import TlsFamily

MAIL_HOSTS = ("mail.solvberg.test", "mail.bjorkeli.test", "mail.helse-vestkyst.test")
MAIL_PORTS = (110, 143, 465, 587, 993, 995)

# ======================================================================== what is offered

# Measured on Debian 12's Dovecot 2.3.19 (as shipped, then `disable_plaintext_auth = no`).
DOVECOT = "IMAP4rev1 SASL-IR LOGIN-REFERRALS ID ENABLE IDLE LITERAL+"


@pytest.mark.parametrize(
    ("capabilities", "starttls", "cleartext"),
    [
        (f"{DOVECOT} STARTTLS LOGINDISABLED", True, False),  # Dovecot as installed
        (f"{DOVECOT} STARTTLS AUTH=PLAIN", True, True),  # disable_plaintext_auth = no
        (f"{DOVECOT} AUTH=PLAIN", False, True),  # no ssl at all
        # Exchange with LoginType SecureLogin: NTLM and GSSAPI send no password.
        ("IMAP4 IMAP4rev1 AUTH=NTLM AUTH=GSSAPI LOGINDISABLED STARTTLS", True, False),
        # Courier-IMAP with IMAP_TLS_REQUIRED=0 (its default): LOGIN allowed.
        ("IMAP4rev1 UIDPLUS CHILDREN NAMESPACE QUOTA IDLE ACL ACL2=UNION STARTTLS", True, True),
        # LOGINDISABLED, but AUTHENTICATE PLAIN sends the password all the same.
        ("IMAP4rev1 STARTTLS LOGINDISABLED AUTH=PLAIN", True, True),
        ("IMAP4rev1 LOGINDISABLED AUTH=SCRAM-SHA-256 auth=cram-md5", False, False),
    ],
)
def test_imap_capabilities(capabilities: str, starttls: bool, cleartext: bool) -> None:
    offer = imap_offer("* OK ready", [f"* CAPABILITY {capabilities}"])
    assert (offer.starttls, offer.cleartext_login) == (starttls, cleartext)


@pytest.mark.parametrize(
    ("capa", "starttls", "cleartext"),
    [
        (["CAPA", "TOP", "UIDL", "RESP-CODES", "STLS", "SASL"], True, False),  # Dovecot
        (["CAPA", "TOP", "STLS", "USER", "SASL PLAIN"], True, True),  # plaintext allowed
        (["TOP", "UIDL", "SASL NTLM GSSAPI", "STLS"], True, False),  # Exchange SecureLogin
        (["TOP", "SASL CRAM-MD5 LOGIN"], False, True),
        (None, False, None),  # -ERR to CAPA: the server does not say
    ],
)
def test_pop3_capa(capa: list[str] | None, starttls: bool, cleartext: bool | None) -> None:
    offer = pop3_offer("+OK ready", capa)
    assert (offer.starttls, offer.cleartext_login) == (starttls, cleartext)


@pytest.mark.parametrize(
    ("extensions", "starttls", "cleartext"),
    [
        (["PIPELINING", "SIZE 10240000", "STARTTLS", "ENHANCEDSTATUSCODES"], True, False),
        (["PIPELINING", "STARTTLS", "AUTH PLAIN LOGIN"], True, True),  # tls_auth_only = no
        (["STARTTLS", "AUTH NTLM"], True, False),  # Exchange before TLS
        (["AUTH GSSAPI NTLM LOGIN"], False, True),  # Exchange 2003 on port 25
        (["AUTH CRAM-MD5", "AUTH=LOGIN PLAIN"], False, True),  # the pre-RFC 4954 form
        (["AUTH CRAM-MD5 DIGEST-MD5 SCRAM-SHA-1"], False, False),
        (["8BITMIME", "XAUTH PLAIN"], False, False),
    ],
)
def test_smtp_ehlo(extensions: list[str], starttls: bool, cleartext: bool) -> None:
    offer = smtp_offer(["mail.x.test", *extensions])
    assert (offer.starttls, offer.cleartext_login) == (starttls, cleartext)


EXCHANGE = "The Microsoft Exchange IMAP4 service is ready."
GREETINGS = [
    ("* OK [CAPABILITY IMAP4rev1 STARTTLS] Dovecot ready.", "imap", "Dovecot ready."),
    ("* OK The Microsoft Exchange IMAP4 service is ready.", "imap", EXCHANGE),
    ("* PREAUTH IMAP4rev1 logged in as x", "imap", "IMAP4rev1 logged in as x"),
    ("+OK Dovecot ready.", "pop3", "Dovecot ready."),
    ("+OK Hello there.", "pop3", "Hello there."),
    ("220 mx.x.test ESMTP Postfix (Debian/GNU)", "smtp", "mx.x.test ESMTP Postfix (Debian/GNU)"),
    ("HTTP/1.1 400 Bad Request", None, ""),
    ("* BYE too busy", None, ""),
]  # fmt: skip


@pytest.mark.parametrize(("line", "protocol", "text"), GREETINGS)
def test_greetings(line: str, protocol: str | None, text: str) -> None:
    assert greeting_protocol(line) == protocol
    if protocol is not None:
        assert greeting_text(protocol, line) == text


def test_discovery_knows_the_mail_ports_and_greetings() -> None:
    assert {110, 143, 465, 587, 993, 995} <= set(DEFAULT_PORTS)
    assert protocol_of(143, b"* OK [CAPABILITY IMAP4rev1] Dovecot ready.\r\n") == "imap"
    assert protocol_of(110, b"+OK Dovecot ready.\r\n") == "pop3"
    assert protocol_of(2143, b"* OK IMAP4rev1\r\n") == "imap"  # by its greeting
    assert protocol_of(993, b"") == "imaps" and protocol_of(995, b"") == "pop3s"
    assert protocol_of(465, b"") == "smtps" and protocol_of(587, b"220 x ESMTP\r\n") == "smtp"


# ======================================================================== the demo lab


@pytest.fixture(scope="module")
def mail_scan(demo_lab: LabInfo) -> tuple[list[TargetResult], GuardedNet]:
    """Every family on the demo's three mail hosts with users' mail."""
    scanner = Scanner(lab_config(demo_lab))

    async def collect() -> list[TargetResult]:
        return [r async for r in scanner.scan([Footprint("mail", hostnames=MAIL_HOSTS)])]

    results = asyncio.run(collect())
    assert scanner.last_context is not None
    return results, scanner.last_context.net


def seen(results: list[TargetResult]) -> dict[tuple[str, str], Observation]:
    return {(o.target, o.check): o for r in results for o in r.observations}


def test_every_fact_of_the_mail_hosts_agrees_with_the_ground_truth(
    mail_scan: tuple[list[TargetResult], GuardedNet],
) -> None:
    found = seen(mail_scan[0])
    facts = [
        f for f in expected_observations(load_scenario("demo")) if f.target.startswith(MAIL_HOSTS)
    ]
    wrong = [
        (f.target, f.check, f.value, found.get((f.target, f.check)))
        for f in facts
        if (f.target, f.check) not in found or found[(f.target, f.check)].value != f.value
    ]
    assert wrong == []
    assert len(facts) > 200
    assert [o for o in found.values() if o.error] == []


def test_starttls_and_implicit_tls_both_reach_the_certificate(
    mail_scan: tuple[list[TargetResult], GuardedNet],
) -> None:
    """Lab case: mail.solvberg.test serves TLS after STARTTLS on 587 and 143, and from the
    first byte on 465 and 993; the certificate is read on each."""
    found = seen(mail_scan[0])
    for port in (587, 143, 465, 993):
        status = found[(f"mail.solvberg.test:{port}", "tls.cert.status")]
        assert status.value == "valid" and status.evidence.startswith("ServerHello TLS 1.3")
    assert found[("mail.solvberg.test:993", "service.kind")].probe == "greeting after TLS"
    product = found[("mail.solvberg.test:993", "service.product")].value
    assert (
        product["cpe"].startswith("cpe:2.3:a:dovecot:dovecot:*") and product["distro"] == "Ubuntu"
    )


def test_passwords_in_the_clear_are_seen_where_they_are_offered(
    mail_scan: tuple[list[TargetResult], GuardedNet],
) -> None:
    """Lab case mail.bjorkeli.test: LOGIN without LOGINDISABLED on 143, USER on 110 (no
    STLS), AUTH PLAIN LOGIN before STARTTLS on 587; its MX on 25 offers no AUTH."""
    found = seen(mail_scan[0])
    for port in (143, 110, 587):
        login = found[(f"mail.bjorkeli.test:{port}", "mail.cleartext_login")]
        assert login.value is True and login.probe == "starttls", port
    assert "AUTH PLAIN LOGIN" in found[("mail.bjorkeli.test:587", "mail.cleartext_login")].evidence
    assert found[("mail.bjorkeli.test:110", "pop3.starttls")].value is False
    assert found[("mail.bjorkeli.test:25", "mail.cleartext_login")].value is False
    assert not [k for k in found if k[0] == "mail.bjorkeli.test:110" and k[1].startswith("tls.")]


def test_exchange_is_named_by_its_greetings(
    mail_scan: tuple[list[TargetResult], GuardedNet],
) -> None:
    found = seen(mail_scan[0])
    for port in (143, 995):
        product = found[(f"mail.helse-vestkyst.test:{port}", "service.product")].value
        assert product["cpe"].startswith("cpe:2.3:a:microsoft:exchange_server:*"), port
    assert found[("mail.helse-vestkyst.test:995", "service.kind")].value == "pop3s"
    login = found[("mail.helse-vestkyst.test:143", "mail.cleartext_login")]
    assert login.value is False and "AUTH=NTLM" in login.evidence


def test_the_mail_ports_cost_six_connections_a_host(demo_lab: LabInfo) -> None:
    """Discovery opens one connection per default port, six of them for the mail ports:
    on a host with none of them open (www.fjordvik.test), that is all they cost."""
    counts = []
    for ports in (DEFAULT_PORTS, tuple(p for p in DEFAULT_PORTS if p not in MAIL_PORTS)):
        scanner = Scanner(lab_config(demo_lab, ports=ports), families=[])

        async def discover(scanner: Scanner = scanner) -> None:
            async for _ in scanner.scan([Footprint("x", hostnames=("www.fjordvik.test",))]):
                pass

        asyncio.run(discover())
        assert scanner.last_context is not None
        counts.append(scanner.last_context.net.stats.connections)
    assert counts == [len(DEFAULT_PORTS), len(DEFAULT_PORTS) - len(MAIL_PORTS)]


# ======================================================================== misbehaving servers

Session = Callable[[asyncio.StreamReader, asyncio.StreamWriter], Awaitable[None]]
_next_ip = iter(range(1, 250))


def context(read: float = 0.5) -> ScanContext:
    config = ScanConfig(
        scope=ScopePolicy.lab(), nameservers=("127.0.0.1",), timeouts=Timeouts(1.0, read, 1.0)
    )
    net = GuardedNet(config.scope, config.timeouts)
    return ScanContext(config, net, Resolver(net, ["127.0.0.1"]))


@asynccontextmanager
async def server(session: Session) -> AsyncIterator[tuple[str, int]]:
    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            await session(reader, writer)
        except (OSError, asyncio.CancelledError, asyncio.IncompleteReadError):
            pass
        finally:
            writer.transport.abort()

    ip = f"127.115.0.{next(_next_ip)}"
    listening = await asyncio.start_server(handle, ip, 0)
    try:
        yield ip, listening.sockets[0].getsockname()[1]
    finally:
        listening.close()


async def run_jobs(
    session: Session, protocol: str, families: list[object], read: float = 0.5
) -> list[Observation]:
    async with server(session) as (ip, port):
        target = ServiceTarget("hostile.test", ip, port, protocol)
        scan = context(read)
        out: list[Observation] = []
        for family in families:
            for job in family.jobs(target):  # type: ignore[attr-defined]
                try:
                    out += await family.run(job, scan)  # type: ignore[attr-defined]
                except (TimeoutError, ConnectionError) as exc:  # the engine records these
                    out.append(Observation(target.label, "engine", None, error=repr(exc)))
        return out


def tempting(greeting: bytes, answers: dict[bytes, bytes], heard: list[bytes]) -> Session:
    """A server that offers every login there is and records each command line it hears,
    until the client starts TLS (whose bytes are not commands)."""

    async def session(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        writer.write(greeting)
        while line := await reader.readline():
            if not line.isascii() or line[:1] == b"\x16":
                return
            heard.append(line.rstrip(b"\r\n"))
            words = line.split()
            key = next((k for k in answers if k.split() == words[: len(k.split())]), b"")
            writer.write(answers.get(key, b"") or answers[b"*"].replace(b"TAG", words[0]))
            await writer.drain()

    return session


IMAP_TEMPTING = {
    b"u1 CAPABILITY": b"* CAPABILITY IMAP4rev1 STARTTLS AUTH=PLAIN AUTH=LOGIN\r\nu1 OK done\r\n",
    b"u2 STARTTLS": b"u2 OK Begin TLS\r\n",
    b"*": b"TAG BAD no\r\n",
}
POP3_TEMPTING = {
    b"CAPA": b"+OK\r\nSTLS\r\nUSER\r\nSASL PLAIN LOGIN\r\n.\r\n",
    b"STLS": b"+OK Begin TLS\r\n",
    b"*": b"-ERR no\r\n",
}
SMTP_TEMPTING = {
    b"EHLO": b"250-mail.x.test\r\n250-STARTTLS\r\n250 AUTH PLAIN LOGIN\r\n",
    b"STARTTLS": b"220 go ahead\r\n",
    b"VRFY": b"252 2.0.0 maybe\r\n",
    b"EXPN": b"502 5.5.1 no\r\n",
    b"QUIT": b"221 bye\r\n",
    b"*": b"500 5.5.2 what\r\n",
}
_ALLOWED = {b"CAPABILITY", b"STARTTLS", b"CAPA", b"STLS", b"EHLO", b"VRFY", b"EXPN", b"QUIT"}


@pytest.mark.parametrize(
    ("protocol", "greeting", "answers"),
    [
        ("imap", b"* OK [CAPABILITY IMAP4rev1 AUTH=PLAIN] ready\r\n", IMAP_TEMPTING),
        ("pop3", b"+OK ready\r\n", POP3_TEMPTING),
        ("smtp", b"220 mail.x.test ESMTP\r\n", SMTP_TEMPTING),
    ],
)
async def test_no_user_name_or_password_is_ever_sent(
    protocol: str, greeting: bytes, answers: dict[bytes, bytes]
) -> None:
    """A server offering every login there is hears capability questions, STARTTLS (and,
    over SMTP, VRFY/EXPN), and never LOGIN, AUTHENTICATE, USER, PASS or AUTH."""
    heard: list[bytes] = []
    families = [TlsFamily(), ServicesFamily(), SmtpFamily()]
    found = await run_jobs(tempting(greeting, answers, heard), protocol, families)
    verbs = {line.split()[1] if protocol == "imap" else line.split()[0] for line in heard}
    assert verbs <= _ALLOWED and verbs & {b"STARTTLS", b"STLS"}  # the TLS probes ran
    assert not verbs & {b"LOGIN", b"AUTHENTICATE", b"USER", b"PASS", b"AUTH", b"APOP"}
    login = [o for o in found if o.check == "mail.cleartext_login"]
    assert [o.value for o in login] == [True]


async def _endless_capability(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    writer.write(b"* OK IMAP4rev1 ready\r\n")
    await reader.readline()
    for _ in range(10_000):
        writer.write(b"* CAPABILITY IMAP4rev1 STARTTLS\r\n")
        await writer.drain()


async def _no_capa(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    writer.write(b"+OK POP3 server ready\r\n")
    await reader.readline()
    writer.write(b"-ERR unknown command\r\n")
    await reader.read()


async def _http(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    writer.write(b"HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n\r\n")
    await reader.read()


async def _silent(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    await reader.read()


@pytest.mark.parametrize(
    ("session", "protocol", "reason"),
    [
        (_endless_capability, "imap", "an IMAP answer of more than 64 lines"),
        (_http, "imap", "not an IMAP greeting: HTTP/1.1 400 Bad Request"),
        (_http, "pop3", "not a POP3 greeting"),
        (_silent, "pop3", "timeout"),
    ],
)
async def test_a_misbehaving_server_leaves_the_facts_unknown_with_a_reason(
    session: Session, protocol: str, reason: str
) -> None:
    found = await run_jobs(session, protocol, [TlsFamily()])
    starttls = [o for o in found if o.check in (f"{protocol}.starttls", "mail.cleartext_login")]
    assert len(starttls) == 2 and all(
        o.value is None and reason in (o.error or "") for o in starttls
    )
    assert not [o for o in found if o.value is not None and o.check.startswith("tls.")]


async def test_a_pop3_server_without_capa_says_nothing_about_its_logins() -> None:
    found = {o.check: o for o in await run_jobs(_no_capa, "pop3", [TlsFamily()])}
    assert found["pop3.starttls"].value is False
    login = found["mail.cleartext_login"]
    assert login.value is None and "does not list its logins" in (login.error or "")


async def test_an_implicit_tls_port_that_speaks_plain_text_is_a_reasoned_failure() -> None:
    """A 993 that greets in the clear (a misconfigured proxy): no TLS, no made-up banner."""

    async def plain(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        writer.write(b"* OK IMAP4rev1 ready\r\n")
        await reader.read()

    found = {o.check: o for o in await run_jobs(plain, "imaps", [ServicesFamily()])}
    assert found["service.kind"].probe == "port number (unconfirmed)"
    assert found["service.banner"].value is None and found["service.banner"].error


async def test_waiting_for_a_connection_slot_is_no_slowness_of_the_service() -> None:
    """On a mail host the greeting probe waits behind the TLS probes of every port for one
    of the host's connections: that wait must not count against the service."""

    async def dovecot(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        writer.write(b"* OK [CAPABILITY IMAP4rev1] Dovecot (Debian) ready.\r\n")
        await reader.read()

    config = ScanConfig(
        scope=ScopePolicy.lab(), nameservers=("127.0.0.1",), timeouts=Timeouts(0.5, 0.5, 0.5)
    )
    net = GuardedNet(config.scope, config.timeouts, per_host=1)
    scan = ScanContext(config, net, Resolver(net, ["127.0.0.1"]))
    async with server(dovecot) as (ip, port):
        target = ServiceTarget("mail.x.test", ip, port, "imap")  # no greeting from discovery
        (job,) = ServicesFamily().jobs(target)

        async def busy() -> None:  # another probe holds the host's only connection for 3 s
            async with net.tcp(ip, port):
                await asyncio.sleep(3)

        holder = asyncio.create_task(busy())
        await asyncio.sleep(0.1)
        found = {o.check: o for o in await ServicesFamily().run(job, scan)}
        await holder
    assert found["service.banner"].value == "Dovecot (Debian) ready."


# ======================================================================== nmap as a reference


def _nmap_scripts(ip: str, ports: list[int]) -> dict[int, str]:
    scripts = "imap-capabilities,pop3-capabilities,smtp-commands"
    command = ["nmap", "-n", "-Pn", "-sT", "-p", ",".join(map(str, ports)), "--script", scripts]
    command += ["--script-args", "smtp-commands.domain=scanner.utsyn.invalid", "-oX", "-", ip]
    xml = subprocess.run(command, capture_output=True, text=True, timeout=120, check=True).stdout
    return {
        int(port.get("portid", "0")): script.get("output", "")
        for port in ET.fromstring(xml).iter("port")
        for script in port.iter("script")
    }


def _reference_offer(output: str) -> tuple[bool, bool]:
    """(STARTTLS, a password login before TLS) as nmap's scripts list the capabilities.

    nmap 7.93's imap-capabilities also reads the tagged OK line and glues its tag to the
    last capability ("LOGINDISABLEDA0001", seen on Debian's Dovecot too); pop3-capabilities
    writes the SASL line as "SASL(PLAIN)"."""
    words = set(re.split(r"[\s,()]+", re.sub(r"A0001\b", " ", output.upper())))
    starttls = bool({"STARTTLS", "STLS"} & words)
    plain = bool({"AUTH=PLAIN", "AUTH=LOGIN", "USER", "PLAIN", "LOGIN"} & words)
    imap = "IMAP4REV1" in words
    return starttls, plain or (imap and "LOGINDISABLED" not in words)


@pytest.mark.reference
@pytest.mark.skipif(shutil.which("nmap") is None, reason="nmap is not installed")
def test_what_is_offered_before_tls_agrees_with_nmap(
    demo_lab: LabInfo, mail_scan: tuple[list[TargetResult], GuardedNet]
) -> None:
    found = seen(mail_scan[0])
    compared = 0
    for host in MAIL_HOSTS:
        ports = sorted({int(t.split(":")[1]) for t, c in found if t.startswith(f"{host}:")})
        plain = [p for p in ports if p in (25, 110, 143, 587)]
        for port, output in _nmap_scripts(demo_lab.addresses[host], plain).items():
            kind = found[(f"{host}:{port}", "service.kind")].value
            ours = (
                found[(f"{host}:{port}", f"{kind}.starttls")].value,
                found[(f"{host}:{port}", "mail.cleartext_login")].value,
            )
            assert ours == _reference_offer(output), (host, port, output)
            compared += 1
    assert compared == 9  # solvberg 25/143/587, bjorkeli 25/110/143/587, helse-vestkyst 25/143
