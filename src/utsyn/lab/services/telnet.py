"""Telnet: telnetd's option negotiation, the issue text, and login(1) refusing three times."""

from __future__ import annotations

import asyncio
import re

from utsyn.lab.context import LabContext
from utsyn.lab.manifest import Host, Service
from utsyn.lab.services.common import banner, short_name
from utsyn.lab.session import ProtocolViolation, Serve, Session

_IAC, _DONT, _DO, _WONT, _WILL, _SB, _SE = 255, 254, 253, 252, 251, 250, 240
# netkit/inetutils telnetd opens with DO TERMINAL-TYPE, TSPEED, XDISPLOC, NEW-ENVIRON and
# waits for the answers before login prints anything: that silence is what nmap matches.
_TELNETD_OPENING = bytes([_IAC, _DO, 24, _IAC, _DO, 32, _IAC, _DO, 35, _IAC, _DO, 39])
_TELNET_NEGOTIATION_WAIT = 1.0


def strip_telnet_commands(data: bytes) -> bytes:
    """The user's bytes with IAC option negotiation and subnegotiation removed."""
    out = bytearray()
    i = 0
    while i < len(data):
        byte = data[i]
        if byte != _IAC:
            out.append(byte)
            i += 1
        elif i + 1 < len(data) and data[i + 1] == _IAC:
            out.append(_IAC)
            i += 2
        elif i + 1 < len(data) and data[i + 1] in (_WILL, _WONT, _DO, _DONT):
            i += 3
        elif i + 1 < len(data) and data[i + 1] == _SB:
            end = data.find(bytes([_IAC, _SE]), i + 2)
            i = len(data) if end < 0 else end + 2
        else:
            i += 2
    return bytes(out)


async def _telnet_line(s: Session) -> bytes:
    """One typed line; clients end it with CR LF, CR NUL or LF."""
    typed = b""
    while not re.search(rb"[\r\n]", typed):
        typed += strip_telnet_commands(await s.read_some(256))
        if len(typed) > 256:
            raise ProtocolViolation("telnet line too long")
    return re.split(rb"[\r\n]", typed, maxsplit=1)[0]


def server(service: Service, host: Host, ctx: LabContext) -> Serve:
    issue = banner(service)
    prompt = f"{short_name(host)} login: ".encode()

    async def session(s: Session) -> None:
        await s.send(_TELNETD_OPENING)
        try:
            async with asyncio.timeout(min(_TELNET_NEGOTIATION_WAIT, s.idle_timeout)):
                await s.read_some()  # the client's WILL/WONT answers; their content is moot
        except TimeoutError:
            pass  # a client that does not negotiate still gets the prompt, as with telnetd
        await s.send(f"\r\n{issue}\r\n".encode() + prompt)
        for _ in range(3):  # login(1) gives up after three failed attempts
            await _telnet_line(s)
            await s.send(b"Password: ")
            await _telnet_line(s)
            await s.send(b"\r\nLogin incorrect\r\n" + prompt)

    return session
