"""The egress guard refuses every address beyond loopback, and lets loopback through."""

from __future__ import annotations

import socket

import pytest

from utsyn.testing.egress import EgressRefused


@pytest.mark.parametrize("address", ["192.0.2.1", "10.0.0.1", "8.8.8.8", "172.16.0.1"])
def test_tcp_connect_beyond_loopback_is_refused(address: str) -> None:
    with socket.socket() as sock, pytest.raises(EgressRefused):
        sock.connect((address, 443))


def test_ipv6_beyond_loopback_is_refused() -> None:
    with socket.socket(socket.AF_INET6) as sock, pytest.raises(EgressRefused):
        sock.connect(("2001:db8::1", 443))


def test_udp_sendto_beyond_loopback_is_refused() -> None:
    with socket.socket(type=socket.SOCK_DGRAM) as sock, pytest.raises(EgressRefused):
        sock.sendto(b"x", ("192.0.2.53", 53))


def test_system_resolver_is_refused() -> None:
    with pytest.raises(EgressRefused):
        socket.getaddrinfo("www.example.no", 443)
    with pytest.raises(EgressRefused):
        socket.gethostbyname("example.no")


async def test_asyncio_connections_are_guarded_too() -> None:
    import asyncio

    with pytest.raises(EgressRefused):
        await asyncio.open_connection("192.0.2.1", 80)


def test_loopback_passes() -> None:
    with socket.socket() as server:
        server.bind(("127.0.0.1", 0))
        server.listen()
        with socket.create_connection(server.getsockname(), timeout=2):
            pass
    assert socket.getaddrinfo("localhost", 80)
