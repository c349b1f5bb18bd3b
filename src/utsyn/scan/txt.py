"""One TXT lookup outside a scan (footprint verification), through the scanner's guard and
resolver like every other query Utsyn sends: the operator's configured name servers only,
never the system resolver, and within the scope policy."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence

import dns.rdatatype

from utsyn.errors import UtsynError
from utsyn.scan.guard import GuardedNet, ScopePolicy, Timeouts
from utsyn.scan.resolve import ResolveError, Resolver


class LookupUnavailable(UtsynError):
    """No configured name server gave an answer; the message says why."""


def txt_values(
    name: str, servers: Sequence[str], port: int = 53, timeout: float = 3.0
) -> list[str]:
    """The TXT strings at `name` (empty when it does not exist), from the first server
    that answers; each record's strings are joined, as RFC 7208 joins SPF's."""
    if not servers:
        raise LookupUnavailable("no name servers configured (UTSYN_DNS_SERVERS)")
    net = GuardedNet(ScopePolicy.internet(), Timeouts(dns=timeout), max_connections=4)
    return asyncio.run(_txt_values(name, Resolver(net, list(servers), port)))


async def _txt_values(name: str, resolver: Resolver) -> list[str]:
    try:
        answer = await resolver.query(name, "TXT")
    except ResolveError as exc:
        raise LookupUnavailable("no name server answered: %(reason)s", reason=exc) from exc
    if answer.rcode == "NXDOMAIN":
        return []
    if answer.rcode != "NOERROR":
        raise LookupUnavailable(
            "%(name)s: the name server answered %(rcode)s", name=name, rcode=answer.rcode
        )
    return [
        b"".join(rdata.strings).decode("utf-8", "replace")
        for rrset in answer.rrsets
        if rrset.rdtype == dns.rdatatype.TXT
        for rdata in rrset
    ]
