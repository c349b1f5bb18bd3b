"""Whether the name servers a scan is to use answer at all, asked once before it: a silent
one would otherwise hold every target for its timeouts, with nothing on the screen to say
why (26 s for one domain)."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence

from utsyn.scan.guard import GuardedNet, ScopePolicy, Timeouts
from utsyn.scan.resolve import ResolveError, Resolver


def silent_servers(
    servers: Sequence[str], port: int, policy: ScopePolicy, timeout: float
) -> list[str]:
    """The servers that gave no DNS response at all (any answer, a refusal too, counts)
    within `timeout` seconds; they are asked at once, so this takes one timeout at most."""
    net = GuardedNet(policy, Timeouts(dns=timeout), max_connections=max(1, len(servers)))
    return asyncio.run(_silent(net, servers, port))


async def _silent(net: GuardedNet, servers: Sequence[str], port: int) -> list[str]:
    async def silent(server: str) -> bool:
        try:
            await Resolver(net, [server], port).query(".", "NS")
        except ResolveError:
            return True
        return False

    found = await asyncio.gather(*(silent(s) for s in servers))
    return [server for server, quiet in zip(servers, found, strict=True) if quiet]
