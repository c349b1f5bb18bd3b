"""The hostile lab: servers built to misbehave, for proving that a scan survives them.

Each hostile host has its own loopback address and a name under `hostile.test`, served by a
hostile name server that relays every other question to a normal lab's name server, so one
scan (with the hostile name server as its resolver) covers hostile and normal hosts alike.

| host                     | ports      | behaviour                                              |
|--------------------------|------------|--------------------------------------------------------|
| tarpit.hostile.test      | 22 80 443  | accepts, reads, never answers                          |
| drip.hostile.test        | 22 25 80   | one byte per second, for ever                          |
| headers.hostile.test     | 80         | an endless response head                               |
| bigbody.hostile.test     | 80         | a 1 GiB body, generated as it is read                  |
| gzip-bomb.hostile.test   | 80         | 1 GiB of zeros, gzip-compressed to about 1 MiB         |
| deflate-bomb.hostile.test| 80         | the same as a zlib (deflate) stream                    |
| loop.hostile.test        | 80         | redirects to itself, back and forth                    |
| to-private.hostile.test  | 80         | redirects to http://10.0.0.1/ (out of any scan's scope)|
| to-doc.hostile.test      | 80         | redirects to http://192.0.2.1/                         |
| to-name.hostile.test     | 80         | redirects to a name that resolves to 10.0.0.2          |
| tls-garbage.hostile.test | 443        | answers a ClientHello with ANSI, HTML and binary junk  |
| tls-reset.hostile.test   | 443        | starts a record, then resets the connection            |
| tls-length.hostile.test  | 443        | records whose length fields lie                        |
| banners.hostile.test     | 21 22 25 80| HTML, JavaScript, ANSI escapes, NUL and invalid UTF-8  |
|                          | 110 143    | (also in IMAP and POP3 greetings and answers)          |
| dnsbomb.hostile.test     | 53         | truncates every UDP answer; TCP answers never end      |

Zones: `truncated.hostile.test` (every UDP answer truncated, TCP answers never end) and
`hugetxt.hostile.test` (TXT records of about 50 KB, with control bytes and markup in them).
Nothing is allocated in proportion to what is sent: bodies are repeated views of one block.
"""

from __future__ import annotations

import asyncio
import contextlib
import multiprocessing
import socket
import struct
import threading
import zlib
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import asdict, dataclass, field
from functools import cache
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any, cast

import dns.asyncquery
import dns.exception
import dns.flags
import dns.message
import dns.name
import dns.rcode
import dns.rdataclass
import dns.rdatatype
import dns.rdtypes.ANY.TXT
import dns.rrset

from utsyn.errors import LabError
from utsyn.lab.runtime import LabInfo, running_lab
from utsyn.lab.scenarios import load_scenario

Handler = Callable[[asyncio.StreamReader, asyncio.StreamWriter], Awaitable[None]]

ZONE = "hostile.test"
HOSTILE_NET = "127.120.250"  # beside a lab started with first_octet=120 (orgs < 250)
HOSTILE_DNS_IP = "127.56.0.2"  # beside that lab's name server on 127.56.0.1
OUT_OF_SCOPE = ("10.0.0.1", "192.0.2.1", "10.0.0.2")  # redirect targets no scan may reach
GIB = 1024**3
BLOCK = 64 * 1024
MAX_LIFETIME = 120.0  # no hostile connection outlives this, whatever the client does

# Every kind of hostile byte a stored string must not carry raw: HTML and JavaScript,
# ANSI escapes (colour, clear screen, window title), NUL, invalid UTF-8 (a lone byte, an
# encoded surrogate), Unicode bidi overrides.
NASTY = (
    b"<script>alert(1)</script><img src=x onerror=alert(2)>"
    b"\x1b[31m\x1b[2J\x1b]0;pwned\x07\x00\xff\xfe\xc3\x28\xed\xa0\x80"
    b"\xe2\x80\xae"
)


# ---------------------------------------------------------------- helpers


async def _discard_until_closed(reader: asyncio.StreamReader) -> None:
    while await reader.read(BLOCK):
        pass


async def _request(reader: asyncio.StreamReader) -> bytes:
    """One HTTP request head (or whatever the client sent first, up to 64 KiB)."""
    data = b""
    while b"\r\n\r\n" not in data and len(data) < BLOCK:
        chunk = await reader.read(BLOCK)
        if not chunk:
            break
        data += chunk
    return data


def _path(request: bytes) -> str:
    parts = request.split(b" ", 2)
    return parts[1].decode("latin-1") if len(parts) > 2 else "/"


async def _send(writer: asyncio.StreamWriter, data: bytes) -> None:
    writer.write(data)
    await writer.drain()


def _head(status: str, *fields: bytes) -> bytes:
    return (
        b"HTTP/1.1 " + status.encode() + b"\r\n" + b"".join(f + b"\r\n" for f in fields) + b"\r\n"
    )


# ---------------------------------------------------------------- TCP behaviours


async def tarpit(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    await _discard_until_closed(reader)


def drip(text: bytes) -> Handler:
    """`text`, then dots, one byte per second for ever (the client's patience is tested)."""

    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        index = 0
        while True:
            byte = text[index : index + 1] or b"."
            await _send(writer, byte)
            index += 1
            await asyncio.sleep(1.0)

    return handler


async def endless_headers(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    await _request(reader)
    await _send(writer, b"HTTP/1.1 200 OK\r\n")
    line = b"X-Hostile: " + b"a" * 1000 + b"\r\n"
    block = line * (BLOCK // len(line))
    sent = 0
    while sent < GIB:  # the client gives up long before; drain() waits while it does not read
        await _send(writer, block)
        sent += len(block)


async def big_body(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    await _request(reader)
    await _send(writer, _head("200 OK", b"Content-Type: text/html", b"Content-Length: %d" % GIB))
    block = memoryview(b"<p>" + b"x" * (BLOCK - 7) + b"</p>")
    sent = 0
    while sent < GIB:
        await _send(writer, bytes(block))
        sent += len(block)


@cache
def _deflated_zeros() -> tuple[bytes, int, int]:
    """1 GiB of zeros as a raw deflate stream (about 1 MiB), with its CRC-32 and Adler-32.

    Computed once and shared by both bombs; the zeros themselves are one reused block.
    """
    compressor = zlib.compressobj(9, zlib.DEFLATED, -zlib.MAX_WBITS)
    zeros = bytes(1024 * 1024)
    parts, crc, adler = [], 0, 1
    for _ in range(GIB // len(zeros)):
        parts.append(compressor.compress(zeros))
        crc = zlib.crc32(zeros, crc)
        adler = zlib.adler32(zeros, adler)
    parts.append(compressor.flush())
    return b"".join(parts), crc, adler


def gzip_bomb() -> bytes:
    raw, crc, _ = _deflated_zeros()
    header = b"\x1f\x8b\x08\x00\x00\x00\x00\x00\x02\xff"
    return header + raw + struct.pack("<II", crc, GIB & 0xFFFFFFFF)


def deflate_bomb() -> bytes:
    raw, _, adler = _deflated_zeros()
    return b"\x78\xda" + raw + struct.pack(">I", adler)


def bomb(coding: str) -> Handler:
    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        body = await asyncio.to_thread(gzip_bomb if coding == "gzip" else deflate_bomb)
        head = _head(
            "200 OK",
            b"Content-Type: text/html",
            b"Content-Encoding: " + coding.encode(),
            b"Content-Length: %d" % len(body),
        )
        while await _request(reader):  # a bomb for every request on the connection
            await _send(writer, head + body)

    return handler


def redirect(location: Callable[[str], str]) -> Handler:
    """Answers every request on a kept-alive connection with a redirect."""

    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        while request := await _request(reader):
            target = location(_path(request)).encode()
            await _send(writer, _head("301 Moved", b"Location: " + target, b"Content-Length: 0"))

    return handler


def _loop_location(path: str) -> str:
    return f"http://loop.{ZONE}/" + ("b" if path == "/a" else "a")


async def tls_garbage(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    await reader.read(BLOCK)  # the ClientHello
    await _send(writer, (b"HTTP/1.1 400 Bad\r\n" + NASTY + b"\r\n") * 20)
    await _discard_until_closed(reader)


async def tls_reset(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    await reader.read(BLOCK)
    await _send(writer, b"\x16\x03\x03\x00\x4a\x02\x00\x00")  # a ServerHello cut short
    sock = writer.get_extra_info("socket")
    if sock is not None:  # linger 0: close() sends RST instead of FIN
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    writer.transport.abort()


async def tls_lying_lengths(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    await reader.read(BLOCK)
    # A handshake record of 64 bytes whose ServerHello claims 16 MiB, then a record header
    # announcing 65535 bytes (more than TLS allows) followed by a few, then silence.
    server_hello = b"\x02\xff\xff\xff" + b"\x03\x03" + bytes(58)
    await _send(writer, b"\x16\x03\x03" + struct.pack(">H", len(server_hello)) + server_hello)
    await _send(writer, b"\x16\x03\x03\xff\xff" + NASTY)
    await _discard_until_closed(reader)


def greeting(first: bytes, replies: dict[bytes, bytes] | None = None) -> Handler:
    """Greets with `first`, then answers each line by its first word (or with NASTY)."""

    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await _send(writer, first)
        while line := await reader.readline():
            word = line.split(b" ", 1)[0].strip().upper()
            answer = (replies or {}).get(word, b"500 " + NASTY + b"\r\n")
            await _send(writer, answer)
            if word == b"STARTTLS":
                await _send(writer, NASTY * 10)  # "TLS" that is nothing of the kind
                return

    return handler


_EHLO = b"250-banners.hostile.test " + NASTY + b"\r\n250-STARTTLS\r\n250 SIZE 1000\r\n"
_SMTP_REPLIES = {b"EHLO": _EHLO, b"STARTTLS": b"220 go ahead\r\n", b"QUIT": b"221 bye\r\n"}
# IMAP answers by tag (the scanner's u1 and u2), POP3 by command.
_IMAP_REPLIES = {b"U1": b"* CAPABILITY " + NASTY + b"\r\nu1 BAD " + NASTY + b"\r\n"}
_POP3_REPLIES = {b"CAPA": b"-ERR " + NASTY + b"\r\n"}


async def nasty_page(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    while await _request(reader):
        body = (
            b"<html><head><title>" + NASTY + b"</title>"
            b'<meta name="generator" content="' + NASTY + b'">'
            b'<script src="https://cdn.example/' + NASTY + b'.js"></script>'
            b"</head><body>" + NASTY + b"</body></html>"
        )
        head = _head(
            "200 " + NASTY.decode("latin-1"),
            b"Server: " + NASTY,
            b"X-Powered-By: " + NASTY,
            b"Content-Security-Policy: " + NASTY,
            b"Set-Cookie: " + NASTY + b"=1; Secure",
            b"Content-Type: text/html; charset=utf-8",
            b"Content-Length: %d" % len(body),
        )
        await _send(writer, head + body)


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
                await _send(writer, b"\xff\xff" + wire[:2])
                while True:
                    await asyncio.sleep(0.05)
                    await _send(writer, b"\x00")
            answer = await self._answer(query, name, tcp=True)
            if answer is None:
                return
            await _send(writer, struct.pack(">H", len(answer)) + answer)


class _DnsDatagrams(asyncio.DatagramProtocol):
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


# ---------------------------------------------------------------- the lab


@dataclass(frozen=True)
class HostileHost:
    name: str
    ip: str
    ports: dict[int, Handler]


def hostile_hosts(net: str = HOSTILE_NET) -> list[HostileHost]:
    def at(index: int) -> str:
        return f"{net}.{index}"

    def host(index: int, label: str, ports: dict[int, Handler]) -> HostileHost:
        return HostileHost(f"{label}.{ZONE}", at(index), ports)

    ssh = b"SSH-2.0-" + NASTY + b"\r\n"
    ftp = b"220 " + NASTY + b" FTP ready\r\n"
    smtp = b"220 banners.hostile.test ESMTP " + NASTY + b"\r\n"
    return [
        host(1, "tarpit", {22: tarpit, 80: tarpit, 443: tarpit}),
        host(2, "drip", {22: drip(ssh), 25: drip(smtp), 80: drip(b"HTTP/1.1 200 OK\r\n")}),
        host(3, "headers", {80: endless_headers}),
        host(4, "bigbody", {80: big_body}),
        host(5, "gzip-bomb", {80: bomb("gzip")}),
        host(6, "deflate-bomb", {80: bomb("deflate")}),
        host(7, "loop", {80: redirect(_loop_location)}),
        host(8, "to-private", {80: redirect(lambda _: "http://10.0.0.1/")}),
        host(9, "to-doc", {80: redirect(lambda _: "http://192.0.2.1/")}),
        host(10, "to-name", {80: redirect(lambda _: f"http://outside.{ZONE}/")}),
        host(11, "tls-garbage", {443: tls_garbage}),
        host(12, "tls-reset", {443: tls_reset}),
        host(13, "tls-length", {443: tls_lying_lengths}),
        host(
            14,
            "banners",
            {
                21: greeting(ftp),
                22: greeting(ssh),
                25: greeting(smtp, _SMTP_REPLIES),
                80: nasty_page,
                110: greeting(b"+OK " + NASTY + b"\r\n", _POP3_REPLIES),
                143: greeting(b"* OK [CAPABILITY IMAP4rev1 " + NASTY + b"]\r\n", _IMAP_REPLIES),
            },
        ),
        host(15, "dnsbomb", {}),  # port 53, UDP and TCP: see HostileLab.start
    ]


HOSTILE_ZONES = (f"truncated.{ZONE}", f"hugetxt.{ZONE}")


@dataclass
class HostileInfo:
    hosts: dict[str, str]  # name → address
    dns_ip: str
    dns_port: int
    zones: tuple[str, ...] = HOSTILE_ZONES
    out_of_scope: tuple[str, ...] = OUT_OF_SCOPE


@dataclass
class HostileLab:
    """Every hostile server, in one event loop. `upstream`: the normal lab's name server."""

    upstream: tuple[str, int]
    dns_ip: str = HOSTILE_DNS_IP
    dns_port: int = 53
    net: str = HOSTILE_NET
    _servers: list[asyncio.AbstractServer] = field(default_factory=list)
    _transports: list[asyncio.BaseTransport] = field(default_factory=list)
    _tasks: set[asyncio.Task[None]] = field(default_factory=set)

    async def start(self) -> HostileInfo:
        hosts = hostile_hosts(self.net)
        names = {h.name: h.ip for h in hosts}
        names[f"outside.{ZONE}"] = OUT_OF_SCOPE[2]
        resolver = HostileDns(names, self.upstream)
        bomb_dns = HostileDns(names, self.upstream, always_truncate=True)
        try:
            for host in hosts:
                for port, handler in host.ports.items():
                    await self._tcp(self._guarded(handler), host.ip, port)
            dnsbomb = names[f"dnsbomb.{ZONE}"]
            await self._dns(bomb_dns, dnsbomb, 53)
            await self._dns(resolver, self.dns_ip, self.dns_port)
        except BaseException:
            await self.stop()
            raise
        # Build the bombs now, not while a scan waits for them (about a second of CPU).
        await asyncio.to_thread(_deflated_zeros)
        return HostileInfo(names, self.dns_ip, self.dns_port)

    async def _tcp(self, handler: Handler, ip: str, port: int) -> None:
        self._servers.append(await asyncio.start_server(handler, ip, port, reuse_address=True))

    async def _dns(self, server: HostileDns, ip: str, port: int) -> None:
        await self._tcp(self._guarded(server.serve_tcp), ip, port)
        loop = asyncio.get_running_loop()
        transport, _ = await loop.create_datagram_endpoint(
            lambda: _DnsDatagrams(server, self._tasks), local_addr=(ip, port)
        )
        self._transports.append(transport)

    def _guarded(self, handler: Handler) -> Handler:
        """Runs a behaviour within MAX_LIFETIME; a client going away ends it quietly."""

        async def run(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            task = asyncio.current_task()
            assert task is not None
            self._tasks.add(task)
            try:
                async with asyncio.timeout(MAX_LIFETIME):
                    await handler(reader, writer)
            except (OSError, TimeoutError, asyncio.IncompleteReadError, ValueError):
                pass
            except dns.exception.DNSException:
                pass
            finally:
                self._tasks.discard(task)
                writer.transport.abort()

        return run

    async def stop(self) -> None:
        for server in self._servers:
            server.close()
        for transport in self._transports:
            transport.close()
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        for server in self._servers:
            await server.wait_closed()
        self._servers.clear()
        self._transports.clear()


@contextlib.contextmanager
def running_hostile_lab(
    upstream: tuple[str, int],
    dns_ip: str = HOSTILE_DNS_IP,
    dns_port: int = 53,
    net: str = HOSTILE_NET,
) -> Iterator[HostileInfo]:
    """Every hostile server in a background thread for the duration of a `with` block."""
    lab = HostileLab(upstream, dns_ip, dns_port, net)
    loop = asyncio.new_event_loop()
    thread = threading.Thread(target=loop.run_forever, name="utsyn-hostile-lab", daemon=True)
    thread.start()
    try:
        yield asyncio.run_coroutine_threadsafe(lab.start(), loop).result(60)
    finally:
        with contextlib.suppress(Exception):
            asyncio.run_coroutine_threadsafe(lab.stop(), loop).result(30)
        loop.call_soon_threadsafe(loop.stop)
        thread.join(10)
        loop.close()


@contextlib.contextmanager
def hostile_lab_process(
    scenario: str,
    state_dir: Path,
    cache_dir: Path,
    dns_ip: str,
    first_octet: int,
) -> Iterator[tuple[LabInfo, HostileInfo]]:
    """A normal lab of `scenario` and the hostile lab beside it, served by a child process.

    In a child, their CPU does not compete with the scanner's for the GIL, and their memory
    is not traced with the scanner's (tracemalloc) while a test measures it.
    """
    context = multiprocessing.get_context("spawn")
    ours, theirs = context.Pipe()
    args = (theirs, scenario, str(state_dir), str(cache_dir), dns_ip, first_octet)
    child = context.Process(target=_serve_both, args=args, name="utsyn-hostile", daemon=True)
    child.start()
    try:
        if not ours.poll(120):
            raise LabError("the hostile lab did not start within 120 s")
        message = ours.recv()
        if isinstance(message, str):
            raise LabError(f"the hostile lab did not start: {message}")
        lab, hostile = message
        hostile["zones"] = tuple(hostile["zones"])
        hostile["out_of_scope"] = tuple(hostile["out_of_scope"])
        yield LabInfo.from_json(lab), HostileInfo(**hostile)
    finally:
        with contextlib.suppress(OSError):
            ours.send("stop")
        child.join(30)
        if child.is_alive():
            child.kill()
            child.join()


def _serve_both(
    conn: Connection, scenario: str, state_dir: str, cache_dir: str, dns_ip: str, first_octet: int
) -> None:
    try:
        with (
            running_lab(
                load_scenario(scenario),
                Path(state_dir),
                Path(cache_dir),
                dns_ip=dns_ip,
                first_octet=first_octet,
            ) as lab,
            running_hostile_lab((lab.dns_ip, lab.dns_port)) as hostile,
        ):
            conn.send((lab.to_json(), asdict(hostile)))
            conn.recv()  # until the parent says stop (or goes away: EOFError)
    except EOFError:
        pass
    except Exception as exc:  # reported to the parent, which raises it as a LabError
        conn.send(f"{type(exc).__name__}: {exc}")
