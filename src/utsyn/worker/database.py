"""The worker process's database engine, and retries of a unit of work on a lost connection.

A unit of work runs in a fresh session and its own transaction: when PostgreSQL drops the
connection midway, the transaction rolls back whole and the unit runs again on a new
connection (the engine pings pooled connections before use), so nothing is half-written.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from typing import TypeVar

from sqlalchemy import Engine
from sqlalchemy.exc import DBAPIError, OperationalError
from sqlalchemy.orm import Session

from utsyn.store.db import make_engine, session_factory

T = TypeVar("T")
log = logging.getLogger("utsyn.worker.database")

_engine: Engine | None = None
_lock = threading.Lock()


def engine() -> Engine:
    """One engine (one pool) per worker process, made on first use (after any fork)."""
    global _engine
    with _lock:
        if _engine is None:
            _engine = make_engine()
        return _engine


def is_transient(exc: BaseException) -> bool:
    """A lost or refused connection (or a locked SQLite file): worth trying again."""
    if isinstance(exc, OperationalError):
        return True
    return isinstance(exc, DBAPIError) and exc.connection_invalidated


def with_retry(work: Callable[[Session], T], attempts: int = 6, first_delay: float = 0.2) -> T:
    """`work(session)` in a fresh session, again (backing off) after a transient failure."""
    factory = session_factory(engine())
    for attempt in range(1, attempts + 1):
        try:
            with factory() as session:
                return work(session)
        except DBAPIError as exc:
            if not is_transient(exc) or attempt == attempts:
                raise
            delay = first_delay * 2 ** (attempt - 1)
            log.warning(
                "database unit of work retried",
                extra={"reason": type(exc.orig).__name__, "duration": delay},
            )
            time.sleep(delay)
    raise AssertionError("unreachable: the last attempt returns or raises")
