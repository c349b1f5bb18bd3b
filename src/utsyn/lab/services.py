"""Lab servers for the exposed non-web services: FTP, Telnet, databases, remote desktops, ...

Each server speaks just enough of the real protocol that a banner grabber, a version probe
and `nmap -sV` identify the product and version the manifest names, and then behaves like
the real server does for an unauthenticated stranger: it refuses the login, answers the
harmless commands, and closes on garbage or when the client goes quiet. Nothing is stored
and no real authentication happens; every read is bounded in size and in time.

`service_handler` picks the server from a table keyed by `ServiceKind`. The connection
plumbing (`Session`, `serve`) is shared with `lab/mail.py`. SSH is real SSH, in `lab/ssh.py`.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import hashlib
import itertools
import json
import logging
import os
import re
import struct
import time
import uuid
import zlib
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TypeAlias, TypeVar

from utsyn.lab.context import IDLE_TIMEOUT, Handler, LabContext
from utsyn.lab.manifest import Host, Service, ServiceKind

_log = logging.getLogger(__name__)
_T = TypeVar("_T")

# A client may send at most this much in one connection: enough for any probe or login
# attempt, small enough that a flood cannot grow the lab's memory.
MAX_SESSION_BYTES = 1 << 20
# Requests (commands, packets) answered per connection before the server hangs up.
MAX_REQUESTS = 200

# What each server reports when the manifest gives no banner: versions that were common
# on the Internet when the lab was written. RDP and SMB announce no version and ignore it.
DEFAULT_BANNERS: dict[ServiceKind, str] = {
    ServiceKind.SSH: "SSH-2.0-OpenSSH_8.9p1 Ubuntu-3ubuntu0.6",
    ServiceKind.FTP: "(vsFTPd 3.0.3)",
    ServiceKind.TELNET: "Debian GNU/Linux 11",
    ServiceKind.MYSQL: "8.0.36",
    ServiceKind.POSTGRES: "14.11",
    ServiceKind.REDIS: "6.0.16",
    ServiceKind.MONGODB: "4.4.6",
    ServiceKind.ELASTICSEARCH: "7.10.2",
    ServiceKind.MEMCACHED: "1.6.9",
    ServiceKind.LDAP: "389-Directory/1.4.4.17 B2021.224.1647",
    ServiceKind.VNC: "RFB 003.008",
    ServiceKind.MSSQL: "15.0.2000.5",
}


# ---------------------------------------------------------------- connection plumbing


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
    """`text` when it already starts with the reply code, else `code text`."""
    return text if re.match(rf"{code}[ -]", text) else f"{code} {text}"


def _stable_int(text: str, modulo: int) -> int:
    """A number derived from `text`, so one lab host always shows the same pid or id."""
    return zlib.crc32(text.encode()) % modulo


def _stable_hex(text: str, length: int) -> str:
    return hashlib.sha256(text.encode()).hexdigest()[:length]


def _version_tuple(text: str) -> tuple[int, ...]:
    match = re.search(r"\d+(?:\.\d+)*", text)
    return tuple(int(part) for part in match[0].split(".")) if match else ()


# ---------------------------------------------------------------- the table


ServerFactory = Callable[[Service, Host, LabContext], Serve]


def service_handler(
    service: Service, host: Host, ctx: LabContext, *, idle_timeout: float | None = None
) -> Handler:
    """The connection handler for one service of one lab host.

    HTTP(S), SMTP and the DNS resolver have their own modules and are refused here.
    """
    factory = _FACTORIES.get(service.kind)
    if factory is None:
        raise ValueError(f"no lab server in services.py for {service.kind} services")
    return serve(factory(service, host, ctx), idle_timeout_for(ctx, idle_timeout))


def _banner(service: Service) -> str:
    return service.banner if service.banner is not None else DEFAULT_BANNERS[service.kind]


def _short_name(host: Host) -> str:
    return host.name.split(".", 1)[0]


# ---------------------------------------------------------------- FTP


@dataclass(frozen=True)
class _FtpDialect:
    need_password: str  # {user}
    login_failed: str
    need_login: str
    unknown: str  # {command}
    system: str
    noop: str


_VSFTPD = _FtpDialect(
    need_password="331 Please specify the password.",
    login_failed="530 Login incorrect.",
    need_login="530 Please login with USER and PASS.",
    unknown="530 Please login with USER and PASS.",  # vsftpd says this to anything pre-login
    system="215 UNIX Type: L8",
    noop="200 NOOP ok.",
)
_PROFTPD = _FtpDialect(
    need_password="331 Password required for {user}",
    login_failed="530 Login incorrect.",
    need_login="530 Please login with USER and PASS",
    unknown="500 {command} not understood",
    system="215 UNIX Type: L8",
    noop="200 NOOP command successful",
)
_MS_FTP = _FtpDialect(
    need_password="331 Password required for {user}.",
    login_failed="530 User cannot log in.",
    need_login="530 Please login with USER and PASS.",
    unknown="500 '{command}': command not understood.",
    system="215 Windows_NT",
    noop="200 NOOP command successful.",
)
_FTP_FEATURES = "211-Features:\r\n EPRT\r\n EPSV\r\n MDTM\r\n PASV\r\n REST STREAM\r\n SIZE\r\n"
_FTP_FEATURES += " TVFS\r\n UTF8\r\n211 End\r\n"
_FTP_MAX_LOGIN_FAILS = 3  # vsftpd max_login_fails and ProFTPD MaxLoginAttempts default


def _ftp_dialect(banner: str) -> _FtpDialect:
    if "ProFTPD" in banner:
        return _PROFTPD
    if "Microsoft" in banner:
        return _MS_FTP
    return _VSFTPD


def _ftp(service: Service, host: Host, ctx: LabContext) -> Serve:
    greeting = reply_line(220, _banner(service)) + "\r\n"
    dialect = _ftp_dialect(greeting)

    async def session(s: Session) -> None:
        await s.send(greeting.encode())
        user: str | None = None
        failures = 0
        for _ in range(MAX_REQUESTS):
            line = (await s.read_line()).decode("latin-1").strip()
            verb, _, arg = line.partition(" ")
            verb = verb.upper()
            if verb == "QUIT":
                await s.send(b"221 Goodbye.\r\n")
                return
            if verb == "PASS" and user is not None:
                failures += 1
                await s.send(dialect.login_failed.encode() + b"\r\n")
                if failures >= _FTP_MAX_LOGIN_FAILS:
                    return
                user = None
                continue
            if verb == "USER":
                user = arg
            await s.send(_ftp_reply(dialect, verb, arg).encode())

    return session


def _ftp_reply(dialect: _FtpDialect, verb: str, arg: str) -> str:
    if verb == "USER":
        return dialect.need_password.format(user=arg) + "\r\n"
    if verb == "PASS":
        return "503 Login with USER first.\r\n"
    if verb == "SYST":
        return dialect.system + "\r\n"
    if verb == "FEAT":
        return _FTP_FEATURES
    if verb == "NOOP":
        return dialect.noop + "\r\n"
    if verb in {"AUTH", "PBSZ", "PROT", "HELP", "LIST", "RETR", "STOR", "CWD", "PWD", "PASV"}:
        return dialect.need_login + "\r\n"
    return dialect.unknown.format(command=verb[:32]) + "\r\n"


# ---------------------------------------------------------------- Telnet

_IAC, _DONT, _DO, _WONT, _WILL, _SB, _SE = 255, 254, 253, 252, 251, 250, 240
# netkit/inetutils telnetd opens with DO TERMINAL-TYPE, TSPEED, XDISPLOC, NEW-ENVIRON and
# waits for the answers before login prints anything: that silence is what nmap matches.
_TELNETD_OPENING = bytes([_IAC, _DO, 24, _IAC, _DO, 32, _IAC, _DO, 35, _IAC, _DO, 39])
_TELNET_NEGOTIATION_WAIT = 1.0


def strip_telnet_commands(data: bytes) -> bytes:
    """The user's bytes with IAC option negotiation and subnegotiation removed."""
    out = bytearray()
    i = 0
    while i < len(data):
        byte = data[i]
        if byte != _IAC:
            out.append(byte)
            i += 1
        elif i + 1 < len(data) and data[i + 1] == _IAC:
            out.append(_IAC)
            i += 2
        elif i + 1 < len(data) and data[i + 1] in (_WILL, _WONT, _DO, _DONT):
            i += 3
        elif i + 1 < len(data) and data[i + 1] == _SB:
            end = data.find(bytes([_IAC, _SE]), i + 2)
            i = len(data) if end < 0 else end + 2
        else:
            i += 2
    return bytes(out)


async def _telnet_line(s: Session) -> bytes:
    """One typed line; clients end it with CR LF, CR NUL or LF."""
    typed = b""
    while not re.search(rb"[\r\n]", typed):
        typed += strip_telnet_commands(await s.read_some(256))
        if len(typed) > 256:
            raise ProtocolViolation("telnet line too long")
    return re.split(rb"[\r\n]", typed, maxsplit=1)[0]


def _telnet(service: Service, host: Host, ctx: LabContext) -> Serve:
    issue = _banner(service)
    prompt = f"{_short_name(host)} login: ".encode()

    async def session(s: Session) -> None:
        await s.send(_TELNETD_OPENING)
        try:
            async with asyncio.timeout(min(_TELNET_NEGOTIATION_WAIT, s.idle_timeout)):
                await s.read_some()  # the client's WILL/WONT answers; their content is moot
        except TimeoutError:
            pass  # a client that does not negotiate still gets the prompt, as with telnetd
        await s.send(f"\r\n{issue}\r\n".encode() + prompt)
        for _ in range(3):  # login(1) gives up after three failed attempts
            await _telnet_line(s)
            await s.send(b"Password: ")
            await _telnet_line(s)
            await s.send(b"\r\nLogin incorrect\r\n" + prompt)

    return session


# ---------------------------------------------------------------- MySQL


def _mysql_packet(sequence: int, payload: bytes) -> bytes:
    return struct.pack("<I", len(payload))[:3] + bytes([sequence & 0xFF]) + payload


def mysql_handshake(version: str, connection_id: int) -> bytes:
    """A protocol-10 initial handshake packet as mysqld sends it to a new connection."""
    modern = _version_tuple(version)[:1] >= (8,) and "MariaDB" not in version
    plugin = b"caching_sha2_password" if modern else b"mysql_native_password"
    charset = 0xFF if modern else 0x21  # utf8mb4_0900_ai_ci / utf8_general_ci
    scramble = bytes(b % 94 + 33 for b in os.urandom(20))  # printable, no NUL, as mysqld does
    payload = b"\x0a" + version.encode() + b"\x00" + struct.pack("<I", connection_id)
    payload += scramble[:8] + b"\x00"
    # Capabilities without CLIENT_SSL: the lab's MySQL offers no TLS.
    payload += struct.pack("<HBHH", 0xF7FF, charset, 0x0002, 0x81FF)
    payload += bytes([len(scramble) + 1]) + b"\x00" * 10
    payload += scramble[8:] + b"\x00" + plugin + b"\x00"
    return _mysql_packet(0, payload)


def _mysql_user(response: bytes) -> tuple[str, bool]:
    """User name and whether a password was sent, from a HandshakeResponse41."""
    rest = response[32:]  # capabilities, max packet, charset, 23 reserved bytes
    user, _, rest = rest.partition(b"\x00")
    # The auth response follows, length-prefixed or NUL-terminated: either way a first
    # byte of zero (or nothing) means the client sent no password.
    return user.decode("utf-8", "replace")[:64], rest[:1] not in (b"", b"\x00")


def _mysql(service: Service, host: Host, ctx: LabContext) -> Serve:
    version = _banner(service)
    connection_ids = itertools.count(8 + _stable_int(host.name, 1000))

    async def session(s: Session) -> None:
        await s.send(mysql_handshake(version, next(connection_ids)))
        header = await s.read_exactly(4)
        length = int.from_bytes(header[:3], "little")
        if length > 16384:
            raise ProtocolViolation("MySQL handshake response too large")
        user, has_password = _mysql_user(await s.read_exactly(length))
        message = (
            f"Access denied for user '{user}'@'{s.peer_ip}' "
            f"(using password: {'YES' if has_password else 'NO'})"
        )
        err = b"\xff" + struct.pack("<H", 1045) + b"#28000" + message.encode()
        await s.send(_mysql_packet(header[3] + 1, err))

    return session


# ---------------------------------------------------------------- PostgreSQL

_PG_SSL_REQUEST = 80877103
_PG_GSSENC_REQUEST = 80877104
_PG_CANCEL_REQUEST = 80877102
_PG_MAX_STARTUP = 10000  # postmaster's MAX_STARTUP_PACKET_LENGTH


def pg_error(fields: list[tuple[str, str]]) -> bytes:
    """An ErrorResponse ('E') message from (field code, value) pairs."""
    body = b"".join(code.encode() + value.encode() + b"\x00" for code, value in fields) + b"\x00"
    return b"E" + struct.pack(">I", 4 + len(body)) + body


def _pg_startup_params(body: bytes) -> dict[str, str]:
    parts = body.split(b"\x00")
    pairs = zip(parts[0::2], parts[1::2], strict=False)
    return {k.decode("utf-8", "replace"): v.decode("utf-8", "replace") for k, v in pairs if k}


def _pg_fatal(code: str, message: str, where: tuple[str, str, str]) -> bytes:
    source, line, routine = where
    severity = [("S", "FATAL"), ("V", "FATAL"), ("C", code), ("M", message)]
    return pg_error([*severity, ("F", source), ("L", line), ("R", routine)])


def _postgres(service: Service, host: Host, ctx: LabContext) -> Serve:
    major = (_version_tuple(_banner(service)) or (14,))[0]
    # Protocol 2 went away in PostgreSQL 14; 9.x–13 name the missing encryption "SSL off".
    lowest_protocol = "3.0" if major >= 14 else "2.0"
    encryption = "no encryption" if major >= 14 else "SSL off"

    async def session(s: Session) -> None:
        for _ in range(3):  # SSLRequest and GSSENCRequest may each precede the startup
            length = struct.unpack(">I", await s.read_exactly(4))[0]
            if not 8 <= length <= _PG_MAX_STARTUP:
                return  # "invalid length of startup packet": logged, never answered
            body = await s.read_exactly(length - 4)
            code = struct.unpack_from(">I", body)[0]
            if code in (_PG_SSL_REQUEST, _PG_GSSENC_REQUEST):
                await s.send(b"N")  # this server does not offer TLS or GSS encryption
                continue
            if code == _PG_CANCEL_REQUEST:
                return
            if code >> 16 != 3:
                message = (
                    f"unsupported frontend protocol {code >> 16}.{code & 0xFFFF}: "
                    f"server supports {lowest_protocol} to 3.0"
                )
                where = ("postmaster.c", "2140", "ProcessStartupPacket")
                await s.send(_pg_fatal("0A000", message, where))
                return
            params = _pg_startup_params(body[4:])
            user = params.get("user", "")
            database = params.get("database", user)
            message = (
                f'no pg_hba.conf entry for host "{s.peer_ip}", user "{user}", '
                f'database "{database}", {encryption}'
            )
            await s.send(_pg_fatal("28000", message, ("auth.c", "542", "ClientAuthentication")))
            return

    return session


# ---------------------------------------------------------------- Redis


def _redis_bulk(text: str) -> bytes:
    data = text.encode()
    return b"$%d\r\n%s\r\n" % (len(data), data)


async def _redis_command(s: Session) -> list[bytes]:
    """One command, as a RESP array or an inline command line."""
    line = await s.read_line()
    if not line.startswith(b"*"):
        return line.split()
    count = _redis_length(line[1:], 64, "invalid multibulk length")
    args: list[bytes] = []
    for _ in range(count):
        header = await s.read_line()
        if not header.startswith(b"$"):
            raise ProtocolViolation(f"expected '$', got '{header[:1].decode('latin-1')}'")
        size = _redis_length(header[1:], 65536, "invalid bulk length")
        args.append((await s.read_exactly(size + 2))[:-2])
    return args


def _redis_length(text: bytes, limit: int, error: str) -> int:
    digits = text.strip()
    if not digits.isdigit() or int(digits) > limit:
        raise ProtocolViolation(error)
    return int(digits)


class _Uptime:
    """Seconds since the lab server was created: real servers report their uptime."""

    def __init__(self) -> None:
        self.started = time.monotonic()

    def seconds(self) -> int:
        return int(time.monotonic() - self.started)


def _redis_info(version: str, host: Host, port: int, uptime: int) -> str:
    server = [
        "# Server",
        f"redis_version:{version}",
        "redis_git_sha1:00000000",
        "redis_git_dirty:0",
        f"redis_build_id:{_stable_hex('redis' + version, 16)}",
        "redis_mode:standalone",
        "os:Linux 5.10.0-28-amd64 x86_64",
        "arch_bits:64",
        "multiplexing_api:epoll",
        "atomicvar_api:atomic-builtin",
        "gcc_version:10.2.1",
        f"process_id:{1000 + _stable_int(host.name + ':redis', 60000)}",
        f"run_id:{_stable_hex(host.name + ':redis-run', 40)}",
        f"tcp_port:{port}",
        f"uptime_in_seconds:{uptime}",
        f"uptime_in_days:{uptime // 86400}",
        "hz:10",
        "configured_hz:10",
        "executable:/usr/bin/redis-server",
        "config_file:/etc/redis/redis.conf",
    ]
    rest = [
        "# Clients",
        "connected_clients:1",
        "blocked_clients:0",
        "# Memory",
        "used_memory:873448",
        "used_memory_human:852.98K",
        "maxmemory:0",
        "# Persistence",
        "loading:0",
        "rdb_changes_since_last_save:0",
        "# Replication",
        "role:master",
        "connected_slaves:0",
        "# Keyspace",
    ]
    return "\r\n".join(server) + "\r\n\r\n" + "\r\n".join(rest) + "\r\n"


def _redis(service: Service, host: Host, ctx: LabContext) -> Serve:
    version = _banner(service)
    uptime = _Uptime()

    def answer(args: list[bytes]) -> bytes:
        name = args[0].decode("latin-1").lower()
        if name == "ping":
            return _redis_bulk(args[1].decode("latin-1")) if len(args) > 1 else b"+PONG\r\n"
        if name == "echo" and len(args) == 2:
            return _redis_bulk(args[1].decode("latin-1"))
        if name == "info":
            return _redis_bulk(_redis_info(version, host, service.effective_port, uptime.seconds()))
        if name == "get":
            return b"$-1\r\n" if len(args) == 2 else _redis_arity("get")
        if name == "dbsize":
            return b":0\r\n"
        if name == "auth":
            return (
                b"-ERR AUTH <password> called without any password configured for the "
                b"default user. Are you sure your configuration is correct?\r\n"
            )
        shown = "".join(f"`{a.decode('latin-1')[:64]}`, " for a in args[1:4])
        return (
            f"-ERR unknown command `{args[0].decode('latin-1')[:64]}`, "
            f"with args beginning with: {shown}\r\n"
        ).encode()

    async def session(s: Session) -> None:
        for _ in range(MAX_REQUESTS):
            try:
                args = await _redis_command(s)
            except ProtocolViolation as exc:
                await s.send(f"-ERR Protocol error: {exc}\r\n".encode())
                return
            if not args:
                continue
            name = args[0].lower()
            if name in (b"post", b"host:"):
                return  # Redis drops what looks like cross-protocol scripting from a browser
            if name == b"quit":
                await s.send(b"+OK\r\n")
                return
            await s.send(answer(args))

    return session


def _redis_arity(command: str) -> bytes:
    return f"-ERR wrong number of arguments for '{command}' command\r\n".encode()


# ---------------------------------------------------------------- MongoDB and BSON

BsonValue: TypeAlias = (
    "float | bool | int | str | bytes | datetime | dict[str, BsonValue] | list[BsonValue] | None"
)
BsonDocument: TypeAlias = dict[str, BsonValue]
_BSON_MAX_DEPTH = 32


def bson_encode(document: BsonDocument) -> bytes:
    """A BSON document (the subset a MongoDB handshake needs)."""
    body = b"".join(_bson_element(key, value) for key, value in document.items())
    return struct.pack("<i", len(body) + 5) + body + b"\x00"


def _bson_element(key: str, value: BsonValue) -> bytes:
    name = key.encode() + b"\x00"
    if isinstance(value, bool):  # before int: bool is an int subclass
        return b"\x08" + name + (b"\x01" if value else b"\x00")
    if isinstance(value, int):
        if -(2**31) <= value < 2**31:
            return b"\x10" + name + struct.pack("<i", value)
        return b"\x12" + name + struct.pack("<q", value)
    if isinstance(value, float):
        return b"\x01" + name + struct.pack("<d", value)
    if isinstance(value, str):
        data = value.encode() + b"\x00"
        return b"\x02" + name + struct.pack("<i", len(data)) + data
    if isinstance(value, bytes):
        return b"\x05" + name + struct.pack("<iB", len(value), 0) + value
    if isinstance(value, datetime):
        return b"\x09" + name + struct.pack("<q", int(value.timestamp() * 1000))
    if value is None:
        return b"\x0a" + name
    if isinstance(value, dict):
        return b"\x03" + name + bson_encode(value)
    return b"\x04" + name + bson_encode({str(i): item for i, item in enumerate(value)})


def bson_decode(data: bytes, depth: int = 0) -> BsonDocument:
    """Decode one BSON document; ValueError or struct.error on anything malformed."""
    if depth > _BSON_MAX_DEPTH:
        raise ValueError("BSON nested too deeply")
    length = struct.unpack_from("<i", data)[0]
    if length < 5 or length > len(data) or data[length - 1] != 0:
        raise ValueError("bad BSON document length")
    document: BsonDocument = {}
    pos = 4
    while pos < length - 1:
        kind = data[pos]
        end = data.index(b"\x00", pos + 1, length)
        key = data[pos + 1 : end].decode()
        document[key], pos = _bson_value(kind, data, end + 1, depth)
    return document


def _bson_value(kind: int, data: bytes, pos: int, depth: int) -> tuple[BsonValue, int]:
    fixed = {0x01: ("<d", 8), 0x10: ("<i", 4), 0x11: ("<Q", 8), 0x12: ("<q", 8), 0x09: ("<q", 8)}
    if kind in fixed:
        fmt, size = fixed[kind]
        value: BsonValue = struct.unpack_from(fmt, data, pos)[0]
        return value, pos + size
    if kind == 0x02:
        size = struct.unpack_from("<i", data, pos)[0]
        return data[pos + 4 : pos + 3 + size].decode(), pos + 4 + size
    if kind in (0x03, 0x04):
        size = struct.unpack_from("<i", data, pos)[0]
        inner = bson_decode(data[pos : pos + size], depth + 1)
        return (inner if kind == 0x03 else list(inner.values())), pos + size
    if kind == 0x05:
        size = struct.unpack_from("<i", data, pos)[0]
        return data[pos + 5 : pos + 5 + size], pos + 5 + size
    if kind == 0x07:
        return data[pos : pos + 12], pos + 12
    if kind == 0x08:
        return data[pos] != 0, pos + 1
    if kind == 0x0A:
        return None, pos
    raise ValueError(f"BSON type {kind:#x} not supported")


# MongoDB release → the newest wire protocol it speaks (maxWireVersion in hello).
_MONGO_WIRE = {
    (2, 6): 2,
    (3, 0): 3,
    (3, 2): 4,
    (3, 4): 5,
    (3, 6): 6,
    (4, 0): 7,
    (4, 2): 8,
    (4, 4): 9,
    (5, 0): 13,
    (6, 0): 17,
    (7, 0): 21,
    (8, 0): 25,
}
_OP_REPLY, _OP_QUERY, _OP_MSG = 1, 2004, 2013


def mongo_max_wire_version(version: str) -> int:
    release = _version_tuple(version)[:2]
    known = [wire for key, wire in sorted(_MONGO_WIRE.items()) if key <= release]
    return known[-1] if known else 0


@dataclass
class _Mongo:
    version: str
    host: Host
    uptime: _Uptime
    connections: Iterator[int]

    def hello(self, command: str, connection_id: int) -> BsonDocument:
        primary = "isWritablePrimary" if command == "hello" else "ismaster"
        return {
            primary: True,
            "maxBsonObjectSize": 16777216,
            "maxMessageSizeBytes": 48000000,
            "maxWriteBatchSize": 100000,
            "localTime": datetime.now(UTC),
            "logicalSessionTimeoutMinutes": 30,
            "connectionId": connection_id,
            "minWireVersion": 0,
            "maxWireVersion": mongo_max_wire_version(self.version),
            "readOnly": False,
            "ok": 1.0,
        }

    def build_info(self) -> BsonDocument:
        parts = [*_version_tuple(self.version)[:3], 0, 0, 0][:3]
        return {
            "version": self.version,
            "gitVersion": _stable_hex("mongodb" + self.version, 40),
            "modules": [],
            "allocator": "tcmalloc",
            "javascriptEngine": "mozjs",
            "sysInfo": "deprecated",
            "versionArray": [*parts, 0],
            "bits": 64,
            "debug": False,
            "maxBsonObjectSize": 16777216,
            "storageEngines": ["devnull", "ephemeralForTest", "wiredTiger"],
            "ok": 1.0,
        }

    def server_status(self) -> BsonDocument:
        seconds = self.uptime.seconds()
        return {
            "host": _short_name(self.host),
            "version": self.version,
            "process": "mongod",
            "pid": 1000 + _stable_int(self.host.name + ":mongod", 60000),
            "uptime": float(seconds),
            "uptimeMillis": seconds * 1000,
            "uptimeEstimate": seconds,
            "localTime": datetime.now(UTC),
            "ok": 1.0,
        }

    def answer(self, command: BsonDocument, connection_id: int, peer: str) -> BsonDocument:
        name = next(iter(command), "")
        lowered = name.lower()
        if lowered in ("ismaster", "hello"):
            return self.hello(name, connection_id)
        if lowered == "buildinfo":
            return self.build_info()
        if lowered == "serverstatus":
            return self.server_status()
        if lowered == "ping":
            return {"ok": 1.0}
        if lowered == "whatsmyuri":
            return {"you": peer, "ok": 1.0}
        if lowered == "listdatabases":  # an open MongoDB shows its databases to anyone
            names = {"admin": 40960.0, "config": 36864.0, "local": 73728.0}
            databases: list[BsonValue] = [
                {"name": db, "sizeOnDisk": size, "empty": False} for db, size in names.items()
            ]
            return {"databases": databases, "totalSize": sum(names.values()), "ok": 1.0}
        return {
            "ok": 0.0,
            "errmsg": f"no such command: '{name[:64]}'",
            "code": 59,
            "codeName": "CommandNotFound",
        }


def _mongo_command(op_code: int, body: bytes) -> BsonDocument:
    """The command document of an OP_QUERY or OP_MSG body."""
    if op_code == _OP_QUERY:
        end = body.index(b"\x00", 4)  # flags, then the collection name
        query = bson_decode(body[end + 9 :])  # skip, return counts
        wrapped = query.get("$query")
        return wrapped if isinstance(wrapped, dict) else query
    if op_code == _OP_MSG:
        pos = 4  # flagBits; then sections, the kind-0 one holding the command
        while pos < len(body):
            kind = body[pos]
            size = struct.unpack_from("<i", body, pos + 1)[0]
            if kind == 0:
                return bson_decode(body[pos + 1 : pos + 1 + size])
            pos += 1 + size
        raise ValueError("OP_MSG without a body section")
    raise ProtocolViolation(f"opcode {op_code} not supported")


def _mongo_reply(op_code: int, request_id: int, response_to: int, doc: BsonDocument) -> bytes:
    if op_code == _OP_QUERY:
        body = struct.pack("<iqii", 8, 0, 0, 1) + bson_encode(doc)  # AwaitCapable, one doc
        reply_code = _OP_REPLY
    else:
        body = struct.pack("<I", 0) + b"\x00" + bson_encode(doc)
        reply_code = _OP_MSG
    return struct.pack("<iiii", 16 + len(body), request_id, response_to, reply_code) + body


def _mongodb(service: Service, host: Host, ctx: LabContext) -> Serve:
    server = _Mongo(_banner(service), host, _Uptime(), itertools.count(1))
    request_ids = itertools.count(1)

    async def session(s: Session) -> None:
        connection_id = next(server.connections)
        for _ in range(MAX_REQUESTS):
            header = await s.read_exactly(16)
            length, request_id, _, op_code = struct.unpack("<iiii", header)
            if not 16 < length <= 65536:
                raise ProtocolViolation("bad MongoDB message length")
            command = _mongo_command(op_code, await s.read_exactly(length - 16))
            peer = f"{s.peer_ip}:{s.peer_port}"
            doc = server.answer(command, connection_id, peer)
            await s.send(_mongo_reply(op_code, next(request_ids), request_id, doc))

    return session


# ---------------------------------------------------------------- Elasticsearch

# Build facts of releases the lab is likely to show; others get plausible derived values.
_ES_BUILDS = {
    "7.10.2": ("747e1cc71def077253878a59143c1f785afa92b9", "2021-01-13T00:42:12.435326Z", "8.7.0"),
}
_ES_LUCENE = {5: "6.6.1", 6: "7.7.3", 7: "8.11.1", 8: "9.8.0"}
_ES_COMPAT = {5: ("2.4.0", "2.0.0"), 6: ("5.6.0", "5.0.0"), 7: ("6.8.0", "6.0.0-beta1")}
_MAX_HTTP_HEADER_LINES = 100


def elasticsearch_root(version: str, host: Host) -> dict[str, object]:
    """The document GET / returns: how scanners and nmap read the version."""
    major = (_version_tuple(version) or (7,))[0]
    build_hash, build_date, lucene = _ES_BUILDS.get(
        version,
        (_stable_hex("es" + version, 40), "2023-01-01T00:00:00.000000Z", _ES_LUCENE.get(major, "")),
    )
    wire, index = _ES_COMPAT.get(major, ("7.17.0", "7.0.0"))
    # Elasticsearch shows a 22-character URL-safe base64 id; a stable one per host.
    cluster_uuid = base64.urlsafe_b64encode(uuid.uuid5(uuid.NAMESPACE_DNS, host.name).bytes)
    return {
        "name": _short_name(host),
        "cluster_name": "elasticsearch",
        "cluster_uuid": cluster_uuid.decode()[:22],
        "version": {
            "number": version,
            "build_flavor": "default",
            "build_type": "deb",
            "build_hash": build_hash,
            "build_date": build_date,
            "build_snapshot": False,
            "lucene_version": lucene,
            "minimum_wire_compatibility_version": wire,
            "minimum_index_compatibility_version": index,
        },
        "tagline": "You Know, for Search",
    }


def _es_json(document: object) -> bytes:
    # Jackson's pretty printer, which Elasticsearch uses for "/": `"key" : value`.
    return (json.dumps(document, indent=2, separators=(",", " : ")) + "\n").encode()


def _es_route(method: str, path: str, root: dict[str, object]) -> tuple[int, str, bytes]:
    """(status, content type, body) for one request, as Elasticsearch 7 answers it."""
    path = path.split("?", 1)[0]
    json_type = "application/json; charset=UTF-8"
    if path == "/" and method in ("GET", "HEAD"):
        return 200, json_type, _es_json(root)
    if path == "/_cluster/health":
        health = {"cluster_name": "elasticsearch", "status": "green", "number_of_nodes": 1}
        return 200, json_type, json.dumps(health).encode()
    if path == "/_cat/indices":
        return 200, "text/plain; charset=UTF-8", b""
    if path.startswith("/_") or path == "/":
        error = f"no handler found for uri [{path[:200]}] and method [{method}]"
        return 400, json_type, json.dumps({"error": error, "status": 400}).encode()
    index = path.strip("/").split("/", 1)[0][:200]
    cause = {
        "type": "index_not_found_exception",
        "reason": f"no such index [{index}]",
        "index": index,
    }
    error_doc = {"error": {"root_cause": [cause], **cause}, "status": 404}
    return 404, json_type, json.dumps(error_doc).encode()


async def _http_request(s: Session) -> tuple[str, str, str, dict[str, str]]:
    """Method, path, version and headers of one request; its body is read and dropped."""
    method, path, version = (await s.read_line()).decode("latin-1").split()
    if not version.startswith("HTTP/1."):
        raise ProtocolViolation("not HTTP/1.x")
    headers: dict[str, str] = {}
    for _ in range(_MAX_HTTP_HEADER_LINES):
        line = (await s.read_line()).decode("latin-1").strip()
        if not line:
            break
        name, _, value = line.partition(":")
        headers[name.strip().lower()] = value.strip()
    else:
        raise ProtocolViolation("too many header lines")
    body_length = int(headers.get("content-length", "0"))
    if body_length:
        await s.read_exactly(body_length)
    return method, path, version, headers


_HTTP_REASONS = {200: "OK", 400: "Bad Request", 404: "Not Found"}


def _elasticsearch(service: Service, host: Host, ctx: LabContext) -> Serve:
    root = elasticsearch_root(_banner(service), host)

    async def session(s: Session) -> None:
        for _ in range(MAX_REQUESTS):
            method, path, version, headers = await _http_request(s)
            status, content_type, body = _es_route(method, path, root)
            head = (
                f"HTTP/1.1 {status} {_HTTP_REASONS[status]}\r\n"
                f"content-type: {content_type}\r\ncontent-length: {len(body)}\r\n\r\n"
            )
            await s.send(head.encode() + (b"" if method == "HEAD" else body))
            connection = headers.get("connection", "").lower()
            if connection == "close" or (version == "HTTP/1.0" and connection != "keep-alive"):
                return

    return session


# ---------------------------------------------------------------- memcached

_MEMCACHED_STORAGE = {"set", "add", "replace", "append", "prepend", "cas"}


def _memcached_stats(version: str, host: Host, uptime: int, connections: int) -> bytes:
    stats = [
        ("pid", 1000 + _stable_int(host.name + ":memcached", 60000)),
        ("uptime", uptime),
        ("time", int(time.time())),
        ("version", version),
        ("libevent", "2.1.12-stable"),
        ("pointer_size", 64),
        ("max_connections", 1024),
        ("curr_connections", 2),
        ("total_connections", connections),
        ("cmd_get", 0),
        ("cmd_set", 0),
        ("get_hits", 0),
        ("get_misses", 0),
        ("curr_items", 0),
        ("total_items", 0),
        ("bytes", 0),
        ("limit_maxbytes", 67108864),
        ("threads", 4),
    ]
    return "".join(f"STAT {k} {v}\r\n" for k, v in stats).encode() + b"END\r\n"


def _memcached(service: Service, host: Host, ctx: LabContext) -> Serve:
    version = _banner(service)
    uptime = _Uptime()
    connections = itertools.count(10)

    async def session(s: Session) -> None:
        total = next(connections)
        for _ in range(MAX_REQUESTS):
            line = await s.read_line()
            if len(line) > 2048:  # memcached's KEY_MAX_LENGTH-based line limit
                await s.send(b"CLIENT_ERROR line too long\r\n")
                return
            words = line.decode("latin-1").split()
            command = words[0].lower() if words else ""
            if command == "quit":
                return
            if command == "version":
                await s.send(f"VERSION {version}\r\n".encode())
            elif command == "stats":
                await s.send(_memcached_stats(version, host, uptime.seconds(), total))
            elif command in ("get", "gets") and len(words) > 1:
                await s.send(b"END\r\n")
            elif command in _MEMCACHED_STORAGE and len(words) >= 5:
                await s.read_exactly(int(words[4]) + 2)  # the data block, dropped
                await s.send(b"SERVER_ERROR out of memory storing object\r\n")
            else:
                await s.send(b"ERROR\r\n")

    return session


# ---------------------------------------------------------------- RDP

_RDP_PROTOCOL_SSL, _RDP_PROTOCOL_HYBRID = 0x1, 0x2
_RDP_HYBRID_REQUIRED = 0x5


def rdp_confirm(request: bytes) -> bytes:
    """The TPKT/X.224 Connection Confirm a Windows server with NLA required sends.

    `request` is the X.224 part of a Connection Request (after the TPKT header).
    """
    if len(request) < 7 or request[1] & 0xF0 != 0xE0:
        raise ProtocolViolation("not an X.224 Connection Request")
    variable = request[7:]  # cookie and RDP_NEG_REQ; clients disagree on whether LI counts them
    if variable.startswith(b"Cookie:") or variable.startswith(b"mstshash"):
        variable = variable.split(b"\r\n", 1)[1] if b"\r\n" in variable else b""
    confirm = b"\xd0\x00\x00\x12\x34\x00"  # CC, dst-ref, src-ref 0x1234 (as Windows), class 0
    if len(variable) >= 8 and variable[0] == 0x01:  # RDP_NEG_REQ
        requested = struct.unpack_from("<I", variable, 4)[0]
        if requested & _RDP_PROTOCOL_HYBRID:
            # flags: extended client data, GFX, restricted admin, redirected auth
            confirm += struct.pack("<BBHI", 0x02, 0x1F, 8, _RDP_PROTOCOL_HYBRID)
        else:  # the client cannot do NLA, which this server requires
            confirm += struct.pack("<BBHI", 0x03, 0x00, 8, _RDP_HYBRID_REQUIRED)
    x224 = bytes([len(confirm)]) + confirm
    return struct.pack(">BBH", 3, 0, 4 + len(x224)) + x224


def _rdp(service: Service, host: Host, ctx: LabContext) -> Serve:
    async def session(s: Session) -> None:
        version, _, length = struct.unpack(">BBH", await s.read_exactly(4))
        if version != 3 or not 7 <= length <= 4096:
            return
        await s.send(rdp_confirm(await s.read_exactly(length - 4)))
        # The client's TLS ClientHello comes next; the lab does not carry RDP over TLS.
        await s.read_some()

    return session


# ---------------------------------------------------------------- BER (LDAP, SPNEGO)


def ber(tag: int, content: bytes) -> bytes:
    """One definite-length BER/DER TLV."""
    size = len(content)
    if size < 0x80:
        return bytes([tag, size]) + content
    length = size.to_bytes((size.bit_length() + 7) // 8, "big")
    return bytes([tag, 0x80 | len(length)]) + length + content


def ber_int(value: int, tag: int = 0x02) -> bytes:
    return ber(tag, value.to_bytes(max(1, (value.bit_length() + 8) // 8), "big", signed=True))


def ber_items(data: bytes) -> list[tuple[int, bytes]]:
    """The TLVs that make up `data` (one level; low tag numbers, definite lengths only)."""
    items: list[tuple[int, bytes]] = []
    pos = 0
    while pos < len(data):
        tag, first = data[pos], data[pos + 1]
        pos += 2
        if tag & 0x1F == 0x1F or first == 0x80 or first > 0x84:
            raise ValueError("unsupported BER tag or length form")
        size = first
        if first & 0x80:
            count = first & 0x7F
            size = int.from_bytes(data[pos : pos + count], "big")
            pos += count
        if pos + size > len(data):
            raise ValueError("BER value runs past its container")
        items.append((tag, data[pos : pos + size]))
        pos += size
    return items


async def _read_ber(s: Session, max_size: int = 65536) -> tuple[int, bytes]:
    tag, first = await s.read_exactly(2)
    size = first
    if first & 0x80:
        count = first & 0x7F
        if not 1 <= count <= 4:
            raise ProtocolViolation("unsupported BER length")
        size = int.from_bytes(await s.read_exactly(count), "big")
    if size > max_size:
        raise ProtocolViolation("BER message too large")
    return tag, await s.read_exactly(size)


# ---------------------------------------------------------------- SMB

_SMB2_DIALECTS = (0x0202, 0x0210, 0x0300, 0x0302, 0x0311)
_SMB2_CAPABILITIES = {0x0202: 0x01, 0x0210: 0x07, 0x02FF: 0x07, 0x0300: 0x2F, 0x0302: 0x2F}
_SPNEGO_OID = bytes.fromhex("2b0601050502")  # 1.3.6.1.5.5.2
_NTLMSSP_OID = bytes.fromhex("2b06010401823702020a")  # 1.3.6.1.4.1.311.2.2.10


def _spnego_init() -> bytes:
    """The GSS-API negTokenInit a server without a domain offers: NTLMSSP only."""
    mechs = ber(0xA0, ber(0x30, ber(0x06, _NTLMSSP_OID)))
    return ber(0x60, ber(0x06, _SPNEGO_OID) + ber(0xA0, ber(0x30, mechs)))


def _filetime(moment: float) -> int:
    return int((moment + 11644473600) * 10_000_000)


def smb2_negotiate_response(dialect: int, message_id: int, server_guid: bytes) -> bytes:
    """An SMB2 NEGOTIATE response (MS-SMB2 2.2.4), NetBIOS session header included."""
    header = b"\xfeSMB" + struct.pack("<HHIHHIIQ", 64, 0, 0, 0, 1, 0x1, 0, message_id)
    header += struct.pack("<IIQ", 0xFEFF, 0, 0) + b"\x00" * 16
    blob = _spnego_init()
    contexts = b""
    if dialect == 0x0311:  # 3.1.1 must answer with a preauth integrity context (SHA-512)
        contexts = struct.pack("<HHI", 1, 38, 0) + struct.pack("<HHH", 1, 32, 1) + os.urandom(32)
    blob_end = 64 + 64 + len(blob)
    context_offset = (blob_end + 7) // 8 * 8 if contexts else 0
    body = struct.pack(
        "<HHHH16sIIIIQQHHI",
        65,
        0x01,  # signing enabled, not required: the Windows member-server default
        dialect,
        1 if contexts else 0,
        server_guid,
        _SMB2_CAPABILITIES.get(dialect, 0x2F),
        8388608,
        8388608,
        8388608,
        _filetime(time.time()),
        0,
        128,
        len(blob),
        context_offset,
    )
    message = header + body + blob
    if contexts:
        message += b"\x00" * (context_offset - len(message)) + contexts
    return struct.pack(">I", len(message)) + message


def _smb_dialect(message: bytes) -> tuple[int, int] | None:
    """(dialect, message id) to answer a NEGOTIATE with, or None to hang up."""
    if message.startswith(b"\xffSMB") and message[4] == 0x72:
        # SMB1 is disabled, as on current Windows: only the SMB2 upgrade dialects count.
        dialects = message[35:].split(b"\x00")
        if b"\x02SMB 2.???" in dialects:
            return 0x02FF, 0
        return (0x0202, 0) if b"\x02SMB 2.002" in dialects else None
    if message.startswith(b"\xfeSMB") and struct.unpack_from("<H", message, 12)[0] == 0:
        message_id = struct.unpack_from("<Q", message, 24)[0]
        count = struct.unpack_from("<H", message, 66)[0]
        offered = struct.unpack_from(f"<{count}H", message, 100)
        common = [d for d in _SMB2_DIALECTS if d in offered]
        return (max(common), message_id) if common else None
    return None


def _smb(service: Service, host: Host, ctx: LabContext) -> Serve:
    server_guid = uuid.uuid5(uuid.NAMESPACE_DNS, "smb." + host.name).bytes_le

    async def session(s: Session) -> None:
        header = await s.read_exactly(4)
        length = int.from_bytes(header[1:], "big")
        if header[0] != 0 or not 32 <= length <= 65536:
            return  # not a NetBIOS session message (port 139 session requests included)
        choice = _smb_dialect(await s.read_exactly(length))
        if choice is None:
            return
        await s.send(smb2_negotiate_response(*choice, server_guid))
        await s.read_some()  # SESSION_SETUP would follow; the lab ends the conversation here

    return session


# ---------------------------------------------------------------- LDAP

_LDAP_BIND, _LDAP_UNBIND, _LDAP_SEARCH, _LDAP_EXTENDED = 0x60, 0x42, 0x63, 0x77
_LDAP_SUCCESS, _LDAP_PROTOCOL_ERROR = 0, 2
_LDAP_INAPPROPRIATE_AUTH, _LDAP_INVALID_CREDENTIALS = 48, 49


def _naming_context(host: Host, ctx: LabContext) -> str:
    try:
        org = ctx.organisation_of(host)
        domain = org.primary_domain or (org.domains[0].name if org.domains else None)
    except KeyError:
        domain = None
    domain = domain or host.name.split(".", 1)[-1]
    return ",".join(f"dc={label}" for label in domain.split("."))


def ldap_root_dse(vendor_version: str, naming_context: str) -> dict[str, list[str]]:
    vendor = "389 Project" if vendor_version.startswith("389") else vendor_version.split("/")[0]
    return {
        "objectClass": ["top"],
        "namingContexts": [naming_context],
        "supportedLDAPVersion": ["2", "3"],
        "supportedSASLMechanisms": ["EXTERNAL", "GSS-SPNEGO", "GSSAPI", "DIGEST-MD5", "PLAIN"],
        "subschemaSubentry": ["cn=schema"],
        "vendorName": [vendor],
        "vendorVersion": [vendor_version],
    }


def _ldap_result(message_id: int, op: int, code: int, diagnostic: str = "") -> bytes:
    result = ber_int(code, 0x0A) + ber(0x04, b"") + ber(0x04, diagnostic.encode())
    return ber(0x30, ber_int(message_id) + ber(op, result))


def _ldap_entry(message_id: int, attributes: dict[str, list[str]], wanted: list[str]) -> bytes:
    wanted_lower = {w.lower() for w in wanted} - {"*", "+"}
    parts = b""
    for name, values in attributes.items():
        if wanted_lower and name.lower() not in wanted_lower:
            continue  # asked for other attributes, or for none at all ("1.1")
        vals = b"".join(ber(0x04, v.encode()) for v in values)
        parts += ber(0x30, ber(0x04, name.encode()) + ber(0x31, vals))
    entry = ber(0x04, b"") + ber(0x30, parts)
    return ber(0x30, ber_int(message_id) + ber(0x64, entry))


def _ldap_search(message_id: int, request: bytes, root: dict[str, list[str]]) -> bytes:
    fields = ber_items(request)
    base, scope = fields[0][1], int.from_bytes(fields[1][1], "big")
    if base == b"" and scope == 0:  # the root DSE: readable by anyone, by design
        wanted = [value.decode() for _, value in ber_items(fields[7][1])]
        done = _ldap_result(message_id, 0x65, _LDAP_SUCCESS)
        return _ldap_entry(message_id, root, wanted) + done
    # 389 DS with nsslapd-allow-anonymous-access: rootdse
    denied = "Anonymous access is not allowed."
    return _ldap_result(message_id, 0x65, _LDAP_INAPPROPRIATE_AUTH, denied)


def _ldap_bind(message_id: int, request: bytes) -> bytes:
    fields = ber_items(request)
    name, (auth_tag, credentials) = fields[1][1], fields[2]
    if name == b"" and auth_tag == 0x80 and credentials == b"":
        return _ldap_result(message_id, 0x61, _LDAP_SUCCESS)  # anonymous bind
    return _ldap_result(message_id, 0x61, _LDAP_INVALID_CREDENTIALS)


def _ldap(service: Service, host: Host, ctx: LabContext) -> Serve:
    root = ldap_root_dse(_banner(service), _naming_context(host, ctx))

    async def session(s: Session) -> None:
        for _ in range(MAX_REQUESTS):
            tag, content = await _read_ber(s)
            if tag != 0x30:
                return
            (_, raw_id), (op, request), *_ = ber_items(content)
            message_id = int.from_bytes(raw_id, "big", signed=True)
            if op == _LDAP_UNBIND:
                return
            if op == _LDAP_SEARCH:
                await s.send(_ldap_search(message_id, request, root))
            elif op == _LDAP_BIND:
                await s.send(_ldap_bind(message_id, request))
            elif op == _LDAP_EXTENDED:  # StartTLS among them: no TLS on this listener
                diagnostic = "unsupported extended operation"
                await s.send(_ldap_result(message_id, 0x78, _LDAP_PROTOCOL_ERROR, diagnostic))
            else:
                return

    return session


# ---------------------------------------------------------------- VNC

_VNC_AUTH = 2


def _vnc(service: Service, host: Host, ctx: LabContext) -> Serve:
    server_version = _banner(service).rstrip("\n")

    async def session(s: Session) -> None:
        await s.send(server_version.encode() + b"\n")
        client = await s.read_exactly(12)
        if not re.fullmatch(rb"RFB \d{3}\.\d{3}\n", client):
            return
        minor = min(int(client[8:11]), int(server_version[8:11] or 3))
        if minor < 7:  # RFB 3.3: the server chooses the security type
            await s.send(struct.pack(">I", _VNC_AUTH) + os.urandom(16))
        else:
            await s.send(bytes([1, _VNC_AUTH]))
            if (await s.read_exactly(1))[0] != _VNC_AUTH:
                return
            await s.send(os.urandom(16))  # the DES challenge
        await s.read_exactly(16)
        reason = b"Authentication failure" if minor >= 8 else b""
        tail = struct.pack(">I", len(reason)) + reason if reason else b""
        await s.send(struct.pack(">I", 1) + tail)

    return session


# ---------------------------------------------------------------- MSSQL

_TDS_PRELOGIN, _TDS_RESPONSE = 0x12, 0x04
_PRELOGIN_VERSION, _PRELOGIN_ENCRYPTION, _PRELOGIN_INSTOPT = 0, 1, 2
_PRELOGIN_THREADID, _PRELOGIN_MARS, _PRELOGIN_END = 3, 4, 0xFF
_ENCRYPT_NOT_SUP = 0x02


def _prelogin_tokens(payload: bytes) -> set[int]:
    tokens: set[int] = set()
    for pos in range(0, len(payload), 5):
        if payload[pos] == _PRELOGIN_END:
            return tokens
        tokens.add(payload[pos])
    raise ValueError("PRELOGIN without a terminator")


def mssql_prelogin_response(version: str, client_tokens: set[int]) -> bytes:
    """The server's PRELOGIN answer: version, no TLS, default instance, MARS if asked."""
    parts = [*_version_tuple(version), 0, 0, 0, 0][:4]
    options = [
        (_PRELOGIN_VERSION, struct.pack(">BBHH", parts[0], parts[1], parts[2], parts[3])),
        (_PRELOGIN_ENCRYPTION, bytes([_ENCRYPT_NOT_SUP])),
        (_PRELOGIN_INSTOPT, b"\x00"),
        (_PRELOGIN_THREADID, b""),
    ]
    if _PRELOGIN_MARS in client_tokens:
        options.append((_PRELOGIN_MARS, b"\x00"))
    offset = 5 * len(options) + 1
    table, data = b"", b""
    for token, value in options:
        table += struct.pack(">BHH", token, offset + len(data), len(value))
        data += value
    payload = table + bytes([_PRELOGIN_END]) + data
    return struct.pack(">BBHHBB", _TDS_RESPONSE, 1, 8 + len(payload), 0, 1, 0) + payload


def _mssql(service: Service, host: Host, ctx: LabContext) -> Serve:
    version = _banner(service)

    async def session(s: Session) -> None:
        kind, _, length = struct.unpack(">BBH", await s.read_exactly(4))
        await s.read_exactly(4)  # SPID, packet id, window
        if kind != _TDS_PRELOGIN or not 8 < length <= 4096:
            return
        tokens = _prelogin_tokens(await s.read_exactly(length - 8))
        await s.send(mssql_prelogin_response(version, tokens))
        await s.read_some()  # LOGIN7 would follow; the lab ends the conversation here

    return session


_FACTORIES: dict[ServiceKind, ServerFactory] = {
    ServiceKind.FTP: _ftp,
    ServiceKind.TELNET: _telnet,
    ServiceKind.MYSQL: _mysql,
    ServiceKind.POSTGRES: _postgres,
    ServiceKind.REDIS: _redis,
    ServiceKind.MONGODB: _mongodb,
    ServiceKind.ELASTICSEARCH: _elasticsearch,
    ServiceKind.MEMCACHED: _memcached,
    ServiceKind.RDP: _rdp,
    ServiceKind.SMB: _smb,
    ServiceKind.LDAP: _ldap,
    ServiceKind.VNC: _vnc,
    ServiceKind.MSSQL: _mssql,
}
