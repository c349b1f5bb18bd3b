"""The scope guard: the production policy refuses what no user-entered domain may reach."""

from __future__ import annotations

import asyncio

import pytest

from utsyn.scan.guard import GuardedNet, ScopePolicy, ScopeRefused, Timeouts


@pytest.mark.parametrize(
    "ip",
    ["127.0.0.1", "10.1.2.3", "172.20.0.1", "192.168.1.1", "169.254.169.254", "100.64.0.1",
     "224.0.0.1", "0.0.0.0", "::1", "fe80::1", "fd00::1", "240.0.0.1"],
)  # fmt: skip
def test_internet_policy_refuses_reserved_ranges(ip: str) -> None:
    reason = ScopePolicy.internet().refusal(ip)
    assert reason is not None and ip in reason


def test_internet_policy_allows_a_public_address_it_is_not_told_to_skip() -> None:
    # Only the policy is asked here: nothing connects.
    assert ScopePolicy.internet().refusal("193.0.14.129") is None


def test_opt_out_by_network_and_by_domain() -> None:
    policy = ScopePolicy.internet(["193.0.14.0/24"], ["optout.no"])
    assert "opt-out" in (policy.refusal("193.0.14.129") or "")
    assert "opt-out" in (policy.refusal("198.41.0.4", "www.optout.no") or "")
    assert policy.refusal("198.41.0.4", "notoptout.no") is None


@pytest.mark.parametrize("ip", ["127.0.0.1", "127.20.3.4", "::1"])
def test_lab_policy_allows_loopback(ip: str) -> None:
    assert ScopePolicy.lab().refusal(ip) is None


@pytest.mark.parametrize("ip", ["10.0.0.1", "192.0.2.1", "2001:db8::1"])
def test_lab_policy_refuses_everything_else(ip: str) -> None:
    assert "outside the lab" in (ScopePolicy.lab().refusal(ip) or "")


async def test_a_refused_connection_never_reaches_the_socket_layer() -> None:
    net = GuardedNet(ScopePolicy.internet(), Timeouts(connect=0.5))
    with pytest.raises(ScopeRefused, match="reserved or private"):
        async with net.tcp("127.0.0.1", 9):
            pass
    assert net.stats.connections == 0 and net.stats.refused == 1


async def test_per_host_limit_bounds_concurrent_connections() -> None:
    peak = 0
    current = 0

    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        nonlocal peak, current
        current += 1
        peak = max(peak, current)
        await asyncio.sleep(0.05)
        current -= 1
        writer.close()

    server = await asyncio.start_server(handler, "127.106.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    net = GuardedNet(ScopePolicy.lab(), per_host=2)

    async def one() -> None:
        async with net.tcp("127.106.0.1", port) as (reader, _):
            await reader.read()

    await asyncio.gather(*(one() for _ in range(8)))
    server.close()
    assert peak <= 2 and net.stats.connections == 8
