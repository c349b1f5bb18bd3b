"""The lab's IMAP and POP3 servers: greet, list capabilities and refuse logins like Dovecot
or Exchange.

No mailbox exists and every login fails. What a scanner can observe is real: the greeting,
CAPABILITY (RFC 9051) or CAPA (RFC 2449) before and after STARTTLS or STLS (RFC 2595) on the
same connection with the lab certificate, or TLS from the first byte on 993 and 995 (RFC
8314); LOGINDISABLED, USER and the SASL mechanisms as the manifest's `plaintext_login` says;
the refusals and the goodbye a real server sends. The connection plumbing is
`lab/session.py`; the STARTTLS upgrade works as in `lab/mail.py`.
"""

from __future__ import annotations

import ssl
from dataclasses import dataclass

from utsyn.lab.context import Handler, LabContext
from utsyn.lab.manifest import IMPLICIT_TLS_KINDS, Host, Service, ServiceKind
from utsyn.lab.session import ProtocolViolation, Session, idle_timeout_for, serve

IMAP_KINDS = frozenset({ServiceKind.IMAP, ServiceKind.IMAPS})
POP3_KINDS = frozenset({ServiceKind.POP3, ServiceKind.POP3S})
# Dovecot's mail_max_userip_connections aside, a pre-login client may send this many
# commands, and this many bad ones (Dovecot's CLIENT_MAX_BAD_COMMANDS), before it is cut off.
MAX_COMMANDS = 100
MAX_BAD_COMMANDS = 10
MAX_LINE = 8192
# Debian's Dovecot greeting (its `login_greeting`); Ubuntu says "(Ubuntu)".
DEFAULT_BANNER = "Dovecot (Debian) ready."


@dataclass(frozen=True)
class _Style:
    """Where Dovecot and Exchange differ in what a client sees before it logs in."""

    imap_capabilities: str  # without STARTTLS, LOGINDISABLED and AUTH=
    capability_in_greeting: bool
    # SASL mechanisms offered once passwords may be sent, and those offered before TLS when
    # they may not (challenge-response mechanisms send no password).
    mechanisms: tuple[str, ...]
    mechanisms_before_tls: tuple[str, ...]
    pop3_capabilities: tuple[str, ...]  # without STLS, USER and SASL
    capabilities_listed: str
    imap_bad: str
    imap_privacy: str  # LOGIN before TLS, where passwords may not be sent
    imap_failed: str
    pop3_bad: str
    pop3_privacy: str
    pop3_failed: str
    pop3_bye: str


# As Debian 12's Dovecot 2.3.19 answers, measured (`disable_plaintext_auth` yes and no).
_DOVECOT_PRIVACY = "Plaintext authentication disallowed on non-secure (SSL/TLS) connections."
_DOVECOT = _Style(
    imap_capabilities="IMAP4rev1 SASL-IR LOGIN-REFERRALS ID ENABLE IDLE LITERAL+",
    capability_in_greeting=True,
    mechanisms=("PLAIN",),
    mechanisms_before_tls=(),
    pop3_capabilities=("CAPA", "TOP", "UIDL", "RESP-CODES", "PIPELINING", "AUTH-RESP-CODE"),
    capabilities_listed="Pre-login capabilities listed, post-login capabilities have more.",
    imap_bad="BAD Error in IMAP command received by server.",
    imap_privacy=(
        "* BAD [ALERT] Plaintext authentication not allowed without SSL/TLS, but your client "
        "did it anyway. If anyone was listening, the password was exposed.\r\n"
        f"{{tag}} NO [PRIVACYREQUIRED] {_DOVECOT_PRIVACY}"
    ),
    imap_failed="NO [AUTHENTICATIONFAILED] Authentication failed.",
    pop3_bad="-ERR Unknown command.",
    pop3_privacy=f"-ERR [AUTH] {_DOVECOT_PRIVACY}",
    pop3_failed="-ERR [AUTH] Authentication failed.",
    pop3_bye="+OK Logging out",
)
# Exchange 2016/2019 with LoginType SecureLogin (its default) or PlainTextLogin.
_EXCHANGE = _Style(
    imap_capabilities="IMAP4 IMAP4rev1 UIDPLUS MOVE ID UNSELECT CHILDREN IDLE NAMESPACE LITERAL+",
    capability_in_greeting=False,
    mechanisms=("NTLM", "GSSAPI", "PLAIN"),
    mechanisms_before_tls=("NTLM", "GSSAPI"),
    pop3_capabilities=("TOP", "UIDL"),
    capabilities_listed="CAPABILITY completed.",
    imap_bad="BAD Command Error. 10",
    imap_privacy="{tag} BAD Command received in Invalid state.",
    imap_failed="NO LOGIN failed.",
    pop3_bad="-ERR Protocol error. 14",
    pop3_privacy="-ERR Command is not valid in this state.",
    pop3_failed="-ERR Logon failure: unknown user name or bad password.",
    pop3_bye="+OK Microsoft Exchange Server POP3 server signing off.",
)


@dataclass(frozen=True)
class _Mailbox:
    """What one lab IMAP or POP3 server serves: fixed when the handler is made."""

    banner: str
    style: _Style
    tls_context: ssl.SSLContext | None  # STARTTLS/STLS on offer
    implicit_tls: bool
    plaintext_login: bool

    def logins(self, tls_active: bool) -> bool:
        """Whether a password may be sent in this state of the connection."""
        return tls_active or self.plaintext_login

    def mechanisms(self, tls_active: bool) -> tuple[str, ...]:
        style = self.style
        return style.mechanisms if self.logins(tls_active) else style.mechanisms_before_tls

    def imap_capabilities(self, tls_active: bool) -> str:
        words = self.style.imap_capabilities.split()
        if self.tls_context is not None and not tls_active:
            words.append("STARTTLS")
        if not self.logins(tls_active):
            words.append("LOGINDISABLED")
        words += [f"AUTH={m}" for m in self.mechanisms(tls_active)]
        return " ".join(words)

    def pop3_capabilities(self, tls_active: bool) -> list[str]:
        lines = list(self.style.pop3_capabilities)
        if self.tls_context is not None and not tls_active:
            lines.append("STLS")
        if self.logins(tls_active):
            lines.append("USER")
        lines.append(" ".join(["SASL", *self.mechanisms(tls_active)]))
        return lines


def mailbox_handler(
    service: Service, host: Host, ctx: LabContext, tls_context: ssl.SSLContext | None
) -> Handler:
    """The connection handler for an IMAP or POP3 service of a lab host. STARTTLS (STLS) is
    offered when the service asks for it; an imaps/pop3s handler is served inside TLS."""
    if service.kind not in IMAP_KINDS | POP3_KINDS:
        raise ValueError(f"mailbox_handler cannot serve a {service.kind} service")
    banner = service.banner if service.banner is not None else DEFAULT_BANNER
    server = _Mailbox(
        banner=banner,
        style=_EXCHANGE if "Microsoft Exchange" in banner else _DOVECOT,
        tls_context=tls_context if service.starttls else None,
        implicit_tls=service.kind in IMPLICIT_TLS_KINDS,
        plaintext_login=service.plaintext_login,
    )
    converse = _imap if service.kind in IMAP_KINDS else _pop3

    async def session(s: Session) -> None:
        await converse(server, s)

    return serve(session, idle_timeout_for(ctx))


async def _read(s: Session) -> str:
    line = await s.read_line()
    if len(line) > MAX_LINE:
        raise ProtocolViolation("command line too long")
    return line.decode("utf-8", "replace").rstrip("\r\n")


async def _start_tls(server: _Mailbox, s: Session, ready: bytes) -> None:
    """Say `ready`, then upgrade this connection, as `lab.mail` does for SMTP."""
    assert server.tls_context is not None
    pending = getattr(s.reader, "_buffer", None)  # pipelined plaintext must not leak into TLS
    if isinstance(pending, bytearray):
        pending.clear()
    s.writer.write(ready)  # no await before start_tls: the ClientHello must not be read here
    try:
        await s.writer.start_tls(server.tls_context, ssl_handshake_timeout=s.idle_timeout)
    except (OSError, TimeoutError) as exc:
        raise ProtocolViolation("TLS handshake failed") from exc


# ---------------------------------------------------------------- IMAP


async def _imap(server: _Mailbox, s: Session) -> None:
    tls_active = server.implicit_tls
    code = f"[CAPABILITY {server.imap_capabilities(tls_active)}] "
    greeting = f"* OK {code if server.style.capability_in_greeting else ''}{server.banner}"
    await s.send(f"{greeting}\r\n".encode())
    bad = 0
    for _ in range(MAX_COMMANDS):
        try:
            line = await _read(s)
        except TimeoutError:
            await s.send(b"* BYE Disconnected for inactivity.\r\n")
            return
        tag, _, rest = line.partition(" ")
        verb = rest.split(" ", 1)[0].upper()
        if not tag or not verb:
            bad += 1
            await s.send(f"{tag or '*'} {server.style.imap_bad}\r\n".encode())
        elif verb == "LOGOUT":
            await s.send(f"* BYE Logging out\r\n{tag} OK Logout completed.\r\n".encode())
            return
        elif verb == "STARTTLS" and server.tls_context is not None and not tls_active:
            await _start_tls(server, s, f"{tag} OK Begin TLS negotiation now.\r\n".encode())
            tls_active = True
        else:
            reply, ok = _imap_reply(server, tls_active, tag, verb)
            bad += not ok
            await s.send(reply.encode())
        if bad >= MAX_BAD_COMMANDS:
            await s.send(b"* BYE Too many invalid IMAP commands.\r\n")
            return


def _imap_reply(server: _Mailbox, tls_active: bool, tag: str, verb: str) -> tuple[str, bool]:
    """The answer to one command before login, and whether it was a valid one."""
    style = server.style
    if verb == "CAPABILITY":
        capabilities = server.imap_capabilities(tls_active)
        listed = f"{tag} OK {style.capabilities_listed}"
        return f"* CAPABILITY {capabilities}\r\n{listed}\r\n", True
    if verb == "NOOP":
        return f"{tag} OK NOOP completed.\r\n", True
    if verb == "ID":
        return f'* ID ("name" "{server.banner.split()[0]}")\r\n{tag} OK ID completed.\r\n', True
    if verb in ("LOGIN", "AUTHENTICATE") and not server.logins(tls_active):
        return style.imap_privacy.format(tag=tag) + "\r\n", True
    if verb in ("LOGIN", "AUTHENTICATE"):
        return f"{tag} {style.imap_failed}\r\n", True
    return f"{tag} {style.imap_bad}\r\n", False


# ---------------------------------------------------------------- POP3


async def _pop3(server: _Mailbox, s: Session) -> None:
    tls_active = server.implicit_tls
    await s.send(f"+OK {server.banner}\r\n".encode())
    bad = 0
    for _ in range(MAX_COMMANDS):
        try:
            line = await _read(s)
        except TimeoutError:
            await s.send(b"-ERR Disconnected for inactivity.\r\n")
            return
        verb = line.split(" ", 1)[0].upper()
        if verb == "QUIT":
            await s.send(f"{server.style.pop3_bye}\r\n".encode())
            return
        if verb == "STLS" and server.tls_context is not None and not tls_active:
            await _start_tls(server, s, b"+OK Begin TLS negotiation now.\r\n")
            tls_active = True
            continue
        reply, ok = _pop3_reply(server, tls_active, verb)
        bad += not ok
        await s.send(reply.encode())
        if bad >= MAX_BAD_COMMANDS:
            await s.send(b"-ERR Too many bad commands.\r\n")
            return


def _pop3_reply(server: _Mailbox, tls_active: bool, verb: str) -> tuple[str, bool]:
    style = server.style
    if verb == "CAPA":
        lines = "".join(f"{line}\r\n" for line in server.pop3_capabilities(tls_active))
        return f"+OK\r\n{lines}.\r\n", True
    if verb == "NOOP":
        return "+OK\r\n", True
    if not server.logins(tls_active) and verb in ("USER", "PASS", "AUTH", "APOP"):
        return f"{style.pop3_privacy}\r\n", True
    if verb == "USER":  # any name: the password is what fails
        return "+OK\r\n", True
    if verb in ("PASS", "AUTH", "APOP"):
        return f"{style.pop3_failed}\r\n", True
    return f"{style.pop3_bad}\r\n", False
