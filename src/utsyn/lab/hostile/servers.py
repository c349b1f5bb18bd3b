"""The hostile lab: every hostile host on its own loopback address, its name server, and
the normal lab beside them in a child process."""

from __future__ import annotations

import asyncio
import contextlib
import multiprocessing
import threading
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field
from multiprocessing.connection import Connection
from pathlib import Path

import dns.exception

from utsyn.errors import LabError
from utsyn.lab.hostile.behaviours import (
    NASTY,
    Handler,
    big_body,
    bomb,
    deflated_zeros,
    drip,
    endless_headers,
    greeting,
    nasty_page,
    redirect,
    tarpit,
    tls_garbage,
    tls_lying_lengths,
    tls_reset,
)
from utsyn.lab.hostile.nameserver import HOSTILE_ZONES, ZONE, DnsDatagrams, HostileDns
from utsyn.lab.runtime import LabInfo, running_lab
from utsyn.lab.scenarios import load_scenario

HOSTILE_NET = "127.120.250"  # beside a lab started with first_octet=120 (orgs < 250)
HOSTILE_DNS_IP = "127.56.0.2"  # beside that lab's name server on 127.56.0.1
OUT_OF_SCOPE = ("10.0.0.1", "192.0.2.1", "10.0.0.2")  # redirect targets no scan may reach
MAX_LIFETIME = 120.0  # no hostile connection outlives this, whatever the client does

_EHLO = b"250-banners.hostile.test " + NASTY + b"\r\n250-STARTTLS\r\n250 SIZE 1000\r\n"
_SMTP_REPLIES = {b"EHLO": _EHLO, b"STARTTLS": b"220 go ahead\r\n", b"QUIT": b"221 bye\r\n"}
# IMAP answers by tag (the scanner's u1 and u2), POP3 by command.
_IMAP_REPLIES = {b"U1": b"* CAPABILITY " + NASTY + b"\r\nu1 BAD " + NASTY + b"\r\n"}
_POP3_REPLIES = {b"CAPA": b"-ERR " + NASTY + b"\r\n"}


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


def _loop_location(path: str) -> str:
    return f"http://loop.{ZONE}/" + ("b" if path == "/a" else "a")


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
        await asyncio.to_thread(deflated_zeros)
        return HostileInfo(names, self.dns_ip, self.dns_port)

    async def _tcp(self, handler: Handler, ip: str, port: int) -> None:
        self._servers.append(await asyncio.start_server(handler, ip, port, reuse_address=True))

    async def _dns(self, server: HostileDns, ip: str, port: int) -> None:
        await self._tcp(self._guarded(server.serve_tcp), ip, port)
        loop = asyncio.get_running_loop()
        transport, _ = await loop.create_datagram_endpoint(
            lambda: DnsDatagrams(server, self._tasks), local_addr=(ip, port)
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
            raise LabError("the hostile lab did not start: %(reason)s", reason=message)
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
