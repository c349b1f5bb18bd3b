"""memcached: `version` and `stats` answer anyone; storing fails for want of memory."""

from __future__ import annotations

import itertools
import time

from utsyn.lab.context import LabContext
from utsyn.lab.manifest import Host, Service
from utsyn.lab.services.common import MAX_REQUESTS, Uptime, banner, stable_int
from utsyn.lab.session import Serve, Session

_MEMCACHED_STORAGE = {"set", "add", "replace", "append", "prepend", "cas"}


def _memcached_stats(version: str, host: Host, uptime: int, connections: int) -> bytes:
    stats = [
        ("pid", 1000 + stable_int(host.name + ":memcached", 60000)),
        ("uptime", uptime),
        ("time", int(time.time())),
        ("version", version),
        ("libevent", "2.1.12-stable"),
        ("pointer_size", 64),
        ("max_connections", 1024),
        ("curr_connections", 2),
        ("total_connections", connections),
        ("cmd_get", 0),
        ("cmd_set", 0),
        ("get_hits", 0),
        ("get_misses", 0),
        ("curr_items", 0),
        ("total_items", 0),
        ("bytes", 0),
        ("limit_maxbytes", 67108864),
        ("threads", 4),
    ]
    return "".join(f"STAT {k} {v}\r\n" for k, v in stats).encode() + b"END\r\n"


def server(service: Service, host: Host, ctx: LabContext) -> Serve:
    version = banner(service)
    uptime = Uptime()
    connections = itertools.count(10)

    async def session(s: Session) -> None:
        total = next(connections)
        for _ in range(MAX_REQUESTS):
            line = await s.read_line()
            if len(line) > 2048:  # memcached's KEY_MAX_LENGTH-based line limit
                await s.send(b"CLIENT_ERROR line too long\r\n")
                return
            words = line.decode("latin-1").split()
            command = words[0].lower() if words else ""
            if command == "quit":
                return
            if command == "version":
                await s.send(f"VERSION {version}\r\n".encode())
            elif command == "stats":
                await s.send(_memcached_stats(version, host, uptime.seconds(), total))
            elif command in ("get", "gets") and len(words) > 1:
                await s.send(b"END\r\n")
            elif command in _MEMCACHED_STORAGE and len(words) >= 5:
                await s.read_exactly(int(words[4]) + 2)  # the data block, dropped
                await s.send(b"SERVER_ERROR out of memory storing object\r\n")
            else:
                await s.send(b"ERROR\r\n")

    return session
