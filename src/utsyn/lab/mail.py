"""The lab's SMTP server: greets, negotiates and refuses like Postfix, Exim or Exchange.

It accepts mail for the domains its host is responsible for and throws it away; it never
relays and never delivers. What a scanner can observe is real: the 220 banner, the EHLO
capabilities, a STARTTLS upgrade on the same connection with the lab certificate, the
relay refusal, and the 421 a real MTA sends on idleness or too many errors.

As a submission server (587 with STARTTLS, 465 inside TLS; RFC 6409, RFC 8314) it offers
AUTH once TLS is on, and before it only when the manifest's `plaintext_login` says so
(Postfix `smtpd_tls_auth_only = no`); every login fails, and nothing is accepted from a
client that has not logged in.
"""

from __future__ import annotations

import re
import secrets
import ssl
import string
from collections.abc import Callable
from dataclasses import dataclass, field

from utsyn.lab.context import Handler, LabContext
from utsyn.lab.manifest import IMPLICIT_TLS_KINDS, SMTP_KINDS, Host, Service, ServiceKind
from utsyn.lab.session import ProtocolViolation, Session, idle_timeout_for, reply_line, serve

# Postfix's line_length_limit: longer command lines are refused.
MAX_COMMAND_LINE = 2048
# Postfix's smtpd_hard_error_limit: the error count at which the server hangs up.
MAX_ERRORS = 20
MAX_RECIPIENTS = 100
MAX_COMMANDS = 1000
# Everything one connection may send, DATA included.
MAX_SESSION_BYTES = 64 << 20

_BASE62 = string.digits + string.ascii_letters
# Mailboxes every lab MTA has (RFC 2142 role addresses and root).
KNOWN_USERS = frozenset({"postmaster", "abuse", "hostmaster", "webmaster", "root"})


def default_smtp_banner(host: Host) -> str:
    """The greeting text of a stock Debian Postfix on `host`."""
    return f"{host.name} ESMTP Postfix (Debian/GNU)"


@dataclass(frozen=True)
class _Dialect:
    """Where the MTAs differ in what a client sees; the rest is Postfix wording."""

    hello: str  # first EHLO line: {host}, {helo}, {ip}
    extensions: tuple[str, ...]  # "STARTTLS" is dropped when TLS is not on offer
    size_limit: int
    relay_denied: str  # {rcpt}
    unknown: str
    queued: str  # {qid}
    new_queue_id: Callable[[], str]
    bye: str
    too_many_errors: str  # {host}
    timeout: str  # {host}
    # SASL mechanisms offered where passwords may be sent, and those offered before TLS
    # where they may not (Exchange's NTLM sends no password).
    auth: str = "PLAIN LOGIN"
    auth_before_tls: str = ""
    anonymous_submission: str = "554 5.7.1 <{rcpt}>: Recipient address rejected: Access denied"


def _postfix_id() -> str:
    return secrets.token_hex(5).upper()


def _exim_id() -> str:
    def chunk(n: int) -> str:
        return "".join(secrets.choice(_BASE62) for _ in range(n))

    return f"{chunk(6)}-{chunk(6)}-{chunk(2)}"


_POSTFIX = _Dialect(
    hello="{host}",
    extensions=(
        "PIPELINING",
        "SIZE 10240000",
        "VRFY",
        "STARTTLS",
        "ENHANCEDSTATUSCODES",
        "8BITMIME",
        "DSN",
        "SMTPUTF8",
    ),
    size_limit=10240000,
    relay_denied="554 5.7.1 <{rcpt}>: Relay access denied",
    unknown="502 5.5.2 Error: command not recognized",
    queued="250 2.0.0 Ok: queued as {qid}",
    new_queue_id=_postfix_id,
    bye="221 2.0.0 Bye",
    too_many_errors="421 4.7.0 {host} Error: too many errors",
    timeout="421 4.4.2 {host} Error: timeout exceeded",
)
_EXIM = _Dialect(
    hello="{host} Hello {helo} [{ip}]",
    extensions=("SIZE 52428800", "8BITMIME", "PIPELINING", "STARTTLS", "HELP"),
    size_limit=52428800,
    relay_denied="550 relay not permitted",
    unknown="500 unrecognized command",
    queued="250 OK id={qid}",
    new_queue_id=_exim_id,
    bye="221 {host} closing connection",
    too_many_errors="421 {host} too many unrecognized commands",
    timeout="421 {host} SMTP incoming data timeout - closing connection.",
)
_EXCHANGE = _Dialect(
    hello="{host} Hello [{ip}]",
    extensions=(
        "SIZE 37748736",
        "PIPELINING",
        "DSN",
        "ENHANCEDSTATUSCODES",
        "STARTTLS",
        "8BITMIME",
        "SMTPUTF8",
    ),
    size_limit=37748736,
    relay_denied="550 5.7.54 SMTP; Unable to relay recipient in non-accepted domain",
    unknown="500 5.3.3 Unrecognized command 'unknown'",
    queued="250 2.6.0 <{qid}@exchange> Queued mail for delivery",
    new_queue_id=_postfix_id,
    bye="221 2.0.0 Service closing transmission channel",
    too_many_errors="421 4.7.0 Too many errors on this connection, closing transmission channel",
    timeout="421 4.4.1 Connection timed out",
    auth="NTLM LOGIN",
    auth_before_tls="NTLM",
    anonymous_submission="530 5.7.57 Client was not authenticated to send anonymous mail",
)


def _dialect(greeting: str) -> _Dialect:
    if "Exim" in greeting:
        return _EXIM
    if "Microsoft" in greeting:
        return _EXCHANGE
    return _POSTFIX


def accepted_domains(host: Host, ctx: LabContext) -> frozenset[str]:
    """Domains this MTA takes mail for: its organisation's zones, zones naming it as MX,
    and its own names. Anything else is relaying, which it refuses."""
    names = {host.name, *host.aliases}
    domains = set(names)
    for org in ctx.manifest.organisations:
        for domain in org.domains:
            if host in org.hosts or names & set(domain.mx):
                domains.add(domain.name)
    return frozenset(domains)


_MAIL_FROM = re.compile(r"FROM:\s*<([^<>\s]*)>(?:\s+(.*))?", re.IGNORECASE)
_RCPT_TO = re.compile(r"TO:\s*<([^<>\s]+)>(?:\s+.*)?", re.IGNORECASE)


@dataclass
class _Conversation:
    """The state of one SMTP connection."""

    greeted: bool = False
    tls_active: bool = False
    authenticated: bool = False  # never: every login fails
    sender: str | None = None
    recipients: list[str] = field(default_factory=list)
    errors: int = 0

    def reset(self) -> None:
        self.sender = None
        self.recipients.clear()


@dataclass(frozen=True)
class _Mta:
    """What one lab MTA serves: fixed when the handler is made."""

    name: str
    greeting: str
    dialect: _Dialect
    domains: frozenset[str]
    tls_context: ssl.SSLContext | None
    vrfy: str = "uniform"
    expn: str = "disabled"
    submission: bool = False  # users' submission: AUTH once TLS is on
    implicit_tls: bool = False  # served inside TLS from the first byte (465)
    plaintext_login: bool = False  # AUTH before TLS too

    def mechanisms(self, tls_active: bool) -> str:
        """The AUTH mechanisms offered in this state ("": no AUTH)."""
        if self.plaintext_login:
            return self.dialect.auth
        if not self.submission:
            return ""  # a server for other servers: no AUTH at all
        return self.dialect.auth if tls_active else self.dialect.auth_before_tls

    def ehlo(self, helo: str, ip: str, tls_active: bool) -> str:
        offered = self.tls_context is not None and not tls_active
        extensions: list[str] = []
        for extension in self.dialect.extensions:
            if extension == "STARTTLS":  # AUTH follows it, as Postfix and Exchange list them
                extensions += ["STARTTLS"] if offered else []
                mechanisms = self.mechanisms(tls_active)
                extensions += [f"AUTH {mechanisms}"] if mechanisms else []
            elif extension != "VRFY" or self.vrfy != "disabled":  # Postfix stops announcing it
                extensions.append(extension)
        first = self.dialect.hello.format(host=self.name, helo=helo, ip=ip)
        lines = [first, *extensions]
        return "\r\n".join(
            f"250{'-' if i < len(lines) - 1 else ' '}{t}" for i, t in enumerate(lines)
        )


def smtp_handler(
    service: Service,
    host: Host,
    ctx: LabContext,
    tls_context: ssl.SSLContext | None,
    *,
    idle_timeout: float | None = None,
) -> Handler:
    """The connection handler for an SMTP service of a lab host.

    STARTTLS is offered only when the service asks for it and `tls_context` is given.
    The idle timeout is `idle_timeout`, else `ctx.extra["idle_timeout"]`, else IDLE_TIMEOUT.
    """
    if service.kind not in SMTP_KINDS:
        raise ValueError(f"smtp_handler cannot serve a {service.kind} service")
    banner = service.banner if service.banner is not None else default_smtp_banner(host)
    greeting = reply_line(220, banner)
    mta = _Mta(
        name=host.name,
        greeting=greeting,
        dialect=_dialect(greeting),
        domains=accepted_domains(host, ctx),
        tls_context=tls_context if service.starttls else None,
        vrfy=service.vrfy,
        expn=service.expn,
        submission=service.kind != ServiceKind.SMTP,
        implicit_tls=service.kind in IMPLICIT_TLS_KINDS,
        plaintext_login=service.plaintext_login,
    )

    async def session(s: Session) -> None:
        await _converse(mta, s)

    return serve(session, idle_timeout_for(ctx, idle_timeout), MAX_SESSION_BYTES)


async def _converse(mta: _Mta, s: Session) -> None:
    await s.send(f"{mta.greeting}\r\n".encode())
    state = _Conversation(tls_active=mta.implicit_tls)
    for _ in range(MAX_COMMANDS):
        try:
            reply = await _next_reply(mta, s, state)
        except TimeoutError:  # the client went quiet, between commands or inside DATA
            await s.send(mta.dialect.timeout.format(host=mta.name).encode() + b"\r\n")
            return
        if reply is None:
            return
        if reply[:1] in ("4", "5"):
            state.errors += 1
        if state.errors >= MAX_ERRORS:
            closing = mta.dialect.too_many_errors.format(host=mta.name)
            await s.send(f"{reply}\r\n{closing}\r\n".encode())
            return
        if reply:
            await s.send(f"{reply}\r\n".encode())
    await s.send(mta.dialect.too_many_errors.format(host=mta.name).encode() + b"\r\n")


async def _next_reply(mta: _Mta, s: Session, state: _Conversation) -> str | None:
    line = await s.read_line()
    if len(line) > MAX_COMMAND_LINE:
        return "500 5.5.0 Error: line too long"
    return await _command(mta, s, state, line.decode("utf-8", "replace").rstrip("\r\n"))


async def _command(mta: _Mta, s: Session, state: _Conversation, command: str) -> str | None:
    """The reply to one command line; None when the connection is to be closed."""
    verb, _, arg = command.strip().partition(" ")
    verb = verb.upper()
    arg = arg.strip()
    if verb in ("EHLO", "HELO"):
        if not arg:
            return f"501 Syntax: {verb} hostname"
        state.greeted = True
        state.reset()
        return mta.ehlo(arg, s.peer_ip, state.tls_active) if verb == "EHLO" else f"250 {mta.name}"
    if verb == "STARTTLS":
        return await _starttls(mta, s, state)
    if verb == "QUIT":
        await s.send(mta.dialect.bye.format(host=mta.name).encode() + b"\r\n")
        return None
    if verb in ("NOOP", "RSET"):
        if verb == "RSET":
            state.reset()
        return "250 2.0.0 Ok"
    if verb == "MAIL":
        return _mail(mta, state, arg)
    if verb == "RCPT":
        return _rcpt(mta, state, arg)
    if verb == "DATA":
        return await _data(mta, s, state)
    if verb == "AUTH":
        return await _auth(mta, s, state, arg)
    return _other(mta, verb, arg)


def _other(mta: _Mta, verb: str, arg: str) -> str:
    if not verb:
        return "500 5.5.2 Error: bad syntax"
    if verb == "VRFY":
        return _vrfy(mta, arg)
    if verb == "EXPN" and mta.expn == "enumerates":
        return _expn(mta, arg)
    return mta.dialect.unknown


def _vrfy(mta: _Mta, arg: str) -> str:
    """Postfix's answers: 252 without checking ("uniform"), or 252 for a known mailbox and
    550 for an unknown one when the recipient table is consulted ("enumerates")."""
    if mta.vrfy == "disabled":
        return "502 5.5.1 VRFY command is disabled"
    if not arg:
        return "501 5.5.4 Syntax: VRFY address"
    if mta.vrfy == "uniform" or _known(mta, arg):
        return f"252 2.0.0 {arg}"
    return f"550 5.1.1 <{arg}>: Recipient address rejected: User unknown in local recipient table"


def _expn(mta: _Mta, arg: str) -> str:
    """Sendmail's answers: the expansion of a known name, "User unknown" for others."""
    if not arg:
        return "501 5.5.2 Argument required"
    local = arg.strip("<>").partition("@")[0]
    if _known(mta, arg):
        return f"250 2.1.5 <{local}@{mta.name}>"
    return f"550 5.1.1 {arg}... User unknown"


def _known(mta: _Mta, arg: str) -> bool:
    local, at, domain = arg.strip("<>").partition("@")
    if at and domain.lower().rstrip(".") not in mta.domains:
        return False
    return local.lower() in KNOWN_USERS


# SASL LOGIN's prompts, "Username:" and "Password:" in base64.
_LOGIN_PROMPTS = ("334 VXNlcm5hbWU6", "334 UGFzc3dvcmQ6")


async def _auth(mta: _Mta, s: Session, state: _Conversation, arg: str) -> str:
    """Postfix's answers to AUTH (RFC 4954): the exchange runs its course, then fails."""
    offered = mta.mechanisms(state.tls_active).split()
    if not offered:
        return "503 5.5.1 Error: authentication not enabled"
    if not state.greeted:
        return "503 5.5.1 Error: send HELO/EHLO first"
    mechanism, _, initial = arg.partition(" ")
    if mechanism.upper() not in offered:
        return "535 5.7.8 Error: authentication failed: Invalid authentication mechanism"
    prompts = _LOGIN_PROMPTS if mechanism.upper() == "LOGIN" else ("334 ",)
    for prompt in prompts[1:] if initial else prompts:
        await s.send(f"{prompt}\r\n".encode())
        if (await s.read_line()).strip() == b"*":
            return "501 5.7.0 Authentication aborted"
    return "535 5.7.8 Error: authentication failed: authentication failure"


async def _starttls(mta: _Mta, s: Session, state: _Conversation) -> str | None:
    if mta.tls_context is None:
        return mta.dialect.unknown
    if state.tls_active:
        return "554 5.5.1 Error: TLS already active"
    # Commands pipelined behind STARTTLS arrived in plaintext and must not be run inside the
    # TLS session (CVE-2011-0411). asyncio keeps them in the reader's buffer, which has no
    # public API, so it is emptied directly, as Postfix discards its input buffer.
    pending = getattr(s.reader, "_buffer", None)
    if isinstance(pending, bytearray):
        pending.clear()
    # No await between the 220 and start_tls: while the loop ran other tasks the client's
    # ClientHello could land in the plaintext reader, and the handshake would then stall.
    s.writer.write(b"220 2.0.0 Ready to start TLS\r\n")
    try:
        await s.writer.start_tls(mta.tls_context, ssl_handshake_timeout=s.idle_timeout)
    except (OSError, TimeoutError) as exc:  # no usable channel is left to say 421 on
        raise ProtocolViolation("TLS handshake failed") from exc
    state.tls_active = True
    state.greeted = False  # RFC 3207: the client must say EHLO again
    state.reset()
    return ""


def _mail(mta: _Mta, state: _Conversation, arg: str) -> str:
    if not state.greeted:
        return "503 5.5.1 Error: send HELO/EHLO first"
    if state.sender is not None:
        return "503 5.5.1 Error: nested MAIL command"
    match = _MAIL_FROM.fullmatch(arg)
    if match is None:
        return "501 5.5.4 Syntax: MAIL FROM:<address>"
    size = re.search(r"\bSIZE=(\d+)", match[2] or "", re.IGNORECASE)
    if size and int(size[1]) > mta.dialect.size_limit:
        return "552 5.3.4 Message size exceeds fixed limit"
    state.sender = match[1]
    return "250 2.1.0 Ok"


def _rcpt(mta: _Mta, state: _Conversation, arg: str) -> str:
    if state.sender is None:
        return "503 5.5.1 Error: need MAIL command"
    match = _RCPT_TO.fullmatch(arg)
    if match is None:
        return "501 5.5.4 Syntax: RCPT TO:<address>"
    if len(state.recipients) >= MAX_RECIPIENTS:
        return "452 4.5.3 Error: too many recipients"
    recipient = match[1]
    if mta.submission and not state.authenticated:
        return mta.dialect.anonymous_submission.format(rcpt=recipient)
    local, at, domain = recipient.rpartition("@")
    if not at:  # RFC 5321 4.5.1: <postmaster> without a domain must be accepted
        if recipient.lower() != "postmaster":
            return f"501 5.1.3 <{recipient}>: Bad recipient address syntax"
    elif not local or domain.lower().rstrip(".") not in mta.domains:
        return mta.dialect.relay_denied.format(rcpt=recipient)
    state.recipients.append(recipient)
    return "250 2.1.5 Ok"


async def _data(mta: _Mta, s: Session, state: _Conversation) -> str:
    if state.sender is None:
        return "503 5.5.1 Error: need RCPT command"
    if not state.recipients:
        return "554 5.5.1 Error: no valid recipients"
    await s.send(b"354 End data with <CR><LF>.<CR><LF>\r\n")
    size = 0
    while (line := await s.read_line()) not in (b".\r\n", b".\n"):
        size += len(line)  # counted and dropped: the lab never delivers
    state.reset()
    if size > mta.dialect.size_limit:
        return "552 5.3.4 Error: message file too big"
    return mta.dialect.queued.format(qid=mta.dialect.new_queue_id())
