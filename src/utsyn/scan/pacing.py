"""Paced questions to the scan's resolver: an adaptive number in flight per scan, and
another try when no name server answered.

A zone scan asks dozens of questions at once (DKIM selectors, common names), and a scan
runs many zones at once. Unbounded, the bursts overflow a name server's UDP receive buffer
or queue up behind a busy server until the answers come too late; the Resolver does not
retry a lost answer. So the questions in flight are a congestion window, as TCP's is
(RFC 5681): one more per window's worth of answers, half as many after a loss; and a lost
question is asked again, as stub resolvers do (RFC 1536 section 1).
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import TypeVar
from weakref import WeakKeyDictionary

from utsyn.scan.family import ScanContext
from utsyn.scan.resolve import Answer, ResolveError, Resolver

# Bounds of the window of the DNS family's questions in flight, per scan.
WINDOW_START = 16
WINDOW_FLOOR = 2
WINDOW_CEILING = 64

T = TypeVar("T")


class CongestionWindow:
    """At most `limit` holders at once; the limit grows by about one per window of
    successes and halves on a loss (additive increase, multiplicative decrease)."""

    def __init__(
        self,
        start: float = WINDOW_START,
        floor: float = WINDOW_FLOOR,
        ceiling: float = WINDOW_CEILING,
    ) -> None:
        self.limit = start
        self.floor = floor
        self.ceiling = ceiling
        self.in_flight = 0
        self._changed = asyncio.Condition()

    async def acquire(self) -> None:
        async with self._changed:
            await self._changed.wait_for(lambda: self.in_flight < int(self.limit))
            self.in_flight += 1

    async def release(self, lost: bool) -> None:
        async with self._changed:
            self.in_flight -= 1
            if lost:
                self.limit = max(self.floor, self.limit / 2)
            else:
                self.limit = min(self.ceiling, self.limit + 1 / self.limit)
            self._changed.notify_all()


class PacedResolver:
    """The scan's Resolver, behind a congestion window and with retries."""

    def __init__(self, resolver: Resolver, retries: int) -> None:
        self.resolver = resolver
        self.retries = retries
        self.window = CongestionWindow()
        self.losses = 0

    async def _paced(self, call: Callable[[], Awaitable[T]]) -> T:
        for attempt in range(self.retries + 1):
            await self.window.acquire()
            lost = False
            try:
                return await call()
            except ResolveError as exc:
                lost = exc.congestion  # a zone's bad TCP answer is no sign of congestion
                self.losses += 1
                if attempt == self.retries:
                    raise
            finally:
                await self.window.release(lost)
        raise AssertionError("unreachable: the last attempt returns or raises")

    async def query(self, name: str, rdtype: str, dnssec: bool = False) -> Answer:
        return await self._paced(lambda: self.resolver.query(name, rdtype, dnssec))

    async def records(self, name: str, rdtype: str) -> list[str]:
        return await self._paced(lambda: self.resolver.records(name, rdtype))

    async def addresses(self, name: str) -> list[str]:
        return await self._paced(lambda: self.resolver.addresses(name))


_PACED: WeakKeyDictionary[Resolver, PacedResolver] = WeakKeyDictionary()


def paced(scan: ScanContext) -> PacedResolver:
    """The one PacedResolver of this scan (its Resolver lives as long as the scan)."""
    found = _PACED.get(scan.resolver)
    if found is None:
        found = _PACED[scan.resolver] = PacedResolver(scan.resolver, scan.config.retries)
    return found
