"""The one clock: every timestamp Utsyn stores is timezone-aware UTC."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta

_offset = timedelta(0)


def now_utc() -> datetime:
    return datetime.now(UTC) + _offset


@contextmanager
def shifted(by: timedelta) -> Iterator[None]:
    """The clock `by` away from the wall clock for the block: `make demo` records its first
    scan a week back, so the trends it shows have a history (they are daily averages)."""
    global _offset
    before, _offset = _offset, _offset + by
    try:
        yield
    finally:
        _offset = before
