"""SMTP user enumeration: do VRFY and EXPN tell an existing mailbox from a missing one?

One job per SMTP service, `users`, on one connection: after the greeting and EHLO, each of
VRFY and EXPN is asked about `postmaster` (RFC 5321 section 4.5.1: every mail domain must
have it) and about a random local part no server has. What the two answers say (the
reasoning of nmap's smtp-enum-users):

- `enumerates`: postmaster is confirmed (2xx) and the random name is denied as unknown
  (550, 551 or 553). Anyone can test names one by one (Postfix's default, Sendmail's).
- `uniform`: both get the same kind of answer, so nothing is learnt: 252 "cannot verify,
  but will accept" for everything (Exim, Exchange), or a refusal for both.
- `disabled`: the command is not offered (500, 502, 504) or needs a login (530), as with
  Postfix's `disable_vrfy_command = yes`.
- `inconclusive`: any other pair, such as a temporary failure (4xx).

No mail is sent and no RCPT is issued: the two questions per command are all.
"""

from __future__ import annotations

import asyncio
import secrets
from collections.abc import Iterator
from typing import ClassVar

from utsyn.scan.family import ScanContext
from utsyn.scan.mail.mailproto import MailProtocolError, Stream, ehlo, smtp_reply
from utsyn.scan.model import Job, Observation, ServiceTarget, Target, excerpt, failed, observe

COMMANDS = ("VRFY", "EXPN")
KNOWN_USER = "postmaster"
_DISABLED = frozenset({500, 502, 504, 530})
_NO_SUCH_USER = frozenset({550, 551, 553})


def user_check(known: int, unknown: int) -> str:
    """What the answers to a real and a made-up name say (see the module documentation)."""
    if known in _DISABLED:
        return "disabled"
    if 200 <= known < 300 and unknown in _NO_SUCH_USER:
        return "enumerates"
    if known == unknown or (known // 100 == 5 and unknown // 100 == 5):
        return "uniform"
    return "inconclusive"


def random_user() -> str:
    """A local part no mailbox has: "utsyn-" and 40 random bits."""
    return f"utsyn-{secrets.token_hex(5)}"


class SmtpFamily:
    family: ClassVar[str] = "smtp"

    def jobs(self, target: Target) -> Iterator[Job]:
        if isinstance(target, ServiceTarget) and target.protocol == "smtp":
            yield Job(self.family, "users", target)

    async def run(self, job: Job, scan: ScanContext) -> list[Observation]:
        """One connection. Connect failures propagate: the engine retries and reports them."""
        target = job.target
        if not isinstance(target, ServiceTarget):
            raise TypeError(f"an SMTP job needs a service, not {target!r}")
        async with scan.net.tcp(target.ip, target.port, name=target.host) as (reader, writer):
            stream = Stream(reader, writer, scan.net)
            try:
                # Each reply has its timeout; a server dripping lines must not add them up.
                async with asyncio.timeout(scan.net.timeouts.read * 3):
                    return await _users(target, stream)
            except TimeoutError:
                reason = "timeout: the server did not answer in time"
            except MailProtocolError as exc:
                reason = str(exc)
            except (OSError, asyncio.IncompleteReadError) as exc:
                reason = f"connection lost: {type(exc).__name__}"
        return [failed(target, f"smtp.{c.lower()}", reason, job.name) for c in COMMANDS]


async def _users(target: ServiceTarget, stream: Stream) -> list[Observation]:
    await ehlo(stream)
    unknown = random_user()
    out = []
    for command in COMMANDS:
        known_code, known_text = await _ask(stream, f"{command} {KNOWN_USER}")
        unknown_code, unknown_text = await _ask(stream, f"{command} {unknown}")
        value = user_check(known_code, unknown_code)
        evidence = (
            f"{command} {KNOWN_USER} → {known_code} {known_text}; "
            f"{command} {unknown} → {unknown_code} {unknown_text}"
        )
        out.append(observe(target, f"smtp.{command.lower()}", value, "users", evidence))
    stream.writer.write(b"QUIT\r\n")
    return out


async def _ask(stream: Stream, command: str) -> tuple[int, str]:
    await stream.send(command)
    code, lines = await smtp_reply(stream)
    return code, excerpt(" ".join(lines), 200)
