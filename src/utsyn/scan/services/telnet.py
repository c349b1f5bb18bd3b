"""Telnet: the options it negotiates and the login banner it shows before the prompt."""

from __future__ import annotations

import re

from utsyn.scan.family import ScanContext
from utsyn.scan.model import ServiceTarget
from utsyn.scan.services.exchange import (
    LINE_LIMIT,
    Answer,
    ProtocolMismatch,
    connect,
    mismatch,
    read_quietly,
    text,
)

_IAC, _DONT, _DO, _WONT, _WILL, _SB, _SE = 255, 254, 253, 252, 251, 250, 240
_LOGIN_PROMPT = re.compile(rb"(?:login|username|user name|password)\s*:\s*$", re.I)


def telnet_split(data: bytes) -> tuple[bytes, bytes]:
    """(text, refusals): the printable text, and a WONT/DONT for every option asked.

    Refusing every option makes telnetd go straight to the login prompt.
    """
    printable, answer = bytearray(), bytearray()
    i = 0
    while i < len(data):
        byte = data[i]
        if byte != _IAC:
            printable.append(byte)
            i += 1
            continue
        verb = data[i + 1] if i + 1 < len(data) else None
        if verb in (_DO, _DONT, _WILL, _WONT) and i + 2 < len(data):
            if verb in (_DO, _WILL):
                answer += bytes([_IAC, _WONT if verb == _DO else _DONT, data[i + 2]])
            i += 3
        elif verb == _SB:
            end = data.find(bytes([_IAC, _SE]), i + 2)
            i = len(data) if end < 0 else end + 2
        else:
            i += 2
    return bytes(printable), bytes(answer)


async def probe(target: ServiceTarget, scan: ScanContext) -> Answer:
    async with connect(target, scan) as (reader, writer):
        received = b""
        while len(received) < LINE_LIMIT:
            chunk = await read_quietly(scan, reader, LINE_LIMIT - len(received), received)
            if not chunk:
                break
            received += chunk
            _, refusals = telnet_split(chunk)
            if refusals:
                writer.write(refusals)
            if _LOGIN_PROMPT.search(telnet_split(received)[0].rstrip()):
                break
    return _telnet_answer(received)


def _telnet_answer(received: bytes) -> Answer:
    printable, _ = telnet_split(received)
    negotiated = received.startswith(bytes([_IAC]))
    if not negotiated and not _LOGIN_PROMPT.search(printable.rstrip()):
        raise ProtocolMismatch(mismatch("Telnet negotiation or a login prompt", received))
    lines = [line.strip() for line in printable.replace(b"\r", b"\n").split(b"\n")]
    issue = [line for line in lines if line and not _LOGIN_PROMPT.search(line)]
    banner = text(b"\n".join(issue)) if issue else None
    details = {
        "negotiates_options": negotiated,
        "login_prompt": bool(_LOGIN_PROMPT.search(printable)),
    }
    return Answer("telnet", "telnet negotiation", banner, details, received)
