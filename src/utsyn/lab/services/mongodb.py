"""MongoDB without authentication: hello/isMaster, buildInfo and serverStatus answer anyone."""

from __future__ import annotations

import itertools
import struct
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime

from utsyn.lab.context import LabContext
from utsyn.lab.manifest import Host, Service
from utsyn.lab.services.bson import BsonDocument, BsonValue, bson_decode, bson_encode
from utsyn.lab.services.common import (
    MAX_REQUESTS,
    Uptime,
    banner,
    short_name,
    stable_hex,
    stable_int,
    version_tuple,
)
from utsyn.lab.session import ProtocolViolation, Serve, Session

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
    release = version_tuple(version)[:2]
    known = [wire for key, wire in sorted(_MONGO_WIRE.items()) if key <= release]
    return known[-1] if known else 0


@dataclass
class MongoServer:
    """One lab mongod without authentication: its answer to each command."""

    version: str
    host: Host
    uptime: Uptime
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
        parts = [*version_tuple(self.version)[:3], 0, 0, 0][:3]
        return {
            "version": self.version,
            "gitVersion": stable_hex("mongodb" + self.version, 40),
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
            "host": short_name(self.host),
            "version": self.version,
            "process": "mongod",
            "pid": 1000 + stable_int(self.host.name + ":mongod", 60000),
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


def mongo_command(op_code: int, body: bytes) -> BsonDocument:
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


def mongo_response(op_code: int, request_id: int, response_to: int, doc: BsonDocument) -> bytes:
    if op_code == _OP_QUERY:
        body = struct.pack("<iqii", 8, 0, 0, 1) + bson_encode(doc)  # AwaitCapable, one doc
        reply_code = _OP_REPLY
    else:
        body = struct.pack("<I", 0) + b"\x00" + bson_encode(doc)
        reply_code = _OP_MSG
    return struct.pack("<iiii", 16 + len(body), request_id, response_to, reply_code) + body


def server(service: Service, host: Host, ctx: LabContext) -> Serve:
    server = MongoServer(banner(service), host, Uptime(), itertools.count(1))
    request_ids = itertools.count(1)

    async def session(s: Session) -> None:
        connection_id = next(server.connections)
        for _ in range(MAX_REQUESTS):
            header = await s.read_exactly(16)
            length, request_id, _, op_code = struct.unpack("<iiii", header)
            if not 16 < length <= 65536:
                raise ProtocolViolation("bad MongoDB message length")
            command = mongo_command(op_code, await s.read_exactly(length - 16))
            peer = f"{s.peer_ip}:{s.peer_port}"
            doc = server.answer(command, connection_id, peer)
            await s.send(mongo_response(op_code, next(request_ids), request_id, doc))

    return session
