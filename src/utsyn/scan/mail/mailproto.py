"""The mail protocols up to TLS: greetings, what is offered before TLS, and STARTTLS.

SMTP (RFC 5321; STARTTLS RFC 3207), IMAP (RFC 9051 and RFC 3501; STARTTLS and
LOGINDISABLED) and POP3 (RFC 1939; CAPA RFC 2449; STLS RFC 2595) start in the clear and
may be upgraded to TLS on the same connection. The TLS family upgrades before its probes
(`upgrade`), the SMTP family says EHLO before VRFY (`ehlo`), and the TLS family's
`starttls` job reads what a server offers before TLS (`offer`): STARTTLS, and a password
login in the clear. Only what the server advertises is read (the EHLO reply, CAPABILITY,
CAPA): no user name and no password is ever sent.

A login in the clear, by protocol:

- SMTP: AUTH with PLAIN or LOGIN in the EHLO reply before TLS (RFC 4954 section 4 asks
  servers not to allow plaintext mechanisms without TLS).
- IMAP: no LOGINDISABLED, so LOGIN is allowed (RFC 9051 and RFC 3501 section 6.2.3), or
  AUTH=PLAIN / AUTH=LOGIN in the capabilities.
- POP3: USER in CAPA, so USER/PASS is allowed (RFC 2449 section 6.3), or PLAIN / LOGIN in
  its SASL line.

Challenge-response mechanisms (CRAM-MD5, SCRAM, NTLM, GSSAPI) do not send the password
itself and do not count. A POP3 server that answers no CAPA does not say: unknown.
"""

from __future__ import annotations

import asyncio
import re
from dataclasses import dataclass

from utsyn.errors import UtsynError
from utsyn.scan.guard import GuardedNet
from utsyn.scan.model import excerpt

# Protocols that start in the clear and upgrade with STARTTLS (or STLS).
STARTTLS_PROTOCOLS = frozenset({"smtp", "imap", "pop3"})
# The same protocols inside TLS from the first byte (RFC 8314): 465, 993 and 995.
IMPLICIT_TLS_PROTOCOLS = frozenset({"smtps", "imaps", "pop3s"})
CLEARTEXT_CHECK = "mail.cleartext_login"

# RFC 5321 4.1.1.1 wants the client's own name after EHLO; the scanner has no mail domain.
EHLO_NAME = "scanner.utsyn.invalid"
_MAX_LINES = 64
# SASL mechanisms that carry the password itself (RFC 4616 PLAIN; LOGIN, never an RFC).
_PLAINTEXT_MECHANISMS = frozenset({"PLAIN", "LOGIN"})


class MailProtocolError(UtsynError):
    """The server refused the session or did not speak the protocol expected. The message
    is stored as the probe's evidence, in English: not a catalogue id (tests/words.py)."""


@dataclass
class Stream:
    reader: asyncio.StreamReader
    writer: asyncio.StreamWriter
    net: GuardedNet

    async def line(self, protocol: str) -> str:
        """One line without its end; a close or an endless line is the server's refusal."""
        try:
            raw = await self.net.readline(self.reader)
        except ValueError as exc:  # longer than the stream's limit
            raise MailProtocolError(f"a {protocol} line is too long") from exc
        if not raw:
            raise MailProtocolError(f"the server closed the {protocol} session")
        return raw.decode("latin-1").rstrip("\r\n")

    async def send(self, command: str) -> None:
        self.writer.write(f"{command}\r\n".encode())
        await self.writer.drain()


@dataclass(frozen=True)
class Offer:
    """What a server offers before TLS, read from its capabilities."""

    starttls: bool
    cleartext_login: bool | None  # None: the server does not say (POP3 without CAPA)
    evidence: str


# ---------------------------------------------------------------- SMTP


async def smtp_reply(stream: Stream) -> tuple[int, list[str]]:
    """One (multi-line) SMTP reply: its code and the text of each line."""
    lines: list[str] = []
    for _ in range(_MAX_LINES):
        line = await stream.line("SMTP")
        if len(line) < 3 or not line[:3].isdigit() or line[3:4] not in ("", " ", "-"):
            raise MailProtocolError(f"not an SMTP reply: {excerpt(line, 120)}")
        lines.append(line[4:])
        if line[3:4] != "-":
            return int(line[:3]), lines
    raise MailProtocolError(f"an SMTP reply of more than {_MAX_LINES} lines")


async def smtp_command(stream: Stream, command: str, expected: int) -> list[str]:
    await stream.send(command)
    code, lines = await smtp_reply(stream)
    if code != expected:
        raise MailProtocolError(f"{command} answered {code} {excerpt(' '.join(lines), 200)}")
    return lines


async def ehlo(stream: Stream) -> list[str]:
    """The EHLO reply after the greeting: its first line, then one extension a line."""
    code, greeting = await smtp_reply(stream)
    if code != 220:
        raise MailProtocolError(f"the greeting was {code} {excerpt(' '.join(greeting), 200)}")
    return await smtp_command(stream, f"EHLO {EHLO_NAME}", 250)


def smtp_offer(extensions: list[str]) -> Offer:
    """STARTTLS and a plaintext AUTH mechanism among the EHLO extensions."""
    words = [line.upper().split() for line in extensions[1:]]
    starttls = any(w[:1] == ["STARTTLS"] for w in words)
    # "AUTH=LOGIN PLAIN" is the pre-RFC 4954 form some servers still send beside AUTH.
    mechanisms = {m for w in words if w[:1] in (["AUTH"], ["AUTH=LOGIN"]) for m in w[1:]}
    mechanisms |= {w[0].partition("=")[2] for w in words if w and w[0].startswith("AUTH=")}
    cleartext = bool(mechanisms & _PLAINTEXT_MECHANISMS)
    return Offer(starttls, cleartext, " | ".join(extensions))


# ---------------------------------------------------------------- IMAP

_IMAP_GREETING = re.compile(r"^\* (OK|PREAUTH)\b ?(.*)$", re.IGNORECASE)
_RESPONSE_CODE = re.compile(r"^\[[^\]]*\] ?")


def imap_text(line: str) -> str | None:
    """The text of an IMAP greeting without `* OK` and its response code; None if none."""
    found = _IMAP_GREETING.match(line)
    return _RESPONSE_CODE.sub("", found[2], count=1) if found else None


async def imap_greeting(stream: Stream) -> str:
    line = await stream.line("IMAP")
    if imap_text(line) is None:
        raise MailProtocolError(f"not an IMAP greeting: {excerpt(line, 120)}")
    return line


async def imap_command(stream: Stream, tag: str, command: str) -> list[str]:
    """The untagged lines of a command's answer; its tagged status must be OK."""
    await stream.send(f"{tag} {command}")
    untagged: list[str] = []
    for _ in range(_MAX_LINES):
        line = await stream.line("IMAP")
        if line.startswith(f"{tag} "):
            status = line[len(tag) + 1 :]
            if not status.upper().startswith("OK"):
                raise MailProtocolError(f"{command} answered {excerpt(status, 200)}")
            return untagged
        untagged.append(line)
    raise MailProtocolError(f"an IMAP answer of more than {_MAX_LINES} lines")


def imap_offer(greeting: str, untagged: list[str]) -> Offer:
    words = {
        word
        for line in untagged
        if line.upper().startswith("* CAPABILITY ")
        for word in line.upper().split()[2:]
    }
    if not words:
        raise MailProtocolError("CAPABILITY listed no capabilities")
    mechanisms = {w.partition("=")[2] for w in words if w.startswith("AUTH=")}
    cleartext = "LOGINDISABLED" not in words or bool(mechanisms & _PLAINTEXT_MECHANISMS)
    return Offer("STARTTLS" in words, cleartext, " | ".join([greeting, *untagged]))


# ---------------------------------------------------------------- POP3


def pop3_text(line: str) -> str | None:
    """The text of a POP3 greeting without `+OK`; None if it is not one."""
    return line[4:] if line[:3].upper() == "+OK" and line[3:4] in ("", " ") else None


async def pop3_greeting(stream: Stream) -> str:
    line = await stream.line("POP3")
    if pop3_text(line) is None:
        raise MailProtocolError(f"not a POP3 greeting: {excerpt(line, 120)}")
    return line


async def pop3_capa(stream: Stream) -> list[str] | None:
    """The CAPA list (RFC 2449), or None when the server answers -ERR."""
    await stream.send("CAPA")
    status = await stream.line("POP3")
    if status.startswith("-ERR"):
        return None
    if not status.startswith("+OK"):
        raise MailProtocolError(f"CAPA answered {excerpt(status, 120)}")
    lines: list[str] = []
    for _ in range(_MAX_LINES):
        line = await stream.line("POP3")
        if line == ".":
            return lines
        lines.append(line[1:] if line.startswith("..") else line)
    raise MailProtocolError(f"a CAPA list of more than {_MAX_LINES} lines")


def pop3_offer(greeting: str, capa: list[str] | None) -> Offer:
    if capa is None:
        return Offer(False, None, f"{greeting} | CAPA: -ERR")
    words = [line.upper().split() for line in capa]
    mechanisms = {m for w in words if w[:1] == ["SASL"] for m in w[1:]}
    cleartext = any(w == ["USER"] for w in words) or bool(mechanisms & _PLAINTEXT_MECHANISMS)
    starttls = any(w[:1] == ["STLS"] for w in words)
    return Offer(starttls, cleartext, " | ".join([greeting, "CAPA", *capa]))


# ---------------------------------------------------------------- the two entry points


async def offer(protocol: str, stream: Stream) -> Offer:
    """What the server offers before TLS; each reply has its timeout, and the whole
    exchange a bound, so that a server dripping lines cannot add them up."""
    async with asyncio.timeout(stream.net.timeouts.read * 3):
        return await _offer(protocol, stream)


async def _offer(protocol: str, stream: Stream) -> Offer:
    if protocol == "smtp":
        return smtp_offer(await ehlo(stream))
    if protocol == "imap":
        greeting = await imap_greeting(stream)
        return imap_offer(greeting, await imap_command(stream, "u1", "CAPABILITY"))
    if protocol == "pop3":
        greeting = await pop3_greeting(stream)
        return pop3_offer(greeting, await pop3_capa(stream))
    raise ValueError(f"{protocol} does not start in the clear")


async def upgrade(protocol: str, stream: Stream) -> bool:
    """Read the offer, then ask for TLS when it is offered; False when it is not. The
    server's TLS handshake is then the next thing on the stream."""
    async with asyncio.timeout(stream.net.timeouts.read * 3):
        if not (await _offer(protocol, stream)).starttls:
            return False
        if protocol == "smtp":
            await smtp_command(stream, "STARTTLS", 220)
        elif protocol == "imap":
            await imap_command(stream, "u2", "STARTTLS")
        else:
            await stream.send("STLS")
            answer = await stream.line("POP3")
            if not answer.startswith("+OK"):
                raise MailProtocolError(f"STLS answered {excerpt(answer, 120)}")
        return True


def greeting_protocol(line: str) -> str | None:
    """The mail protocol a greeting line belongs to: smtp, imap, pop3, or None."""
    if imap_text(line) is not None:
        return "imap"
    if pop3_text(line) is not None:
        return "pop3"
    if re.match(r"^220[ -]", line):
        return "smtp"
    return None


def greeting_text(protocol: str, line: str) -> str:
    """The banner of a greeting: the text after `220 `, `* OK [...]` or `+OK`."""
    text = {"imap": imap_text, "pop3": pop3_text}.get(protocol, lambda x: x[4:])(line)
    return (text or "").strip()
