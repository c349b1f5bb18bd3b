"""Name resolution for scans: dnspython against configured name servers, never the system's.

Every query goes through `GuardedNet.dns`, so name servers are subject to the scope policy
like any other destination.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass

import dns.exception
import dns.flags
import dns.message
import dns.name
import dns.rcode
import dns.rdatatype
import dns.rrset

from utsyn.scan.guard import GuardedNet

MAX_CNAME_CHAIN = 8


class ResolveError(Exception):
    """A name could not be resolved: the message says why (NXDOMAIN, timeout, ...).

    `congestion` is False when a name server did answer (over UDP, truncated) and only the
    TCP retry failed: that says something about one zone's answers, not about the load on
    the name server, so the scan's DNS pacing must not slow every other zone down for it.
    """

    def __init__(self, message: str, congestion: bool = True) -> None:
        super().__init__(message)
        self.congestion = congestion


@dataclass(frozen=True)
class Answer:
    name: str
    rcode: str  # "NOERROR", "NXDOMAIN", ...
    rrsets: tuple[dns.rrset.RRset, ...]
    message: dns.message.Message

    def texts(self, rdtype: str) -> list[str]:
        wanted = dns.rdatatype.from_text(rdtype)
        return [r.to_text() for rrset in self.rrsets if rrset.rdtype == wanted for r in rrset]


class Resolver:
    def __init__(self, net: GuardedNet, nameservers: list[str], port: int = 53) -> None:
        if not nameservers:
            raise ValueError("at least one name server is needed")
        self.net = net
        self.nameservers = nameservers
        self.port = port
        self._cache: dict[tuple[str, str, bool], Answer] = {}
        self._inflight: dict[tuple[str, str, bool], asyncio.Future[Answer]] = {}

    async def query(self, name: str, rdtype: str, dnssec: bool = False) -> Answer:
        """The answer to one question, from the first name server that answers."""
        key = (name.lower().rstrip("."), rdtype, dnssec)
        if key in self._cache:
            return self._cache[key]
        if key in self._inflight:  # many checks ask the same question at once
            return await asyncio.shield(self._inflight[key])
        future: asyncio.Future[Answer] = asyncio.get_running_loop().create_future()
        self._inflight[key] = future
        try:
            answer = await self._ask(name, rdtype, dnssec)
            future.set_result(answer)
            self._cache[key] = answer
            return answer
        except BaseException as exc:
            future.set_exception(exc)
            future.exception()  # retrieved: no "never retrieved" warning when nobody waits
            raise
        finally:
            del self._inflight[key]

    async def _ask(self, name: str, rdtype: str, dnssec: bool) -> Answer:
        query = dns.message.make_query(name, rdtype, want_dnssec=dnssec)
        last_error = "no name server answered"
        congestion = True
        for nameserver in self.nameservers:
            answered = False
            try:
                response = await self.net.dns(query, nameserver, self.port, configured=True)
                if response.flags & dns.flags.TC:
                    answered = True
                    response = await self.net.dns(
                        query, nameserver, self.port, tcp=True, configured=True
                    )
            except (dns.exception.DNSException, OSError, TimeoutError) as exc:
                last_error = f"{nameserver}: {type(exc).__name__} {exc}".strip()
                congestion = congestion and not answered
                continue
            rcode = dns.rcode.to_text(response.rcode())
            return Answer(name, rcode, tuple(response.answer), response)
        raise ResolveError(f"{name} {rdtype}: {last_error}", congestion)

    async def records(self, name: str, rdtype: str) -> list[str]:
        """The record texts of one type at `name`, following CNAMEs; [] when there are none."""
        answer = await self._follow(name, rdtype)
        return answer.texts(rdtype) if answer else []

    async def _follow(self, name: str, rdtype: str) -> Answer | None:
        current = name
        for _ in range(MAX_CNAME_CHAIN):
            answer = await self.query(current, rdtype)
            if answer.rcode != "NOERROR":
                return None
            if answer.texts(rdtype):
                return answer
            cnames = answer.texts("CNAME")
            if not cnames or rdtype == "CNAME":
                return answer
            current = cnames[-1].rstrip(".")
        return None

    async def addresses(self, name: str) -> list[str]:
        """IPv4 then IPv6 addresses of `name`."""
        v4, v6 = await asyncio.gather(self.records(name, "A"), self.records(name, "AAAA"))
        return v4 + v6
