"""Exposed services: what each open port really speaks, its banner and its product.

One job per open port, at most one connection each. The job confirms (or corrects) the
protocol the discovery guessed from the port number, reads the version the service
volunteers and turns it into products (`scan.products`). Observations:

- `service.kind`: the protocol name (`ssh`, `redis`, ...); `probe` says how it was known.
- `service.banner`: the greeting or version string, as the service gives it: the SSH
  identification line, the text after "220 " of FTP and SMTP, after "* OK" (and its
  response code) of IMAP and after "+OK" of POP3, the version number of the
  databases, LDAP's vendorVersion, the RFB line of VNC, the login banner of Telnet.
  An exchange that failed or met garbage is a `service.banner` with `error` set.
- `service.product`: one per identified product (`Product.to_json()`).
- `service.details`: protocol facts that matter for risk: RDP and NLA, SMB dialect and
  signing, VNC security types, MSSQL encryption, PostgreSQL's answer, Redis/LDAP/MongoDB
  readable without authentication, ...

SSH, FTP, SMTP, IMAP and POP3 greet first: the discovery already holds their greeting, so
no second connection is made; SMTPS, IMAPS and POP3S greet after a TLS handshake. HTTP(S)
and DNS get only `service.kind`; other families judge them. Every read is capped in size
and in time, and the whole exchange has a deadline.
"""

from __future__ import annotations

import asyncio
import json
import re
import struct
from collections.abc import Awaitable, Callable, Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any, ClassVar

from utsyn.scan.discovery import protocol_of
from utsyn.scan.family import ScanContext
from utsyn.scan.guard import ScopeRefused
from utsyn.scan.mailproto import (
    IMPLICIT_TLS_PROTOCOLS,
    greeting_protocol,
    greeting_text,
)
from utsyn.scan.model import Job, Observation, ServiceTarget, Target, excerpt, failed, observe
from utsyn.scan.products import identify_banner
from utsyn.scan.tlscontext import permissive_context

BANNER_LIMIT = 1024  # characters kept of any banner
READ_LIMIT = 65536  # bytes read from one service, whatever it announces
_LINE_LIMIT = 8192  # bytes of greeting lines (SSH may send other lines before its own)
_PASSIVE = frozenset({"http", "https", "dns"})  # other families talk to these


class ProtocolMismatch(ValueError):
    """The service answered, but not in the protocol expected: the reason is recorded."""


@dataclass
class Answer:
    """What one exchange learnt: the protocol confirmed (or corrected) and its facts."""

    protocol: str
    probe: str
    banner: str | None = None
    details: dict[str, Any] = field(default_factory=dict)
    evidence: bytes = b""
    product_family: str | None = None  # how to read the banner, when not by `protocol`


Probe = Callable[[ServiceTarget, ScanContext], Awaitable[Answer]]


class ServicesFamily:
    """`service.*` facts for every open port (see the module documentation)."""

    family: ClassVar[str] = "services"

    def jobs(self, target: Target) -> Iterable[Job]:
        if isinstance(target, ServiceTarget):
            yield Job(self.family, f"identify:{target.protocol}", target)

    async def run(self, job: Job, scan: ScanContext) -> list[Observation]:
        target = job.target
        if not isinstance(target, ServiceTarget):
            return []
        if target.protocol in _PASSIVE:
            return [observe(target, "service.kind", target.protocol, probe="port number")]
        probe = _PROBES.get(target.protocol, _unknown)
        timeouts = scan.config.timeouts
        # A trickling server could keep every single read just inside its timeout. The mail
        # probe bounds its own exchange once connected: on a mail host it waits for a
        # connection slot behind the TLS probes of every port, which is no slowness of the
        # service (a real server with 25, 143, 465, 587, 993 and 995 has some ninety).
        deadline = None if probe is _mail else timeouts.connect + 2 * timeouts.read
        try:
            async with asyncio.timeout(deadline):
                answer = await probe(target, scan)
        except ScopeRefused:
            raise  # the engine records refusals in one place
        except (OSError, EOFError, TimeoutError, ValueError, struct.error) as exc:
            return _unconfirmed(target, job.name, _reason(exc))
        return list(_observations(target, answer))


def _observations(target: ServiceTarget, answer: Answer) -> Iterator[Observation]:
    evidence = answer.evidence
    yield observe(target, "service.kind", answer.protocol, answer.probe, evidence)
    if answer.banner is not None:
        yield observe(target, "service.banner", answer.banner, answer.probe, evidence)
        for product in identify_banner(answer.product_family or answer.protocol, answer.banner):
            yield observe(target, "service.product", product.to_json(), answer.probe)
    if answer.details:
        yield observe(target, "service.details", answer.details, answer.probe, evidence)


def _unconfirmed(target: ServiceTarget, probe: str, reason: str) -> list[Observation]:
    """The port's usual protocol, marked unconfirmed, and why the exchange failed."""
    kind = observe(target, "service.kind", target.protocol, probe="port number (unconfirmed)")
    return [kind, failed(target, "service.banner", reason, probe)]


def _reason(exc: BaseException) -> str:
    if isinstance(exc, TimeoutError):
        return "timeout: the service did not answer in time"
    if isinstance(exc, asyncio.IncompleteReadError):
        return f"connection closed after {len(exc.partial)} bytes"
    if isinstance(exc, EOFError):
        return "connection closed before an answer"
    if isinstance(exc, ProtocolMismatch):
        return str(exc)
    if isinstance(exc, ValueError | struct.error):
        return f"malformed answer: {exc}"[:300]
    return f"{type(exc).__name__}: {exc}"[:300]


def _text(data: bytes) -> str:
    """Untrusted bytes as a printable, capped banner."""
    return excerpt(data.strip(b"\r\n\t \x00"), BANNER_LIMIT)


# ---------------------------------------------------------------- reading


async def _read_until(
    scan: ScanContext, reader: asyncio.StreamReader, done: Callable[[bytes], bool], limit: int
) -> bytes:
    """Chunks until `done(data)`, EOF or `limit` bytes; each read within the read timeout.

    A service that said something and then fell silent gets its words judged (they may be
    another protocol's) instead of a bare timeout.
    """
    data = b""
    while len(data) < limit and not done(data):
        chunk = await _read_quietly(scan, reader, limit - len(data), data)
        if not chunk:
            break
        data += chunk
    return data


async def _read_message(
    scan: ScanContext, reader: asyncio.StreamReader, header: int, size_of: Callable[[bytes], int]
) -> bytes:
    """A length-prefixed message: `size_of(header bytes)` gives its whole size."""
    head = await scan.net.read_exactly(reader, header)
    size = size_of(head)
    if not header <= size <= READ_LIMIT:
        raise ProtocolMismatch(f"announced message size {size} is out of bounds")
    return head + await scan.net.read_exactly(reader, size - header)


# ---------------------------------------------------------------- greeting services


def _greeting_line(data: bytes) -> bytes:
    return data.split(b"\n", 1)[0].rstrip(b"\r")


_SSH_IDENT = re.compile(rb"(?:^|\n)SSH-[^\n]*\n")
_LINE_END = re.compile(rb"\n")


async def _greeting(target: ServiceTarget, scan: ScanContext, done: re.Pattern[bytes]) -> bytes:
    """What a speak-first service says, up to the first `done` match (or EOF, or a cap)."""
    async with scan.net.tcp(target.ip, target.port, name=target.host, limit=READ_LIMIT) as (
        reader,
        _,
    ):
        return await _read_until(scan, reader, lambda d: done.search(d) is not None, _LINE_LIMIT)


async def _ssh(target: ServiceTarget, scan: ScanContext) -> Answer:
    if target.banner and target.banner.startswith("SSH-"):
        return Answer("ssh", "greeting (discovery)", target.banner[:BANNER_LIMIT])
    # RFC 4253 4.2: other lines may precede the identification, which ends with CR LF.
    data = await _greeting(target, scan, _SSH_IDENT)
    for line in data.split(b"\n"):
        if line.startswith(b"SSH-"):
            return Answer("ssh", "greeting", _text(line), evidence=data)
    raise ProtocolMismatch(_mismatch("an SSH identification", data))


def _reply_text(line: str) -> str:
    """An FTP/SMTP reply line without its code: "220 " and "220-" are not the banner."""
    return re.sub(r"^\d{3}[ -]?", "", line, count=1)


async def _code_220(target: ServiceTarget, scan: ScanContext, protocol: str) -> Answer:
    if target.banner and target.banner.startswith("220"):
        banner = _reply_text(target.banner)[:BANNER_LIMIT]
        return Answer(protocol, "greeting (discovery)", banner)
    data = await _greeting(target, scan, _LINE_END)
    if not data.startswith(b"220"):
        raise ProtocolMismatch(_mismatch(f"an {protocol.upper()} 220 greeting", data))
    detected = protocol_of(target.port, data)
    corrected = detected if detected in ("smtp", "ftp") else protocol
    return Answer(corrected, "greeting", _reply_text(_text(_greeting_line(data))), evidence=data)


async def _ftp(target: ServiceTarget, scan: ScanContext) -> Answer:
    return await _code_220(target, scan, "ftp")


async def _smtp(target: ServiceTarget, scan: ScanContext) -> Answer:
    return await _code_220(target, scan, "smtp")


def _mismatch(expected: str, data: bytes) -> str:
    if not data:
        return f"expected {expected}, the service sent nothing"
    sniffed = sniff(data)
    said = f" (it speaks {sniffed})" if sniffed else ""
    return f"expected {expected}, got {excerpt(data[:48], 64)!s}{said}"


def sniff(data: bytes) -> str | None:
    """The protocol an unexpected answer belongs to, when it is a well-known one."""
    head = data[:16]
    if head.startswith(b"SSH-"):
        return "ssh"
    if head.startswith(b"RFB "):
        return "vnc"
    if head.startswith(b"HTTP/"):
        return "http"
    if head.startswith((b"* OK", b"* PREAUTH", b"+OK")):
        return greeting_protocol(data.split(b"\n", 1)[0].decode("latin-1").rstrip("\r"))
    if head.startswith(b"220"):
        detected = protocol_of(0, data)
        return detected if detected != "unknown" else "smtp"
    if head[:1] in (b"\x15", b"\x16") and head[1:2] == b"\x03":
        return "tls"
    if head.startswith(b"\xff") and len(head) > 1 and head[1] in (251, 252, 253, 254):
        return "telnet"
    return None


async def _unknown(target: ServiceTarget, scan: ScanContext) -> Answer:
    """A port outside the curated table: whatever it says first, and what that is."""
    data = await _greeting(target, scan, _LINE_END)
    protocol = sniff(data) or "unknown"
    banner = _text(_greeting_line(data)) if data else None
    return Answer(protocol, "greeting", banner, evidence=data)


# ---------------------------------------------------------------- IMAP, POP3, SMTPS


async def _mail(target: ServiceTarget, scan: ScanContext) -> Answer:
    """IMAP and POP3 greet first, as SMTP does; behind implicit TLS (SMTPS, IMAPS, POP3S:
    465, 993, 995) the greeting follows the handshake. The greeting says which it is."""
    implicit = target.protocol in IMPLICIT_TLS_PROTOCOLS
    if not implicit and target.banner:
        line, data, probe = target.banner, b"", "greeting (discovery)"
    else:
        tls = permissive_context() if implicit else None
        async with scan.net.tcp(
            target.ip, target.port, name=target.host, tls=tls, limit=READ_LIMIT
        ) as (reader, _):
            # Connected (and, for implicit TLS, the handshake done within the connect
            # timeout): from here the exchange has the family's usual bound.
            async with asyncio.timeout(2 * scan.config.timeouts.read):
                data = await _read_until(scan, reader, lambda d: b"\n" in d, _LINE_LIMIT)
        line = _greeting_line(data).decode("latin-1")
        probe = "greeting after TLS" if implicit else "greeting"
    found = greeting_protocol(line)
    if found is None:
        raise ProtocolMismatch(_mismatch(f"a {target.protocol} greeting", data or line.encode()))
    banner = excerpt(greeting_text(found, line), BANNER_LIMIT)
    protocol = f"{found}s" if implicit else found
    return Answer(protocol, probe, banner, evidence=data, product_family=found)


# ---------------------------------------------------------------- Telnet

_IAC, _DONT, _DO, _WONT, _WILL, _SB, _SE = 255, 254, 253, 252, 251, 250, 240
_LOGIN_PROMPT = re.compile(rb"(?:login|username|user name|password)\s*:\s*$", re.I)


def telnet_split(data: bytes) -> tuple[bytes, bytes]:
    """(text, refusals): the printable text, and a WONT/DONT for every option asked.

    Refusing every option makes telnetd go straight to the login prompt.
    """
    text, answer = bytearray(), bytearray()
    i = 0
    while i < len(data):
        byte = data[i]
        if byte != _IAC:
            text.append(byte)
            i += 1
            continue
        verb = data[i + 1] if i + 1 < len(data) else None
        if verb in (_DO, _DONT, _WILL, _WONT) and i + 2 < len(data):
            if verb in (_DO, _WILL):
                answer += bytes([_IAC, _WONT if verb == _DO else _DONT, data[i + 2]])
            i += 3
        elif verb == _SB:
            end = data.find(bytes([_IAC, _SE]), i + 2)
            i = len(data) if end < 0 else end + 2
        else:
            i += 2
    return bytes(text), bytes(answer)


async def _telnet(target: ServiceTarget, scan: ScanContext) -> Answer:
    async with scan.net.tcp(target.ip, target.port, name=target.host, limit=READ_LIMIT) as (
        reader,
        writer,
    ):
        received = b""
        while len(received) < _LINE_LIMIT:
            chunk = await _read_quietly(scan, reader, _LINE_LIMIT - len(received), received)
            if not chunk:
                break
            received += chunk
            _, refusals = telnet_split(chunk)
            if refusals:
                writer.write(refusals)
            if _LOGIN_PROMPT.search(telnet_split(received)[0].rstrip()):
                break
    return _telnet_answer(received)


async def _read_quietly(
    scan: ScanContext, reader: asyncio.StreamReader, limit: int, received: bytes
) -> bytes:
    """The next chunk; b"" when a server that already spoke falls silent."""
    try:
        return await scan.net.read(reader, limit)
    except TimeoutError:
        if received:
            return b""
        raise


def _telnet_answer(received: bytes) -> Answer:
    text, _ = telnet_split(received)
    negotiated = received.startswith(bytes([_IAC]))
    if not negotiated and not _LOGIN_PROMPT.search(text.rstrip()):
        raise ProtocolMismatch(_mismatch("Telnet negotiation or a login prompt", received))
    lines = [line.strip() for line in text.replace(b"\r", b"\n").split(b"\n")]
    issue = [line for line in lines if line and not _LOGIN_PROMPT.search(line)]
    banner = _text(b"\n".join(issue)) if issue else None
    details = {"negotiates_options": negotiated, "login_prompt": bool(_LOGIN_PROMPT.search(text))}
    return Answer("telnet", "telnet negotiation", banner, details, received)


# ---------------------------------------------------------------- MySQL

_MYSQL_CLIENT_SSL = 0x0800


async def _mysql(target: ServiceTarget, scan: ScanContext) -> Answer:
    async with scan.net.tcp(target.ip, target.port, name=target.host, limit=READ_LIMIT) as (
        reader,
        _,
    ):
        packet = await _read_message(scan, reader, 4, lambda h: 4 + int.from_bytes(h[:3], "little"))
    return mysql_answer(packet)


def mysql_answer(packet: bytes) -> Answer:
    """The server's first packet: a protocol-10 handshake, or an error (host refused)."""
    payload = packet[4:]
    if payload[:1] == b"\xff":  # ERR packet: code, message ("Host ... is not allowed ...")
        message = excerpt(payload[3:].lstrip(b"#")[:200], 200)
        return Answer("mysql", "handshake", None, {"error": message}, packet)
    if payload[:1] != b"\x0a" or b"\x00" not in payload[1:64]:
        raise ProtocolMismatch(_mismatch("a MySQL handshake", packet))
    version, _, rest = payload[1:].partition(b"\x00")
    if not re.fullmatch(rb"[\x20-\x7e]{1,60}", version):
        raise ProtocolMismatch("MySQL handshake with a non-printable server version")
    # connection id (4), scramble part 1 (8), filler (1), then the lower capability flags.
    capabilities = struct.unpack_from("<H", rest, 13)[0] if len(rest) >= 15 else 0
    details = {"tls": bool(capabilities & _MYSQL_CLIENT_SSL)}
    return Answer("mysql", "handshake", version.decode("ascii"), details, packet)


# ---------------------------------------------------------------- PostgreSQL

_PG_SSL_REQUEST = struct.pack(">II", 8, 80877103)
_PG_AUTH = {0: "none (trust)", 3: "cleartext password", 5: "md5", 10: "sasl (scram)"}


def _pg_startup() -> bytes:
    params = b"user\x00utsyn\x00database\x00utsyn\x00application_name\x00utsyn-scan\x00\x00"
    return struct.pack(">II", 8 + len(params), 196608) + params  # protocol 3.0


async def _postgres(target: ServiceTarget, scan: ScanContext) -> Answer:
    """SSLRequest, then (when refused) a StartupMessage: PostgreSQL names no version, but
    whether it offers TLS and how it treats a stranger are risk facts."""
    async with scan.net.tcp(target.ip, target.port, name=target.host, limit=READ_LIMIT) as (
        reader,
        writer,
    ):
        writer.write(_PG_SSL_REQUEST)
        choice = await scan.net.read_exactly(reader, 1)
        if choice == b"S":
            return Answer("postgres", "SSLRequest", None, {"tls": True}, choice)
        if choice != b"N":
            rest = b"" if choice != b"E" else await _pg_rest(scan, reader, choice)
            return _pg_error_or_mismatch(choice + rest, tls=False)
        writer.write(_pg_startup())
        message = await _read_message(scan, reader, 5, lambda h: 1 + struct.unpack(">I", h[1:])[0])
    return _pg_reply(message)


async def _pg_rest(scan: ScanContext, reader: asyncio.StreamReader, first: bytes) -> bytes:
    head = await scan.net.read_exactly(reader, 4)
    size = struct.unpack(">I", head)[0]
    if not 4 <= size <= READ_LIMIT:
        raise ProtocolMismatch(f"announced message size {size} is out of bounds")
    return head + await scan.net.read_exactly(reader, size - 4)


def _pg_reply(message: bytes) -> Answer:
    kind = message[:1]
    if kind == b"R" and len(message) >= 9:
        code = struct.unpack_from(">I", message, 5)[0]
        auth = _PG_AUTH.get(code, f"method {code}")
        return Answer("postgres", "StartupMessage", None, {"tls": False, "auth": auth}, message)
    return _pg_error_or_mismatch(message, tls=False)


def _pg_error_or_mismatch(message: bytes, tls: bool) -> Answer:
    if message[:1] != b"E" or len(message) < 6:
        raise ProtocolMismatch(_mismatch("a PostgreSQL answer", message))
    fields = pg_fields(message[5:])
    details: dict[str, Any] = {"tls": tls, "error_code": fields.get("C")}
    details["message"] = fields.get("M")
    # The non-localised severity (V) was added in PostgreSQL 9.6.
    details["version_hint"] = ">=9.6" if "V" in fields else None
    return Answer("postgres", "StartupMessage", None, details, message)


def pg_fields(body: bytes) -> dict[str, str]:
    """ErrorResponse fields (code letter → text), each capped."""
    fields: dict[str, str] = {}
    for part in body.split(b"\x00"):
        if len(part) >= 2 and len(fields) < 32:
            fields[chr(part[0])] = excerpt(part[1:301], 300)
    return fields


# ---------------------------------------------------------------- Redis

_REDIS_INFO = b"*2\r\n$4\r\nINFO\r\n$6\r\nserver\r\n"


async def _redis(target: ServiceTarget, scan: ScanContext) -> Answer:
    async with scan.net.tcp(target.ip, target.port, name=target.host, limit=READ_LIMIT) as (
        reader,
        writer,
    ):
        writer.write(_REDIS_INFO)
        head = await _read_until(scan, reader, lambda d: b"\r\n" in d, 128)
        if head.startswith(b"-"):
            error = _text(_greeting_line(head))
            return Answer("redis", "INFO server", None, {"auth_required": True, "error": error})
        if not re.match(rb"\$\d{1,9}\r\n", head):
            raise ProtocolMismatch(_mismatch("a Redis reply", head))
        size = int(head[1 : head.index(b"\r\n")])
        wanted = min(size, READ_LIMIT) + len(head[: head.index(b"\r\n") + 2])
        body = await _read_until(scan, reader, lambda d: len(head) + len(d) >= wanted, READ_LIMIT)
    return redis_answer(head + body)


def redis_answer(reply: bytes) -> Answer:
    info = dict(
        line.split(b":", 1) for line in reply.split(b"\r\n") if b":" in line and len(line) < 512
    )
    version = info.get(b"redis_version")
    if version is None or not re.fullmatch(rb"[\w.+-]{1,40}", version):
        raise ProtocolMismatch("Redis INFO without a readable redis_version")
    details = {"auth_required": False, "mode": _text(info.get(b"redis_mode", b"")) or None}
    return Answer("redis", "INFO server", version.decode(), details, reply[:512])


# ---------------------------------------------------------------- MongoDB and BSON

_OP_REPLY, _OP_QUERY, _OP_MSG = 1, 2004, 2013
_BSON_DEPTH = 16


def bson_document(pairs: dict[str, int | str]) -> bytes:
    """A flat BSON document of int32 and string values: all a handshake needs."""
    body = b""
    for key, value in pairs.items():
        name = key.encode() + b"\x00"
        if isinstance(value, int):
            body += b"\x10" + name + struct.pack("<i", value)
        else:
            data = value.encode() + b"\x00"
            body += b"\x02" + name + struct.pack("<i", len(data)) + data
    return struct.pack("<i", len(body) + 5) + body + b"\x00"


def bson_decode(data: bytes, depth: int = 0) -> dict[str, Any]:
    """One BSON document; ValueError or struct.error on anything malformed."""
    if depth > _BSON_DEPTH:
        raise ValueError("BSON nested too deeply")
    length = struct.unpack_from("<i", data)[0]
    if length < 5 or length > len(data) or data[length - 1] != 0:
        raise ValueError("bad BSON document length")
    document: dict[str, Any] = {}
    pos = 4
    while pos < length - 1:
        end = data.index(b"\x00", pos + 1, length)
        key = data[pos + 1 : end].decode("utf-8", "replace")
        document[key], pos = _bson_value(data[pos], data, end + 1, depth)
    return document


_BSON_FIXED = {0x01: "<d", 0x09: "<q", 0x10: "<i", 0x11: "<Q", 0x12: "<q"}
_BSON_SKIP = {0x07: 12, 0x0A: 0, 0x13: 16, 0x7F: 0, 0xFF: 0}


def _bson_value(kind: int, data: bytes, pos: int, depth: int) -> tuple[Any, int]:
    if kind in _BSON_FIXED:
        fmt = _BSON_FIXED[kind]
        return struct.unpack_from(fmt, data, pos)[0], pos + struct.calcsize(fmt)
    if kind in _BSON_SKIP:
        return None, pos + _BSON_SKIP[kind]
    if kind == 0x08:
        return data[pos] != 0, pos + 1
    size = struct.unpack_from("<i", data, pos)[0]
    if size < 0 or pos + size > len(data):
        raise ValueError("BSON value runs past its document")
    if kind == 0x02:
        return data[pos + 4 : pos + 3 + size].decode("utf-8", "replace"), pos + 4 + size
    if kind in (0x03, 0x04):
        inner = bson_decode(data[pos : pos + size], depth + 1)
        return (inner if kind == 0x03 else list(inner.values())), pos + size
    if kind == 0x05:
        return None, pos + 5 + size
    raise ValueError(f"BSON type {kind:#x} not supported")


def _mongo_query(request_id: int, command: dict[str, int | str]) -> bytes:
    body = struct.pack("<i", 0) + b"admin.$cmd\x00" + struct.pack("<ii", 0, -1)
    body += bson_document(command)
    return struct.pack("<iiii", 16 + len(body), request_id, 0, _OP_QUERY) + body


def _mongo_msg(request_id: int, command: dict[str, int | str]) -> bytes:
    body = struct.pack("<I", 0) + b"\x00" + bson_document({**command, "$db": "admin"})
    return struct.pack("<iiii", 16 + len(body), request_id, 0, _OP_MSG) + body


def mongo_reply(message: bytes) -> dict[str, Any]:
    """The document of an OP_REPLY or OP_MSG reply."""
    op_code = struct.unpack_from("<i", message, 12)[0]
    if op_code == _OP_REPLY:
        return bson_decode(message[16 + 20 :])  # flags, cursor id, start, count
    if op_code == _OP_MSG and message[20:21] == b"\x00":
        return bson_decode(message[21:])
    raise ProtocolMismatch(f"MongoDB reply with opcode {op_code}")


async def _mongodb(target: ServiceTarget, scan: ScanContext) -> Answer:
    """isMaster over OP_QUERY (every release answers it), then buildInfo over OP_MSG from
    3.6 (wire version 6) on, OP_QUERY before: 5.1+ accepts OP_QUERY for the handshake only."""
    async with scan.net.tcp(target.ip, target.port, name=target.host, limit=READ_LIMIT) as (
        reader,
        writer,
    ):
        hello = await _mongo_exchange(scan, reader, writer, _mongo_query(1, {"isMaster": 1}))
        wire = hello.get("maxWireVersion")
        if not isinstance(wire, int):
            raise ProtocolMismatch("MongoDB isMaster without maxWireVersion")
        build = _mongo_msg(2, {"buildInfo": 1}) if wire >= 6 else _mongo_query(2, {"buildInfo": 1})
        info = await _mongo_exchange(scan, reader, writer, build)
    version = info.get("version")
    details: dict[str, Any] = {"max_wire_version": wire}
    details["build_info_readable"] = isinstance(version, str)
    if not isinstance(version, str) or not re.fullmatch(r"[\w.+-]{1,40}", version):
        details["error"] = excerpt(str(info.get("errmsg", "no version in buildInfo")), 200)
        return Answer("mongodb", "isMaster, buildInfo", None, details)
    return Answer("mongodb", "isMaster, buildInfo", version, details)


async def _mongo_exchange(
    scan: ScanContext,
    reader: asyncio.StreamReader,
    writer: asyncio.StreamWriter,
    request: bytes,
) -> dict[str, Any]:
    writer.write(request)
    message = await _read_message(scan, reader, 16, lambda h: struct.unpack_from("<i", h)[0])
    return mongo_reply(message)


# ---------------------------------------------------------------- Elasticsearch


async def _elasticsearch(target: ServiceTarget, scan: ScanContext) -> Answer:
    request = (
        f"GET / HTTP/1.1\r\nHost: {target.host}:{target.port}\r\n"
        f"User-Agent: {scan.config.user_agent}\r\nAccept: application/json\r\n"
        "Connection: close\r\n\r\n"
    ).encode()
    async with scan.net.tcp(target.ip, target.port, name=target.host, limit=READ_LIMIT) as (
        reader,
        writer,
    ):
        writer.write(request)
        response = await _read_until(scan, reader, _http_complete, READ_LIMIT)
    return elasticsearch_answer(response)


def _http_complete(data: bytes) -> bool:
    head, sep, body = data.partition(b"\r\n\r\n")
    if not sep:
        return False
    match = re.search(rb"(?im)^content-length:\s*(\d{1,9})\s*$", head)
    return match is not None and len(body) >= int(match[1])


def elasticsearch_answer(response: bytes) -> Answer:
    head, _, body = response.partition(b"\r\n\r\n")
    status = re.match(rb"HTTP/1\.[01] (\d{3})", head)
    if status is None:
        raise ProtocolMismatch(_mismatch("an HTTP answer", response))
    code = int(status[1])
    if code == 401:  # security enabled: the version is not shown to strangers
        realm = b'realm="security"' in head
        protocol = "elasticsearch" if realm else "http"
        return Answer(protocol, "GET /", None, {"auth_required": True, "status": code}, head)
    document = _json_object(body)
    version = document.get("version") if document else None
    number = version.get("number") if isinstance(version, dict) else None
    if not isinstance(number, str) or not re.fullmatch(r"[\w.+-]{1,40}", number):
        return Answer("http", "GET /", None, {"status": code}, head)  # HTTP, but not this
    # OpenSearch answers in Elasticsearch's dialect: the same kind, another product.
    distribution = version.get("distribution") if isinstance(version, dict) else None
    family = "opensearch" if distribution == "opensearch" else "elasticsearch"
    details = {
        "auth_required": False,
        "cluster_name": _json_text(document, "cluster_name"),
        "distribution": family,
    }
    return Answer("elasticsearch", "GET /", number, details, response[:1024], family)


def _json_object(body: bytes) -> dict[str, Any] | None:
    try:
        value = json.loads(body.decode("utf-8", "replace"))
    except ValueError:
        return None
    return value if isinstance(value, dict) else None


def _json_text(document: dict[str, Any] | None, key: str) -> str | None:
    value = document.get(key) if document else None
    return excerpt(value, 200) if isinstance(value, str) else None


# ---------------------------------------------------------------- memcached


async def _memcached(target: ServiceTarget, scan: ScanContext) -> Answer:
    async with scan.net.tcp(target.ip, target.port, name=target.host, limit=READ_LIMIT) as (
        reader,
        writer,
    ):
        writer.write(b"version\r\n")
        line = await _read_until(scan, reader, lambda d: b"\n" in d, 256)
    match = re.match(rb"VERSION ([\w.+-]{1,40})\r?\n", line)
    if match is None:
        raise ProtocolMismatch(_mismatch("a memcached VERSION reply", line))
    # memcached has no authentication unless built with SASL: answering is exposure.
    return Answer("memcached", "version", match[1].decode(), {"auth_required": False}, line)


# ---------------------------------------------------------------- MSSQL

_ENCRYPTION = {0: "off", 1: "on", 2: "not supported", 3: "required"}


def mssql_prelogin() -> bytes:
    """A TDS PRELOGIN (MS-TDS 2.2.6.5): version, encryption off, default instance."""
    options = [(0, b"\x00" * 6), (1, b"\x00"), (2, b"\x00"), (3, b"\x00" * 4), (4, b"\x00")]
    offset = 5 * len(options) + 1
    table, data = b"", b""
    for token, value in options:
        table += struct.pack(">BHH", token, offset + len(data), len(value))
        data += value
    payload = table + b"\xff" + data
    return struct.pack(">BBHHBB", 0x12, 1, 8 + len(payload), 0, 0, 0) + payload


async def _mssql(target: ServiceTarget, scan: ScanContext) -> Answer:
    async with scan.net.tcp(target.ip, target.port, name=target.host, limit=READ_LIMIT) as (
        reader,
        writer,
    ):
        writer.write(mssql_prelogin())
        packet = await _read_message(scan, reader, 8, lambda h: struct.unpack_from(">H", h, 2)[0])
    return mssql_answer(packet)


def mssql_answer(packet: bytes) -> Answer:
    if packet[0] != 0x04:
        raise ProtocolMismatch(_mismatch("a TDS response", packet))
    options = _prelogin_options(packet[8:])
    if 0 not in options or len(options[0]) < 6:
        raise ProtocolMismatch("PRELOGIN response without a version")
    major, minor, build, sub = struct.unpack(">BBHH", options[0][:6])
    encryption = options.get(1, b"")[:1]
    details = {"encryption": _ENCRYPTION.get(encryption[0], "unknown") if encryption else None}
    return Answer("mssql", "PRELOGIN", f"{major}.{minor}.{build}.{sub}", details, packet)


def _prelogin_options(payload: bytes) -> dict[int, bytes]:
    options: dict[int, bytes] = {}
    for pos in range(0, min(len(payload), 5 * 16), 5):
        if payload[pos] == 0xFF:
            return options
        if pos + 5 > len(payload):
            break
        token, offset, length = struct.unpack_from(">BHH", payload, pos)
        options[token] = payload[offset : offset + length]
    raise ProtocolMismatch("PRELOGIN option table without a terminator")


# ---------------------------------------------------------------- LDAP (BER)


def ber(tag: int, content: bytes) -> bytes:
    size = len(content)
    if size < 0x80:
        return bytes([tag, size]) + content
    length = size.to_bytes((size.bit_length() + 7) // 8, "big")
    return bytes([tag, 0x80 | len(length)]) + length + content


def ber_items(data: bytes) -> list[tuple[int, bytes]]:
    """The TLVs that make up `data` (one level); ValueError when malformed."""
    items: list[tuple[int, bytes]] = []
    pos = 0
    while pos < len(data):
        if pos + 2 > len(data):
            raise ValueError("truncated BER header")
        tag, first = data[pos], data[pos + 1]
        pos += 2
        size = first
        if first & 0x80:
            count = first & 0x7F
            if not 1 <= count <= 4:
                raise ValueError("unsupported BER length")
            size = int.from_bytes(data[pos : pos + count], "big")
            pos += count
        if pos + size > len(data):
            raise ValueError("BER value runs past its container")
        items.append((tag, data[pos : pos + size]))
        pos += size
    return items


_ROOT_DSE_ATTRIBUTES = ("vendorName", "vendorVersion", "namingContexts", "supportedLDAPVersion")


def ldap_root_dse_request() -> bytes:
    """searchRequest: base "", scope base, (objectClass=*), a few rootDSE attributes."""
    attributes = b"".join(ber(0x04, a.encode()) for a in _ROOT_DSE_ATTRIBUTES)
    search = ber(0x04, b"") + ber(0x0A, b"\x00") + ber(0x0A, b"\x00")
    search += ber(0x02, b"\x00") + ber(0x02, b"\x00") + ber(0x01, b"\x00")
    search += ber(0x87, b"objectClass") + ber(0x30, attributes)
    return ber(0x30, ber(0x02, b"\x01") + ber(0x63, search))


def _ber_size(head: bytes) -> int:
    first = head[1]
    if not first & 0x80:
        return 2 + first
    count = first & 0x7F
    if not 1 <= count <= 4:
        raise ProtocolMismatch(_mismatch("an LDAP message", head))
    return 2 + count + int.from_bytes(head[2 : 2 + count], "big")


async def _ldap(target: ServiceTarget, scan: ScanContext) -> Answer:
    async with scan.net.tcp(target.ip, target.port, name=target.host, limit=READ_LIMIT) as (
        reader,
        writer,
    ):
        writer.write(ldap_root_dse_request())
        messages: list[bytes] = []
        for _ in range(4):  # the entry, then searchResDone; referrals are not followed
            messages.append(await _read_ldap(scan, reader))
            if ber_items(ber_items(messages[-1])[0][1])[1][0] == 0x65:
                break
    return ldap_answer(messages)


async def _read_ldap(scan: ScanContext, reader: asyncio.StreamReader) -> bytes:
    head = await scan.net.read_exactly(reader, 2)
    if head[0] != 0x30:
        raise ProtocolMismatch(_mismatch("an LDAP message", head))
    extra = head[1] & 0x7F if head[1] & 0x80 else 0
    head += await scan.net.read_exactly(reader, extra) if extra else b""
    size = _ber_size(head)
    if size > READ_LIMIT:
        raise ProtocolMismatch(f"announced message size {size} is out of bounds")
    return head + await scan.net.read_exactly(reader, size - len(head))


def ldap_answer(messages: list[bytes]) -> Answer:
    attributes: dict[str, list[str]] = {}
    done = None
    for message in messages:
        (_, content), *_ = ber_items(message)
        _, (op, body), *_ = ber_items(content)
        if op == 0x64:
            attributes.update(_ldap_attributes(body))
        elif op == 0x65:
            done = int.from_bytes(ber_items(body)[0][1], "big")
    if not attributes and done is None:
        raise ProtocolMismatch("LDAP answer without a search result")
    version = _first(attributes.get("vendorversion"))
    details = {
        "root_dse_readable": bool(attributes),
        "vendor_name": _first(attributes.get("vendorname")),
        "naming_contexts": attributes.get("namingcontexts", [])[:16],
        "result_code": done,
    }
    return Answer("ldap", "rootDSE search", version, details, messages[0][:1024])


def _first(values: list[str] | None) -> str | None:
    return values[0] if values else None


def _ldap_attributes(entry: bytes) -> dict[str, list[str]]:
    (_, _dn), (_, attribute_list), *_ = ber_items(entry)
    found: dict[str, list[str]] = {}
    for _, attribute in ber_items(attribute_list)[:64]:
        (_, name), (_, values), *_ = ber_items(attribute)
        texts = [excerpt(v, BANNER_LIMIT) for _, v in ber_items(values)[:32]]
        found[name.decode("utf-8", "replace").lower()] = texts
    return found


# ---------------------------------------------------------------- RDP

_RDP_FAILURES = {
    1: "ssl_required",
    2: "ssl_not_allowed",
    3: "cert_not_on_server",
    4: "inconsistent_flags",
    5: "hybrid_required",
    6: "ssl_with_user_auth_required",
}
_RDP_PROTOCOLS = {0: "rdp", 1: "ssl", 2: "hybrid", 4: "rdstls", 8: "hybrid_ex"}


def rdp_connection_request() -> bytes:
    """X.224 Connection Request with an RDP_NEG_REQ offering standard RDP security only.

    Offering only the legacy protocol makes the server say what it insists on: a server
    that accepts is open to the weak standard security; one that refuses names NLA or TLS.
    """
    negotiation = struct.pack("<BBHI", 0x01, 0, 8, 0)
    x224 = b"\xe0\x00\x00\x00\x00\x00" + negotiation
    return struct.pack(">BBH", 3, 0, 5 + len(x224)) + bytes([len(x224)]) + x224


async def _rdp(target: ServiceTarget, scan: ScanContext) -> Answer:
    async with scan.net.tcp(target.ip, target.port, name=target.host, limit=READ_LIMIT) as (
        reader,
        writer,
    ):
        writer.write(rdp_connection_request())
        packet = await _read_message(scan, reader, 4, lambda h: struct.unpack_from(">H", h, 2)[0])
    return rdp_answer(packet)


def rdp_answer(packet: bytes) -> Answer:
    if packet[0] != 3 or len(packet) < 11 or packet[5] & 0xF0 != 0xD0:
        raise ProtocolMismatch(_mismatch("an X.224 Connection Confirm", packet))
    negotiation = packet[11:19]
    details: dict[str, Any] = {"standard_rdp_security": True, "nla_required": False}
    if len(negotiation) == 8 and negotiation[0] == 0x03:  # RDP_NEG_FAILURE
        code = struct.unpack_from("<I", negotiation, 4)[0]
        failure = _RDP_FAILURES.get(code, f"code {code}")
        details = {"standard_rdp_security": False, "nla_required": code in (5, 6)}
        details["refusal"] = failure
    elif len(negotiation) == 8 and negotiation[0] == 0x02:  # RDP_NEG_RSP
        selected = struct.unpack_from("<I", negotiation, 4)[0]
        details["selected"] = _RDP_PROTOCOLS.get(selected, str(selected))
    return Answer("rdp", "X.224 connection request", None, details, packet)


# ---------------------------------------------------------------- SMB

_SMB2_DIALECTS = (0x0202, 0x0210, 0x0300, 0x0302, 0x0311)


def smb2_negotiate() -> bytes:
    """SMB2 NEGOTIATE (MS-SMB2 2.2.3) offering 2.0.2 to 3.1.1, in a NetBIOS frame.

    3.1.1 obliges the client to send a preauth-integrity context (SHA-512), and servers
    reject a request without one, so it is included with an encryption context.
    """
    header = struct.pack(
        "<4sHHIHHIIQIIQ16s", b"\xfeSMB", 64, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, b"\x00" * 16
    )
    dialects = struct.pack(f"<{len(_SMB2_DIALECTS)}H", *_SMB2_DIALECTS)
    context_offset = (64 + 36 + len(dialects) + 7) // 8 * 8
    preauth = struct.pack("<HHH", 1, 32, 0x0001) + b"\x55" * 32
    ciphers = struct.pack("<HHH", 2, 0x0002, 0x0001)  # AES-128-GCM, AES-128-CCM
    contexts = _smb2_context(1, preauth)
    contexts += b"\x00" * (-len(contexts) % 8) + _smb2_context(2, ciphers)
    body = struct.pack(
        "<HHHHI16sIHH",
        36,
        len(_SMB2_DIALECTS),
        0x01,
        0,
        0x7F,
        b"utsyn-scan-probe",
        context_offset,
        2,
        0,
    )
    message = header + body + dialects
    message += b"\x00" * (context_offset - len(message)) + contexts
    return struct.pack(">I", len(message)) + message


def _smb2_context(kind: int, data: bytes) -> bytes:
    return struct.pack("<HHI", kind, len(data), 0) + data


async def _smb(target: ServiceTarget, scan: ScanContext) -> Answer:
    async with scan.net.tcp(target.ip, target.port, name=target.host, limit=READ_LIMIT) as (
        reader,
        writer,
    ):
        writer.write(smb2_negotiate())
        frame = await _read_message(scan, reader, 4, lambda h: 4 + int.from_bytes(h[1:], "big"))
    return smb_answer(frame[4:])


def smb_answer(message: bytes) -> Answer:
    if message.startswith(b"\xffSMB"):
        return Answer("smb", "SMB2 negotiate", None, {"smb1_only": True}, message[:256])
    if not message.startswith(b"\xfeSMB") or len(message) < 64 + 8:
        raise ProtocolMismatch(_mismatch("an SMB2 response", message))
    status = struct.unpack_from("<I", message, 8)[0]
    if status != 0:
        return Answer("smb", "SMB2 negotiate", None, {"status": f"{status:#010x}"}, message[:256])
    security_mode, dialect = struct.unpack_from("<HH", message, 66)
    details = {
        "smb1_only": False,
        "dialect": f"{dialect >> 8}.{(dialect >> 4) & 0xF}.{dialect & 0xF}",
        "signing_required": bool(security_mode & 0x02),
    }
    return Answer("smb", "SMB2 negotiate", None, details, message[:256])


# ---------------------------------------------------------------- VNC

_VNC_SECURITY = {1: "none", 2: "vnc", 16: "tight", 18: "tls", 19: "vencrypt", 30: "apple"}


async def _vnc(target: ServiceTarget, scan: ScanContext) -> Answer:
    async with scan.net.tcp(target.ip, target.port, name=target.host, limit=READ_LIMIT) as (
        reader,
        writer,
    ):
        ident = await scan.net.read_exactly(reader, 12)
        match = re.fullmatch(rb"RFB (\d{3})\.(\d{3})\n", ident)
        if match is None:
            raise ProtocolMismatch(_mismatch("an RFB protocol version", ident))
        minor = min(int(match[2]), 8) if int(match[1]) == 3 else 8
        writer.write(b"RFB 003.%03d\n" % minor)
        types = await _vnc_security_types(scan, reader, minor)
    names = [_VNC_SECURITY.get(t, str(t)) for t in types]
    details = {"security_types": names, "no_auth": 1 in types}
    return Answer("vnc", "RFB handshake", ident.decode("ascii").strip(), details, ident)


async def _vnc_security_types(
    scan: ScanContext, reader: asyncio.StreamReader, minor: int
) -> list[int]:
    if minor < 7:  # RFB 3.3: the server picks one type, as a 32-bit number
        return [struct.unpack(">I", await scan.net.read_exactly(reader, 4))[0]]
    count = (await scan.net.read_exactly(reader, 1))[0]
    if count == 0:  # a refusal follows: length and reason
        size = struct.unpack(">I", await scan.net.read_exactly(reader, 4))[0]
        reason = await scan.net.read_exactly(reader, min(size, 256))
        raise ProtocolMismatch(f"VNC server refused the connection: {excerpt(reason, 200)}")
    return list(await scan.net.read_exactly(reader, count))


_PROBES: dict[str, Probe] = {
    "ssh": _ssh,
    "ftp": _ftp,
    "smtp": _smtp,
    "imap": _mail,
    "pop3": _mail,
    "smtps": _mail,
    "imaps": _mail,
    "pop3s": _mail,
    "telnet": _telnet,
    "mysql": _mysql,
    "postgres": _postgres,
    "redis": _redis,
    "mongodb": _mongodb,
    "elasticsearch": _elasticsearch,
    "memcached": _memcached,
    "mssql": _mssql,
    "ldap": _ldap,
    "rdp": _rdp,
    "smb": _smb,
    "vnc": _vnc,
}
