"""VNC: the RFB handshake offering VNC authentication, which then fails."""

from __future__ import annotations

import os
import re
import struct

from utsyn.lab.context import LabContext
from utsyn.lab.manifest import Host, Service
from utsyn.lab.services.common import banner
from utsyn.lab.session import Serve, Session

_VNC_AUTH = 2


def server(service: Service, host: Host, ctx: LabContext) -> Serve:
    server_version = banner(service).rstrip("\n")

    async def session(s: Session) -> None:
        await s.send(server_version.encode() + b"\n")
        client = await s.read_exactly(12)
        if not re.fullmatch(rb"RFB \d{3}\.\d{3}\n", client):
            return
        minor = min(int(client[8:11]), int(server_version[8:11] or 3))
        if minor < 7:  # RFB 3.3: the server chooses the security type
            await s.send(struct.pack(">I", _VNC_AUTH) + os.urandom(16))
        else:
            await s.send(bytes([1, _VNC_AUTH]))
            if (await s.read_exactly(1))[0] != _VNC_AUTH:
                return
            await s.send(os.urandom(16))  # the DES challenge
        await s.read_exactly(16)
        reason = b"Authentication failure" if minor >= 8 else b""
        tail = struct.pack(">I", len(reason)) + reason if reason else b""
        await s.send(struct.pack(">I", 1) + tail)

    return session
