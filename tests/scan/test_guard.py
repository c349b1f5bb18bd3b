"""The scope guard: the production policy refuses what no user-entered domain may reach."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from typing import ClassVar

import pytest

from utsyn.scan.engine import Scanner
from utsyn.scan.family import ScanConfig, ScanContext
from utsyn.scan.guard import JOB_CONNECTIONS, GuardedNet, ScopePolicy, ScopeRefused, Timeouts
from utsyn.scan.model import Footprint, Job, Observation, Target, observe


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


class Greedy:
    """A family that breaks the connection rule on purpose, and one job that keeps it."""

    family: ClassVar[str] = "greedy"

    def jobs(self, target: Target) -> Iterator[Job]:
        for name in ("within", "beyond", "together"):
            yield Job(self.family, name, target)

    async def run(self, job: Job, scan: ScanContext) -> list[Observation]:
        ip, port = job.target.label.split(":")
        if job.name == "together":  # a second connection while the first is open
            async with scan.net.tcp(ip, int(port)), scan.net.tcp(ip, int(port)):
                pass
        else:  # one after the other: the whole budget, or one more
            for _ in range(JOB_CONNECTIONS + (job.name == "beyond")):
                async with scan.net.tcp(ip, int(port)):
                    pass
        return [observe(job.target, f"greedy.{job.name}", True)]


async def test_the_guard_holds_every_job_to_the_connection_rule() -> None:
    async def close(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        writer.close()

    server = await asyncio.start_server(close, "127.106.0.3", 0)
    port = server.sockets[0].getsockname()[1]
    config = ScanConfig(
        scope=ScopePolicy.lab(),
        nameservers=("127.106.255.53",),  # nothing listens: no name is resolved
        timeouts=Timeouts(connect=1.0, read=1.0, dns=0.5),
    )
    scanner = Scanner(config, [Greedy()])
    footprint = Footprint("greedy", hostnames=(f"127.106.0.3:{port}",))
    try:
        (result,) = [r async for r in scanner.scan([footprint])]
    finally:
        server.close()
    seen = {o.check: o for o in result.observations}
    assert seen["greedy.within"].value is True
    errors = sorted(o.error or "" for o in result.observations if o.check == "greedy.error")
    label = f"127.106.0.3:{port}"
    assert errors == [
        f"internal error: JobBudgetExceeded: the job greedy:beyond on {label} "
        f"needed more than {JOB_CONNECTIONS} connections",
        f"internal error: JobBudgetExceeded: the job greedy:together on {label} "
        "opened a connection while one was open",
    ]
    assert scanner.last_context is not None
    # discovery's one (outside any job) + the whole budget twice + the first of "together":
    # a refused connection is never opened
    assert scanner.last_context.net.stats.per_ip["127.106.0.3"] == 1 + 2 * JOB_CONNECTIONS + 1
