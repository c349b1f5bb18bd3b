"""Hostile TCP behaviours: tarpits, drips, endless heads and bodies, compression bombs,
redirect loops, TLS garbage and banners full of markup and escapes. Each is a connection
handler; `servers` puts them on hosts."""

from __future__ import annotations

import asyncio
import socket
import struct
import zlib
from collections.abc import Awaitable, Callable
from functools import cache

Handler = Callable[[asyncio.StreamReader, asyncio.StreamWriter], Awaitable[None]]

GIB = 1024**3
BLOCK = 64 * 1024

# Every kind of hostile byte a stored string must not carry raw: HTML and JavaScript,
# ANSI escapes (colour, clear screen, window title), NUL, invalid UTF-8 (a lone byte, an
# encoded surrogate), Unicode bidi overrides.
NASTY = (
    b"<script>alert(1)</script><img src=x onerror=alert(2)>"
    b"\x1b[31m\x1b[2J\x1b]0;pwned\x07\x00\xff\xfe\xc3\x28\xed\xa0\x80"
    b"\xe2\x80\xae"
)


# ---------------------------------------------------------------- helpers


async def _discard_until_closed(reader: asyncio.StreamReader) -> None:
    while await reader.read(BLOCK):
        pass


async def _request(reader: asyncio.StreamReader) -> bytes:
    """One HTTP request head (or whatever the client sent first, up to 64 KiB)."""
    data = b""
    while b"\r\n\r\n" not in data and len(data) < BLOCK:
        chunk = await reader.read(BLOCK)
        if not chunk:
            break
        data += chunk
    return data


def _path(request: bytes) -> str:
    parts = request.split(b" ", 2)
    return parts[1].decode("latin-1") if len(parts) > 2 else "/"


async def send(writer: asyncio.StreamWriter, data: bytes) -> None:
    writer.write(data)
    await writer.drain()


def _head(status: str, *fields: bytes) -> bytes:
    return (
        b"HTTP/1.1 " + status.encode() + b"\r\n" + b"".join(f + b"\r\n" for f in fields) + b"\r\n"
    )


# ---------------------------------------------------------------- TCP behaviours


async def tarpit(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    await _discard_until_closed(reader)


def drip(text: bytes) -> Handler:
    """`text`, then dots, one byte per second for ever (the client's patience is tested)."""

    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        index = 0
        while True:
            byte = text[index : index + 1] or b"."
            await send(writer, byte)
            index += 1
            await asyncio.sleep(1.0)

    return handler


async def endless_headers(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    await _request(reader)
    await send(writer, b"HTTP/1.1 200 OK\r\n")
    line = b"X-Hostile: " + b"a" * 1000 + b"\r\n"
    block = line * (BLOCK // len(line))
    sent = 0
    while sent < GIB:  # the client gives up long before; drain() waits while it does not read
        await send(writer, block)
        sent += len(block)


async def big_body(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    await _request(reader)
    await send(writer, _head("200 OK", b"Content-Type: text/html", b"Content-Length: %d" % GIB))
    block = memoryview(b"<p>" + b"x" * (BLOCK - 7) + b"</p>")
    sent = 0
    while sent < GIB:
        await send(writer, bytes(block))
        sent += len(block)


@cache
def deflated_zeros() -> tuple[bytes, int, int]:
    """1 GiB of zeros as a raw deflate stream (about 1 MiB), with its CRC-32 and Adler-32.

    Computed once and shared by both bombs; the zeros themselves are one reused block.
    """
    compressor = zlib.compressobj(9, zlib.DEFLATED, -zlib.MAX_WBITS)
    zeros = bytes(1024 * 1024)
    parts, crc, adler = [], 0, 1
    for _ in range(GIB // len(zeros)):
        parts.append(compressor.compress(zeros))
        crc = zlib.crc32(zeros, crc)
        adler = zlib.adler32(zeros, adler)
    parts.append(compressor.flush())
    return b"".join(parts), crc, adler


def gzip_bomb() -> bytes:
    raw, crc, _ = deflated_zeros()
    header = b"\x1f\x8b\x08\x00\x00\x00\x00\x00\x02\xff"
    return header + raw + struct.pack("<II", crc, GIB & 0xFFFFFFFF)


def deflate_bomb() -> bytes:
    raw, _, adler = deflated_zeros()
    return b"\x78\xda" + raw + struct.pack(">I", adler)


def bomb(coding: str) -> Handler:
    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        body = await asyncio.to_thread(gzip_bomb if coding == "gzip" else deflate_bomb)
        head = _head(
            "200 OK",
            b"Content-Type: text/html",
            b"Content-Encoding: " + coding.encode(),
            b"Content-Length: %d" % len(body),
        )
        while await _request(reader):  # a bomb for every request on the connection
            await send(writer, head + body)

    return handler


def redirect(location: Callable[[str], str]) -> Handler:
    """Answers every request on a kept-alive connection with a redirect."""

    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        while request := await _request(reader):
            target = location(_path(request)).encode()
            await send(writer, _head("301 Moved", b"Location: " + target, b"Content-Length: 0"))

    return handler


async def tls_garbage(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    await reader.read(BLOCK)  # the ClientHello
    await send(writer, (b"HTTP/1.1 400 Bad\r\n" + NASTY + b"\r\n") * 20)
    await _discard_until_closed(reader)


async def tls_reset(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    await reader.read(BLOCK)
    await send(writer, b"\x16\x03\x03\x00\x4a\x02\x00\x00")  # a ServerHello cut short
    sock = writer.get_extra_info("socket")
    if sock is not None:  # linger 0: close() sends RST instead of FIN
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    writer.transport.abort()


async def tls_lying_lengths(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    await reader.read(BLOCK)
    # A handshake record of 64 bytes whose ServerHello claims 16 MiB, then a record header
    # announcing 65535 bytes (more than TLS allows) followed by a few, then silence.
    server_hello = b"\x02\xff\xff\xff" + b"\x03\x03" + bytes(58)
    await send(writer, b"\x16\x03\x03" + struct.pack(">H", len(server_hello)) + server_hello)
    await send(writer, b"\x16\x03\x03\xff\xff" + NASTY)
    await _discard_until_closed(reader)


def greeting(first: bytes, replies: dict[bytes, bytes] | None = None) -> Handler:
    """Greets with `first`, then answers each line by its first word (or with NASTY)."""

    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await send(writer, first)
        while line := await reader.readline():
            word = line.split(b" ", 1)[0].strip().upper()
            answer = (replies or {}).get(word, b"500 " + NASTY + b"\r\n")
            await send(writer, answer)
            if word == b"STARTTLS":
                await send(writer, NASTY * 10)  # "TLS" that is nothing of the kind
                return

    return handler


async def nasty_page(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    while await _request(reader):
        body = (
            b"<html><head><title>" + NASTY + b"</title>"
            b'<meta name="generator" content="' + NASTY + b'">'
            b'<script src="https://cdn.example/' + NASTY + b'.js"></script>'
            b"</head><body>" + NASTY + b"</body></html>"
        )
        head = _head(
            "200 " + NASTY.decode("latin-1"),
            b"Server: " + NASTY,
            b"X-Powered-By: " + NASTY,
            b"Content-Security-Policy: " + NASTY,
            b"Set-Cookie: " + NASTY + b"=1; Secure",
            b"Content-Type: text/html; charset=utf-8",
            b"Content-Length: %d" % len(body),
        )
        await send(writer, head + body)
