"""Redis without a password: INFO and a few harmless commands answer anyone."""

from __future__ import annotations

from utsyn.lab.context import LabContext
from utsyn.lab.manifest import Host, Service
from utsyn.lab.services.common import MAX_REQUESTS, Uptime, banner, stable_hex, stable_int
from utsyn.lab.session import ProtocolViolation, Serve, Session


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


def _redis_info(version: str, host: Host, port: int, uptime: int) -> str:
    server = [
        "# Server",
        f"redis_version:{version}",
        "redis_git_sha1:00000000",
        "redis_git_dirty:0",
        f"redis_build_id:{stable_hex('redis' + version, 16)}",
        "redis_mode:standalone",
        "os:Linux 5.10.0-28-amd64 x86_64",
        "arch_bits:64",
        "multiplexing_api:epoll",
        "atomicvar_api:atomic-builtin",
        "gcc_version:10.2.1",
        f"process_id:{1000 + stable_int(host.name + ':redis', 60000)}",
        f"run_id:{stable_hex(host.name + ':redis-run', 40)}",
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


def server(service: Service, host: Host, ctx: LabContext) -> Serve:
    version = banner(service)
    uptime = Uptime()

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
