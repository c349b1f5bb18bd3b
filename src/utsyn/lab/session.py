"""Connection plumbing of the lab's TCP servers: one bounded session per client connection.

Shared by the exposed services (`lab/services/`), the mail servers (`lab/mail.py`,
`lab/mailbox.py`) and SSH (`lab/ssh.py`, for the idle timeout). Every read waits at most
the idle timeout and counts against a per-connection byte budget; `serve` turns a session
function into an asyncio.start_server callback that always closes the connection.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import re
import struct
from collections.abc import Awaitable, Callable
from typing import TypeVar

from utsyn.lab.context import IDLE_TIMEOUT, Handler, LabContext

_log = logging.getLogger(__name__)
_T = TypeVar("_T")

# A client may send at most this much in one connection: enough for any probe or login
# attempt, small enough that a flood cannot grow the lab's memory.
MAX_SESSION_BYTES = 1 << 20


class ProtocolViolation(Exception):
    """The client sent something a real server would hang up on."""


class Session:
    """One client connection: every read waits at most the idle timeout and is counted."""

    def __init__(
        self,
        reader: asyncio.StreamReader,
        writer: asyncio.StreamWriter,
        idle_timeout: float,
        max_bytes: int = MAX_SESSION_BYTES,
    ) -> None:
        self.reader = reader
        self.writer = writer
        self.idle_timeout = idle_timeout
        self.max_bytes = max_bytes
        self.received = 0

    @property
    def peer_ip(self) -> str:
        peer = self.writer.get_extra_info("peername")
        return str(peer[0]) if isinstance(peer, tuple) and peer else "127.0.0.1"

    @property
    def peer_port(self) -> int:
        peer = self.writer.get_extra_info("peername")
        return int(peer[1]) if isinstance(peer, tuple) and len(peer) > 1 else 0

    async def _timed(self, awaitable: Awaitable[_T]) -> _T:
        return await asyncio.wait_for(awaitable, self.idle_timeout)

    def _count(self, data: bytes) -> bytes:
        self.received += len(data)
        if self.received > self.max_bytes:
            raise ProtocolViolation("the client sent more than this server accepts")
        return data

    async def read_some(self, limit: int = 4096) -> bytes:
        """Whatever has arrived (at most `limit` bytes); EOFError when the client left."""
        data = await self._timed(self.reader.read(limit))
        if not data:
            raise EOFError
        return self._count(data)

    async def read_exactly(self, size: int) -> bytes:
        # Checked before reading: readexactly buffers everything it waits for.
        if size < 0 or self.received + size > self.max_bytes:
            raise ProtocolViolation("the client announced more than this server accepts")
        return self._count(await self._timed(self.reader.readexactly(size)))

    async def read_line(self) -> bytes:
        """One line including its LF; a line longer than the stream limit ends the session."""
        try:
            line = await self._timed(self.reader.readuntil(b"\n"))
        except asyncio.LimitOverrunError as exc:
            raise ProtocolViolation("line longer than the stream limit") from exc
        return self._count(line)

    async def send(self, data: bytes) -> None:
        self.writer.write(data)
        await self._timed(self.writer.drain())

    async def close(self) -> None:
        self.writer.close()
        # A peer that reset or vanished leaves the socket closed all the same.
        with contextlib.suppress(OSError, TimeoutError):
            await asyncio.wait_for(self.writer.wait_closed(), 1.0)


Serve = Callable[[Session], Awaitable[None]]

# How a session ends when the client misbehaves: it left, went quiet, or sent garbage that
# a parser rejected. A real server drops such a connection without fuss, so do we.
_DROPPED = (
    OSError,
    EOFError,
    TimeoutError,
    ProtocolViolation,
    ValueError,
    LookupError,
    struct.error,
)


def serve(session_fn: Serve, idle_timeout: float, max_bytes: int = MAX_SESSION_BYTES) -> Handler:
    """A start_server callback that runs `session_fn` and always closes the connection."""

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        session = Session(reader, writer, idle_timeout, max_bytes)
        try:
            await session_fn(session)
        except _DROPPED:
            pass
        except Exception:  # a bug in a lab server must not take the lab down
            _log.exception("lab server failed on a connection from %s", session.peer_ip)
        finally:
            await session.close()

    return handle


def idle_timeout_for(ctx: LabContext, override: float | None = None) -> float:
    """The explicit override, else `ctx.extra["idle_timeout"]`, else IDLE_TIMEOUT."""
    if override is not None:
        return override
    value = ctx.extra.get("idle_timeout")
    return float(value) if isinstance(value, int | float) else IDLE_TIMEOUT


def reply_line(code: int, text: str) -> str:
    """`text` when it already starts with the reply code, else `code text` (FTP, SMTP)."""
    return text if re.match(rf"{code}[ -]", text) else f"{code} {text}"
