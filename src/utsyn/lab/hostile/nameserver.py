"""The hostile name server: answers for `hostile.test` that truncate for ever or carry huge
TXT records, and relays every other question to a normal lab's name server."""

from __future__ import annotations

import asyncio
import struct
from typing import Any, cast

import dns.asyncquery
import dns.exception
import dns.flags
import dns.message
import dns.rcode
import dns.rdataclass
import dns.rdatatype
import dns.rdtypes.ANY.TXT
import dns.rrset

from utsyn.lab.hostile.behaviours import NASTY, send

ZONE = "hostile.test"
HOSTILE_ZONES = (f"truncated.{ZONE}", f"hugetxt.{ZONE}")


# ---------------------------------------------------------------- DNS


def _huge_txt(prefix: bytes) -> list[bytes]:
    """About 50 KB of TXT strings: a plausible start, then markup, escapes and NULs."""
    return [prefix + NASTY] + [(NASTY * 12)[:255]] * 200


class HostileDns:
    """Answers for `hostile.test`; relays everything else to a normal lab's name server.

    With `always_truncate`, every question gets the truncation treatment (the server on a
    scanned host's port 53, for the open-resolver probe).
    """

    def __init__(
        self, hosts: dict[str, str], upstream: tuple[str, int], always_truncate: bool = False
    ) -> None:
        self.hosts = hosts
        self.upstream = upstream
        self.always_truncate = always_truncate

    def _truncates(self, name: str) -> bool:
        return self.always_truncate or name.endswith(f"truncated.{ZONE}")

    async def answer_udp(self, wire: bytes) -> bytes | None:
        query = dns.message.from_wire(wire)
        name = query.question[0].name.to_text().rstrip(".").lower()
        if self._truncates(name):
            response = dns.message.make_response(query)
            response.flags |= dns.flags.TC
            return bytes(response.to_wire())
        return await self._answer(query, name, tcp=False)

    async def _answer(self, query: Any, name: str, tcp: bool) -> bytes | None:
        if name == ZONE or name.endswith("." + ZONE):
            response = dns.message.make_response(query)
            rdtype = query.question[0].rdtype
            owner = query.question[0].name
            if rdtype == dns.rdatatype.A and name in self.hosts:
                response.answer.append(dns.rrset.from_text(owner, 60, "IN", "A", self.hosts[name]))
            elif rdtype == dns.rdatatype.TXT and name.endswith(f"hugetxt.{ZONE}"):
                prefix = b"v=DMARC1; p=" if name.startswith("_dmarc.") else b"v=spf1 include:"
                rdata: Any = dns.rdtypes.ANY.TXT.TXT(
                    dns.rdataclass.IN, dns.rdatatype.TXT, _huge_txt(prefix)
                )
                response.answer.append(dns.rrset.from_rdata(owner, 60, rdata))
            elif name not in self.hosts and not name.endswith(HOSTILE_ZONES):
                response.set_rcode(dns.rcode.NXDOMAIN)
            # Sent whole over UDP too, whatever size the client said it takes.
            return bytes(response.to_wire(max_size=65535))
        try:
            if tcp:
                relayed = await dns.asyncquery.tcp(
                    query, self.upstream[0], timeout=3, port=self.upstream[1]
                )
            else:
                relayed = await dns.asyncquery.udp(
                    query, self.upstream[0], timeout=3, port=self.upstream[1]
                )
        except (dns.exception.DNSException, OSError):
            return None
        return bytes(relayed.to_wire(max_size=65535))

    async def serve_tcp(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        while size := await reader.readexactly(2):
            wire = await reader.readexactly(struct.unpack(">H", size)[0])
            query = dns.message.from_wire(wire)
            name = query.question[0].name.to_text().rstrip(".").lower()
            if self._truncates(name):
                # The promised 65535 bytes never all come: a byte every 50 ms, for ever.
                await send(writer, b"\xff\xff" + wire[:2])
                while True:
                    await asyncio.sleep(0.05)
                    await send(writer, b"\x00")
            answer = await self._answer(query, name, tcp=True)
            if answer is None:
                return
            await send(writer, struct.pack(">H", len(answer)) + answer)


class DnsDatagrams(asyncio.DatagramProtocol):
    def __init__(self, server: HostileDns, tasks: set[asyncio.Task[None]]) -> None:
        self.server = server
        self.tasks = tasks
        self.transport: asyncio.DatagramTransport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.DatagramTransport, transport)

    def datagram_received(self, data: bytes, addr: tuple[str, int]) -> None:
        task = asyncio.get_running_loop().create_task(self._reply(data, addr))
        self.tasks.add(task)
        task.add_done_callback(self.tasks.discard)

    async def _reply(self, data: bytes, addr: tuple[str, int]) -> None:
        try:
            answer = await self.server.answer_udp(data)
        except (dns.exception.DNSException, ValueError):
            return  # not a DNS query: ignored, as a real server would
        if answer is not None and self.transport is not None:
            self.transport.sendto(answer, addr)
