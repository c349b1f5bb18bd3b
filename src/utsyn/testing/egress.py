"""The egress guard: while active, no socket may reach beyond loopback.

Tests (an autouse fixture) and benchmarks run under it; the demo's scans stay on loopback
through the scanner's own scope guard in lab mode. Any connect, sendto or name resolution
to an address outside 127.0.0.0/8 and ::1 raises `EgressRefused`. Names other than
`localhost` are never resolved through the system resolver (it is off loopback here);
lab names are resolved with dnspython against the lab's own name server.
"""

from __future__ import annotations

import ipaddress
import socket
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

_LOCAL_NAMES = frozenset({"localhost", "localhost.localdomain", "ip6-localhost"})


class EgressRefused(ConnectionRefusedError):
    """Raised instead of letting traffic leave loopback."""


def is_loopback(host: object) -> bool:
    if not isinstance(host, str):
        return False
    try:
        return ipaddress.ip_address(host.split("%")[0]).is_loopback
    except ValueError:
        return False


def _check_address(address: Any, what: str) -> None:
    if isinstance(address, tuple) and address:
        host = address[0]
        if isinstance(host, bytes):
            host = host.decode()
        if is_loopback(host):
            return
        raise EgressRefused(f"egress guard: {what} to {host!r} refused (loopback only)")
    if isinstance(address, str | bytes):  # AF_UNIX paths stay on this machine
        return
    raise EgressRefused(f"egress guard: {what} to {address!r} refused")


@contextmanager
def egress_guard() -> Iterator[None]:
    original_connect = socket.socket.connect
    original_connect_ex = socket.socket.connect_ex
    original_sendto = socket.socket.sendto
    original_getaddrinfo = socket.getaddrinfo
    original_gethostbyname = socket.gethostbyname

    def connect(self: socket.socket, address: Any) -> None:
        if self.family in (socket.AF_INET, socket.AF_INET6):
            _check_address(address, "connect")
        return original_connect(self, address)

    def connect_ex(self: socket.socket, address: Any) -> int:
        if self.family in (socket.AF_INET, socket.AF_INET6):
            _check_address(address, "connect")
        return original_connect_ex(self, address)

    def sendto(self: socket.socket, data: Any, *args: Any) -> int:
        address = args[-1]
        if self.family in (socket.AF_INET, socket.AF_INET6):
            _check_address(address, "sendto")
        return original_sendto(self, data, *args)

    def getaddrinfo(host: Any, *args: Any, **kwargs: Any) -> Any:
        name = host.decode() if isinstance(host, bytes) else host
        if name is not None and not is_loopback(name) and name not in _LOCAL_NAMES:
            raise EgressRefused(
                f"egress guard: resolving {name!r} through the system resolver refused"
            )
        return original_getaddrinfo(host, *args, **kwargs)

    def gethostbyname(name: str) -> str:
        if not is_loopback(name) and name not in _LOCAL_NAMES:
            raise EgressRefused(f"egress guard: resolving {name!r} refused")
        return original_gethostbyname(name)

    socket.socket.connect = connect  # type: ignore[method-assign,assignment]
    socket.socket.connect_ex = connect_ex  # type: ignore[method-assign,assignment]
    socket.socket.sendto = sendto  # type: ignore[assignment]
    socket.getaddrinfo = getaddrinfo
    socket.gethostbyname = gethostbyname
    try:
        yield
    finally:
        socket.socket.connect = original_connect  # type: ignore[method-assign]
        socket.socket.connect_ex = original_connect_ex  # type: ignore[method-assign]
        socket.socket.sendto = original_sendto  # type: ignore[method-assign]
        socket.getaddrinfo = original_getaddrinfo
        socket.gethostbyname = original_gethostbyname
