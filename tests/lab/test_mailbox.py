"""The lab's IMAP, POP3 and submission servers, through the clients real tools use.

imaplib, poplib and smtplib talk to servers on 127.104.1.1 (the address of tests/lab/test_mail,
on ports the kernel picks). What they must see is what Debian's Dovecot 2.3.19 and Postfix
answer, measured: LOGINDISABLED before STARTTLS unless `disable_plaintext_auth = no`, USER
only where passwords may be sent, AUTH on submission only inside TLS unless
`smtpd_tls_auth_only = no`; and every login fails.
"""

from __future__ import annotations

import asyncio
import imaplib
import poplib
import smtplib
import ssl
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any, TypeVar

import pytest

from tests.lab.test_mail import CLIENT, IP, MX, self_signed
from utsyn.lab.context import LabContext
from utsyn.lab.mail import smtp_handler
from utsyn.lab.mailbox import mailbox_handler
from utsyn.lab.manifest import IMPLICIT_TLS_KINDS, Service, ServiceKind, parse_manifest

_T = TypeVar("_T")


def service(kind: str, **fields: Any) -> tuple[Service, LabContext]:
    spec = {"kind": kind, **fields}
    if kind in IMPLICIT_TLS_KINDS or fields.get("starttls"):
        spec.setdefault("tls", {})
    organisation = {
        "slug": "fjordvik",
        "name": "Fjordvik kommune",
        "orgnr": "974760673",
        "sector": "municipality",
        "county": "46",
        "domains": [{"name": "fjordvik.test", "mx": [MX]}],
        "hosts": [{"name": MX, "ip": IP, "services": [spec]}],
    }
    manifest = parse_manifest({"name": "mailbox test", "organisations": [organisation]})
    ctx = LabContext(manifest, {MX: IP}, None, Path("/nonexistent"))  # type: ignore[arg-type]
    return manifest.organisations[0].hosts[0].services[0], ctx


@asynccontextmanager
async def serving(
    tmp_path: Path, kind: str, **fields: Any
) -> AsyncIterator[tuple[int, ssl.SSLContext]]:
    """A lab server of `kind` with a throwaway certificate; yields its port and a client
    context that trusts that certificate."""
    server_tls, client_tls = self_signed(tmp_path)
    svc, ctx = service(kind, **fields)
    host = ctx.manifest.organisations[0].hosts[0]
    if svc.kind in (ServiceKind.SMTP, ServiceKind.SUBMISSION, ServiceKind.SUBMISSIONS):
        handler = smtp_handler(svc, host, ctx, server_tls if svc.starttls else None)
    else:
        handler = mailbox_handler(svc, host, ctx, server_tls)
    wrap = server_tls if svc.kind in IMPLICIT_TLS_KINDS else None
    server = await asyncio.start_server(handler, IP, 0, ssl=wrap)
    try:
        yield server.sockets[0].getsockname()[1], client_tls
    finally:
        server.close()
        await server.wait_closed()


async def blocking(run: Callable[[], _T]) -> _T:
    return await asyncio.to_thread(run)


# ---------------------------------------------------------------- IMAP


async def test_dovecot_as_installed_disables_login_until_starttls(tmp_path: Path) -> None:
    async with serving(tmp_path, "imap", banner="Dovecot (Debian) ready.", starttls=True) as (
        port,
        client_tls,
    ):

        def talk() -> tuple[Any, ...]:
            with imaplib.IMAP4(IP, port, timeout=5) as imap:
                greeting, before = imap.welcome, set(imap.capabilities)
                with pytest.raises(imaplib.IMAP4.error, match="PRIVACYREQUIRED"):
                    imap.login("postmaster", "not-a-password")
                imap.starttls(client_tls)
                after = set(imap.capabilities)
                with pytest.raises(imaplib.IMAP4.error, match="AUTHENTICATIONFAILED"):
                    imap.login("postmaster", "not-a-password")
                return greeting, before, after

        greeting, before, after = await blocking(talk)
    assert greeting.startswith(b"* OK [CAPABILITY IMAP4rev1 SASL-IR") and greeting.endswith(
        b"] Dovecot (Debian) ready."
    )
    assert {"STARTTLS", "LOGINDISABLED"} <= before and "AUTH=PLAIN" not in before
    assert "AUTH=PLAIN" in after and not {"STARTTLS", "LOGINDISABLED"} & after


async def test_plaintext_auth_allowed_offers_login_before_tls(tmp_path: Path) -> None:
    """Dovecot with `disable_plaintext_auth = no`: what the lab case on mail.bjorkeli.test
    serves on port 143."""
    fields = {"starttls": True, "plaintext_login": True}
    async with serving(tmp_path, "imap", **fields) as (port, _):

        def talk() -> set[str]:
            with imaplib.IMAP4(IP, port, timeout=5) as imap:
                with pytest.raises(imaplib.IMAP4.error, match="AUTHENTICATIONFAILED"):
                    imap.login("postmaster", "not-a-password")
                return set(imap.capabilities)

        before = await blocking(talk)
    assert {"STARTTLS", "AUTH=PLAIN"} <= before and "LOGINDISABLED" not in before


async def test_exchange_offers_ntlm_but_no_password_before_tls(tmp_path: Path) -> None:
    banner = "The Microsoft Exchange IMAP4 service is ready."
    async with serving(tmp_path, "imap", banner=banner, starttls=True) as (port, client_tls):

        def talk() -> tuple[bytes, set[str], set[str]]:
            with imaplib.IMAP4(IP, port, timeout=5) as imap:
                before = set(imap.capabilities)
                imap.starttls(client_tls)
                return imap.welcome, before, set(imap.capabilities)

        greeting, before, after = await blocking(talk)
    assert greeting == b"* OK The Microsoft Exchange IMAP4 service is ready."
    assert {"AUTH=NTLM", "AUTH=GSSAPI", "LOGINDISABLED", "STARTTLS"} <= before
    assert "AUTH=PLAIN" not in before and "AUTH=PLAIN" in after


async def test_imaps_speaks_tls_from_the_first_byte(tmp_path: Path) -> None:
    async with serving(tmp_path, "imaps") as (port, client_tls):

        def talk() -> tuple[bytes, set[str]]:
            with imaplib.IMAP4_SSL(IP, port, ssl_context=client_tls, timeout=5) as imap:
                return imap.welcome, set(imap.capabilities)

        greeting, capabilities = await blocking(talk)
    assert greeting.endswith(b"Dovecot (Debian) ready.")
    assert "AUTH=PLAIN" in capabilities and "STARTTLS" not in capabilities


async def test_bad_commands_end_the_session(tmp_path: Path) -> None:
    async with serving(tmp_path, "imap") as (port, _):
        reader, writer = await asyncio.open_connection(IP, port)
        await reader.readline()
        writer.write(b"".join(b"x%d NONSENSE\r\n" % i for i in range(12)))
        answer = await asyncio.wait_for(reader.read(), 5)
        writer.close()
    assert answer.count(b"BAD Error in IMAP command") == 10
    assert answer.endswith(b"* BYE Too many invalid IMAP commands.\r\n")


# ---------------------------------------------------------------- POP3


async def test_pop3_lists_user_only_where_passwords_may_be_sent(tmp_path: Path) -> None:
    async with serving(tmp_path, "pop3", starttls=True) as (port, client_tls):

        def talk() -> tuple[dict[str, list[str]], dict[str, list[str]]]:
            pop = poplib.POP3(IP, port, timeout=5)
            try:
                before = pop.capa()
                with pytest.raises(poplib.error_proto, match="Plaintext authentication"):
                    pop.user("postmaster")
                pop.stls(client_tls)
                after = pop.capa()
                pop.user("postmaster")
                with pytest.raises(poplib.error_proto, match="Authentication failed"):
                    pop.pass_("not-a-password")
                return before, after
            finally:
                pop.quit()

        before, after = await blocking(talk)
    assert "STLS" in before and "USER" not in before and before["SASL"] == []
    assert "USER" in after and after["SASL"] == ["PLAIN"] and "STLS" not in after


async def test_pop3_without_tls_takes_passwords_in_the_clear(tmp_path: Path) -> None:
    """The lab case of POP3 on mail.bjorkeli.test:110: no STLS, USER listed."""
    async with serving(tmp_path, "pop3", plaintext_login=True) as (port, _):

        def talk() -> tuple[bytes, dict[str, list[str]]]:
            pop = poplib.POP3(IP, port, timeout=5)
            try:
                return pop.getwelcome(), pop.capa()
            finally:
                pop.quit()

        greeting, capa = await blocking(talk)
    assert greeting == b"+OK Dovecot (Debian) ready."
    assert "USER" in capa and "STLS" not in capa and capa["SASL"] == ["PLAIN"]


async def test_pop3s_greets_inside_tls(tmp_path: Path) -> None:
    banner = "The Microsoft Exchange POP3 service is ready."
    async with serving(tmp_path, "pop3s", banner=banner) as (port, client_tls):

        def talk() -> bytes:
            pop = poplib.POP3_SSL(IP, port, context=client_tls, timeout=5)
            try:
                return pop.getwelcome()
            finally:
                pop.quit()

        assert await blocking(talk) == f"+OK {banner}".encode()


# ---------------------------------------------------------------- submission


def _ehlo(client: smtplib.SMTP) -> str | None:
    client.ehlo()
    auth = client.esmtp_features.get("auth")
    return auth.strip() if auth is not None else None


async def test_submission_offers_auth_only_inside_tls(tmp_path: Path) -> None:
    async with serving(tmp_path, "submission", starttls=True) as (port, client_tls):

        def talk() -> tuple[str | None, str | None, int]:
            with smtplib.SMTP(IP, port, local_hostname=CLIENT, timeout=5) as client:
                before = _ehlo(client)
                refused = client.docmd("AUTH", "PLAIN AHBvc3RtYXN0ZXIAeA==")[0]
                client.starttls(context=client_tls)
                after = _ehlo(client)
                with pytest.raises(smtplib.SMTPAuthenticationError) as failed:
                    client.login("postmaster", "not-a-password")
                code = client.docmd("MAIL", "FROM:<a@fjordvik.test>")[0]
                assert code == 250
                assert client.docmd("RCPT", "TO:<postmaster@fjordvik.test>")[0] == 554
                assert failed.value.smtp_code == 535
                return before, after, refused

        before, after, refused = await blocking(talk)
    assert before is None and refused == 503
    assert after == "PLAIN LOGIN"


async def test_submission_without_tls_auth_only_offers_auth_in_the_clear(tmp_path: Path) -> None:
    fields = {
        "starttls": True,
        "plaintext_login": True,
        "banner": "mail.fjordvik.test ESMTP Postfix",
    }
    async with serving(tmp_path, "submission", **fields) as (port, _):

        def talk() -> str | None:
            with smtplib.SMTP(IP, port, local_hostname=CLIENT, timeout=5) as client:
                auth = _ehlo(client)
                with pytest.raises(smtplib.SMTPAuthenticationError):
                    client.login("postmaster", "not-a-password")  # LOGIN: two prompts
                return auth

        assert await blocking(talk) == "PLAIN LOGIN"


async def test_exchange_submission_offers_ntlm_before_tls(tmp_path: Path) -> None:
    banner = "mail.fjordvik.test Microsoft ESMTP MAIL Service ready"
    async with serving(tmp_path, "submission", starttls=True, banner=banner) as (port, ctx):

        def talk() -> tuple[str | None, str | None]:
            with smtplib.SMTP(IP, port, local_hostname=CLIENT, timeout=5) as client:
                before = _ehlo(client)
                client.starttls(context=ctx)
                return before, _ehlo(client)

        assert await blocking(talk) == ("NTLM", "NTLM LOGIN")


async def test_submissions_is_smtp_inside_tls(tmp_path: Path) -> None:
    async with serving(tmp_path, "submissions") as (port, client_tls):

        def talk() -> tuple[bytes, str | None, bool]:
            client = smtplib.SMTP_SSL(IP, port, local_hostname=CLIENT, context=client_tls)
            with client:
                greeting = client.ehlo()[1]
                return greeting, _ehlo(client), client.has_extn("starttls")

        greeting, auth, starttls = await blocking(talk)
    assert greeting.startswith(MX.encode()) and auth == "PLAIN LOGIN" and not starttls


async def test_a_server_between_mail_servers_offers_no_auth() -> None:
    """Port 25 as before: no AUTH at all unless the manifest says passwords are taken there."""
    svc, ctx = service("smtp")
    host = ctx.manifest.organisations[0].hosts[0]
    server = await asyncio.start_server(smtp_handler(svc, host, ctx, None), IP, 0)
    port = server.sockets[0].getsockname()[1]
    try:

        def talk() -> tuple[str | None, int]:
            with smtplib.SMTP(IP, port, local_hostname=CLIENT, timeout=5) as client:
                return _ehlo(client), client.docmd("AUTH", "PLAIN")[0]

        assert await blocking(talk) == (None, 503)
    finally:
        server.close()
        await server.wait_closed()


def test_only_mailbox_services_are_served_by_the_mailbox_handler() -> None:
    svc, ctx = service("smtp")
    with pytest.raises(ValueError, match="cannot serve a smtp service"):
        mailbox_handler(svc, ctx.manifest.organisations[0].hosts[0], ctx, None)


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"kind": "imaps"}, "an imaps service needs a tls profile"),
        ({"kind": "https", "tls": {}, "http": {}, "plaintext_login": True}, "plaintext_login"),
        ({"kind": "imap", "starttls": True}, "STARTTLS needs a tls profile"),
        ({"kind": "ssh", "starttls": True}, "starttls: only for smtp, submission, imap"),
        ({"kind": "imap", "vrfy": "enumerates"}, "vrfy, expn: only for smtp"),
    ],
)
def test_mail_service_fields_are_checked(fields: dict[str, Any], message: str) -> None:
    from utsyn.errors import ManifestError

    organisation = {
        "slug": "x",
        "name": "X",
        "orgnr": "974760673",
        "sector": "municipality",
        "county": "46",
        "hosts": [{"name": MX, "services": [fields]}],
    }
    with pytest.raises(ManifestError, match=message):
        parse_manifest({"name": "bad", "organisations": [organisation]})


def test_default_ports_of_the_mail_kinds() -> None:
    ports = {k: service(k, **({"tls": {}} if k.endswith("s") else {}))[0].effective_port
             for k in ("submission", "submissions", "imap", "imaps", "pop3", "pop3s")}  # fmt: skip
    assert ports == {
        "submission": 587, "submissions": 465, "imap": 143, "imaps": 993, "pop3": 110,
        "pop3s": 995,
    }  # fmt: skip
