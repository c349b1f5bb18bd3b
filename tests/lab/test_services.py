"""The lab's exposed services greet, version and refuse like the real servers.

Each test serves one service of the lab host db.fjordvik.test on 127.104.2.1 and talks to
it over a real loopback socket, the way a banner grabber or a version probe would.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import shutil
import struct
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import pytest

from utsyn.lab.context import Handler, LabContext
from utsyn.lab.manifest import Host, Service, ServiceKind, parse_manifest
from utsyn.lab.services.ber import ber, ber_int, ber_items
from utsyn.lab.services.bson import BsonDocument, bson_decode, bson_encode
from utsyn.lab.services.common import DEFAULT_BANNERS
from utsyn.lab.services.handler import service_handler
from utsyn.lab.services.telnet import strip_telnet_commands

IP = "127.104.2.1"
HOST = "db.fjordvik.test"
IDLE = 0.5  # seconds; keeps the idle-timeout tests short
WAIT = 5.0  # no answer in a test should take longer than this


def lab(kind: str, banner: str | None = None) -> tuple[Service, Host, LabContext]:
    service: dict[str, object] = {"kind": kind}
    if banner is not None:
        service["banner"] = banner
    manifest = parse_manifest(
        {
            "name": "services test",
            "organisations": [
                {
                    "slug": "fjordvik",
                    "name": "Fjordvik kommune",
                    "orgnr": "974760673",
                    "sector": "municipality",
                    "county": "46",
                    "municipality": "4601",
                    "domains": [{"name": "fjordvik.test"}],
                    "hosts": [{"name": HOST, "ip": IP, "services": [service]}],
                }
            ],
        }
    )
    host = manifest.organisations[0].hosts[0]
    ctx = LabContext(manifest, {HOST: IP}, None, Path("/nonexistent"))  # type: ignore[arg-type]
    return host.services[0], host, ctx


@asynccontextmanager
async def serving(handler: Handler) -> AsyncIterator[int]:
    server = await asyncio.start_server(handler, IP, 0)
    try:
        yield server.sockets[0].getsockname()[1]
    finally:
        server.close()
        await server.wait_closed()


@asynccontextmanager
async def connected(
    kind: str, banner: str | None = None, idle: float = WAIT
) -> AsyncIterator[tuple[asyncio.StreamReader, asyncio.StreamWriter]]:
    service, host, ctx = lab(kind, banner)
    async with serving(service_handler(service, host, ctx, idle_timeout=idle)) as port:
        reader, writer = await asyncio.open_connection(IP, port)
        try:
            yield reader, writer
        finally:
            writer.close()


async def recv(reader: asyncio.StreamReader, size: int) -> bytes:
    return await asyncio.wait_for(reader.readexactly(size), WAIT)


async def recv_line(reader: asyncio.StreamReader) -> bytes:
    return await asyncio.wait_for(reader.readline(), WAIT)


async def recv_until(reader: asyncio.StreamReader, marker: bytes) -> bytes:
    return await asyncio.wait_for(reader.readuntil(marker), WAIT)


async def recv_all(reader: asyncio.StreamReader) -> bytes:
    """Everything until the server closes the connection."""
    return await asyncio.wait_for(reader.read(), WAIT)


async def exchange(writer: asyncio.StreamWriter, data: bytes) -> None:
    writer.write(data)
    await writer.drain()


# ---------------------------------------------------------------- FTP


async def test_ftp_vsftpd_greets_and_refuses_login() -> None:
    async with connected("ftp") as (reader, writer):
        assert await recv_line(reader) == b"220 (vsFTPd 3.0.3)\r\n"
        await exchange(writer, b"USER anonymous\r\n")
        assert await recv_line(reader) == b"331 Please specify the password.\r\n"
        await exchange(writer, b"PASS guest@\r\n")
        assert await recv_line(reader) == b"530 Login incorrect.\r\n"
        await exchange(writer, b"SYST\r\n")
        assert await recv_line(reader) == b"215 UNIX Type: L8\r\n"
        await exchange(writer, b"QUIT\r\n")
        assert await recv_all(reader) == b"221 Goodbye.\r\n"


async def test_ftp_proftpd_banner_and_dialect() -> None:
    banner = "ProFTPD 1.3.5e Server (Debian) [::ffff:127.104.2.1]"
    async with connected("ftp", banner) as (reader, writer):
        assert await recv_line(reader) == f"220 {banner}\r\n".encode()
        await exchange(writer, b"XYZZY\r\nUSER root\r\n")
        assert await recv_line(reader) == b"500 XYZZY not understood\r\n"
        assert await recv_line(reader) == b"331 Password required for root\r\n"


async def test_ftp_hangs_up_after_three_failed_logins() -> None:
    async with connected("ftp") as (reader, writer):
        await recv_line(reader)
        await exchange(writer, b"USER a\r\nPASS b\r\n" * 3)
        assert (await recv_all(reader)).count(b"530 Login incorrect.") == 3


# ---------------------------------------------------------------- Telnet


async def test_telnet_negotiates_options_then_shows_a_login_prompt() -> None:
    async with connected("telnet", "Ubuntu 18.04.6 LTS") as (reader, writer):
        assert await recv(reader, 12) == bytes.fromhex("fffd18fffd20fffd23fffd27")
        await exchange(writer, bytes.fromhex("fffc18fffc20fffc23fffc27"))
        assert await recv_until(reader, b"login: ") == b"\r\nUbuntu 18.04.6 LTS\r\ndb login: "
        await exchange(writer, b"admin\r\n")
        assert await recv_until(reader, b"Password: ") == b"Password: "
        await exchange(writer, b"admin\r\x00")
        assert await recv_until(reader, b"login: ") == b"\r\nLogin incorrect\r\ndb login: "


def test_telnet_commands_are_stripped_from_typed_input() -> None:
    typed = b"ro\xff\xfb\x01ot\xff\xfa\x18\x00xterm\xff\xf0\xff\xff\r\n"
    assert strip_telnet_commands(typed) == b"root\xff\r\n"


# ---------------------------------------------------------------- MySQL


def handshake_response(user: bytes, password: bytes) -> bytes:
    payload = struct.pack("<IIB", 0x000FA685, 1 << 24, 0x21) + b"\x00" * 23
    payload += user + b"\x00" + bytes([len(password)]) + password
    return struct.pack("<I", len(payload))[:3] + b"\x01" + payload


@pytest.mark.parametrize(
    ("banner", "version", "plugin"),
    [
        (None, b"8.0.36", b"caching_sha2_password"),
        ("5.7.33-log", b"5.7.33-log", b"mysql_native_password"),
    ],
)
async def test_mysql_handshake_then_access_denied(
    banner: str | None, version: bytes, plugin: bytes
) -> None:
    async with connected("mysql", banner) as (reader, writer):
        header = await recv(reader, 4)
        payload = await recv(reader, int.from_bytes(header[:3], "little"))
        assert header[3] == 0 and payload[0] == 10
        assert payload[1:].split(b"\x00", 1)[0] == version
        assert payload.rstrip(b"\x00").endswith(plugin)
        await exchange(writer, handshake_response(b"root", b"x" * 20))
        err = await recv_all(reader)
        client_ip = writer.get_extra_info("sockname")[0]
    assert err[3] == 2 and err[4] == 0xFF and struct.unpack_from("<H", err, 5)[0] == 1045
    assert err[7:].decode() == (
        f"#28000Access denied for user 'root'@'{client_ip}' (using password: YES)"
    )


# ---------------------------------------------------------------- PostgreSQL


def pg_fields(message: bytes) -> dict[str, str]:
    assert message[:1] == b"E"
    body = message[5 : 1 + struct.unpack_from(">I", message, 1)[0]]
    return {part[:1].decode(): part[1:].decode() for part in body.split(b"\x00") if part}


async def test_postgres_refuses_tls_then_has_no_pg_hba_entry() -> None:
    startup_params = b"user\x00scanner\x00database\x00postgres\x00\x00"
    startup = struct.pack(">II", 8 + len(startup_params), 196608) + startup_params
    async with connected("postgres") as (reader, writer):
        await exchange(writer, struct.pack(">II", 8, 80877103))
        assert await recv(reader, 1) == b"N"
        await exchange(writer, startup)
        fields = pg_fields(await recv_all(reader))
        client_ip = writer.get_extra_info("sockname")[0]
    assert fields["S"] == "FATAL" and fields["C"] == "28000"
    assert fields["M"] == (
        f'no pg_hba.conf entry for host "{client_ip}", user "scanner", database "postgres", '
        "no encryption"
    )


async def test_postgres_answers_a_foreign_protocol_with_its_supported_range() -> None:
    async with connected("postgres", "12.17") as (reader, writer):
        await exchange(writer, b"\x00\x00\x00\x10\xffSMBr" + b"\x00" * 8)
        fields = pg_fields(await recv_all(reader))
    assert fields["C"] == "0A000"
    assert fields["M"] == "unsupported frontend protocol 65363.19778: server supports 2.0 to 3.0"


# ---------------------------------------------------------------- Redis


@pytest.mark.parametrize(("banner", "version"), [(None, "6.0.16"), ("5.0.7", "5.0.7")])
async def test_redis_is_open_and_tells_its_version(banner: str | None, version: str) -> None:
    async with connected("redis", banner) as (reader, writer):
        await exchange(writer, b"PING\r\n*1\r\n$4\r\nINFO\r\n")
        assert await recv_line(reader) == b"+PONG\r\n"
        size = int((await recv_line(reader))[1:])
        info = (await recv(reader, size + 2)).decode()
        await exchange(writer, b"*2\r\n$8\r\nFLUSHALL\r\n$5\r\nASYNC\r\n")
        unknown = await recv_line(reader)
    assert info.startswith(f"# Server\r\nredis_version:{version}\r\n")
    assert "redis_mode:standalone" in info
    assert unknown == b"-ERR unknown command `FLUSHALL`, with args beginning with: `ASYNC`, \r\n"


async def test_redis_drops_a_browser_post() -> None:
    async with connected("redis") as (reader, writer):
        await exchange(writer, b"POST / HTTP/1.1\r\nHost: db\r\n\r\n")
        assert await recv_all(reader) == b""


# ---------------------------------------------------------------- MongoDB


def test_bson_round_trip() -> None:
    doc: BsonDocument = {
        "isMaster": 1,
        "big": 2**40,
        "ratio": 0.5,
        "ok": True,
        "name": "æøå",
        "none": None,
        "nested": {"list": [1, "two", {"three": 3.0}]},
        "blob": b"\x00\x01",
    }
    assert bson_decode(bson_encode(doc)) == doc


def test_bson_rejects_malformed_documents() -> None:
    with pytest.raises(ValueError):
        bson_decode(b"\xff\x00\x00\x00\x00")
    with pytest.raises(ValueError):
        bson_decode(b"\x08\x00\x00\x00\x7fa\x00\x00")  # unknown element type


def op_query(command: BsonDocument) -> bytes:
    body = struct.pack("<i", 0) + b"admin.$cmd\x00" + struct.pack("<ii", 0, -1)
    body += bson_encode(command)
    return struct.pack("<iiii", 16 + len(body), 7, 0, 2004) + body


def op_msg(command: BsonDocument) -> bytes:
    body = struct.pack("<I", 0) + b"\x00" + bson_encode(command)
    return struct.pack("<iiii", 16 + len(body), 8, 0, 2013) + body


async def read_reply(reader: asyncio.StreamReader) -> tuple[int, int, BsonDocument]:
    length, _, response_to, op_code = struct.unpack("<iiii", await recv(reader, 16))
    body = await recv(reader, length - 16)
    document = body[20:] if op_code == 1 else body[5:]
    return op_code, response_to, bson_decode(document)


async def test_mongodb_answers_ismaster_buildinfo_and_serverstatus() -> None:
    async with connected("mongodb") as (reader, writer):
        await exchange(writer, op_query({"isMaster": 1}))
        op_code, response_to, hello = await read_reply(reader)
        assert (op_code, response_to) == (1, 7)
        await exchange(writer, op_msg({"buildInfo": 1, "$db": "admin"}))
        op_code, response_to, build = await read_reply(reader)
        assert (op_code, response_to) == (2013, 8)
        await exchange(writer, op_msg({"serverStatus": 1, "$db": "admin"}))
        _, _, status = await read_reply(reader)
        await exchange(writer, op_msg({"shutdown": 1, "$db": "admin"}))
        _, _, refused = await read_reply(reader)
    assert hello["ismaster"] is True and hello["maxWireVersion"] == 9  # 4.4
    assert build["version"] == "4.4.6" and build["versionArray"] == [4, 4, 6, 0]
    assert status["version"] == "4.4.6" and status["process"] == "mongod"
    assert refused["ok"] == 0.0 and refused["codeName"] == "CommandNotFound"


async def test_mongodb_hello_reports_the_configured_release() -> None:
    async with connected("mongodb", "6.0.13") as (reader, writer):
        await exchange(writer, op_msg({"hello": 1, "$db": "admin"}))
        _, _, hello = await read_reply(reader)
    assert hello["isWritablePrimary"] is True and hello["maxWireVersion"] == 17


# ---------------------------------------------------------------- Elasticsearch


async def test_elasticsearch_root_document() -> None:
    async with connected("elasticsearch") as (reader, writer):
        await exchange(writer, b"GET / HTTP/1.0\r\n\r\n")
        response = await recv_all(reader)  # HTTP/1.0: the server closes after answering
    head, _, body = response.partition(b"\r\n\r\n")
    assert head.split(b"\r\n")[:2] == [
        b"HTTP/1.1 200 OK",
        b"content-type: application/json; charset=UTF-8",
    ]
    assert body.startswith(b'{\n  "name" : "db",\n  "cluster_name" : "elasticsearch",')
    document = json.loads(body)
    assert document["version"]["number"] == "7.10.2"
    assert document["version"]["lucene_version"] == "8.7.0"
    assert document["tagline"] == "You Know, for Search"


async def test_elasticsearch_keeps_http11_alive_and_404s_missing_indices() -> None:
    async with connected("elasticsearch", "6.8.23") as (reader, writer):
        await exchange(writer, b"GET /customers/_search HTTP/1.1\r\nHost: db\r\n\r\n")
        status, missing = await http_response(reader)
        await exchange(writer, b"GET / HTTP/1.1\r\nHost: db\r\n\r\n")
        _, root = await http_response(reader)
    assert status == b"HTTP/1.1 404 Not Found"
    assert missing["error"]["type"] == "index_not_found_exception"
    assert root["version"]["number"] == "6.8.23"


async def http_response(reader: asyncio.StreamReader) -> tuple[bytes, dict[str, Any]]:
    head = await recv_until(reader, b"\r\n\r\n")
    length = int(head.split(b"content-length: ")[1].split(b"\r\n")[0])
    return head.split(b"\r\n")[0], json.loads(await recv(reader, length))


# ---------------------------------------------------------------- memcached


async def test_memcached_version_and_stats() -> None:
    async with connected("memcached") as (reader, writer):
        await exchange(writer, b"version\r\nstats\r\n")
        assert await recv_line(reader) == b"VERSION 1.6.9\r\n"
        stats = (await recv_until(reader, b"END\r\n")).decode().splitlines()
        await exchange(writer, b"flush_all\r\nquit\r\n")
        assert await recv_all(reader) == b"ERROR\r\n"
    assert [line.split()[1] for line in stats[:4]] == ["pid", "uptime", "time", "version"]
    assert "STAT version 1.6.9" in stats


# ---------------------------------------------------------------- RDP


def x224_request(neg: bytes = b"", cookie: bytes = b"") -> bytes:
    x224 = b"\xe0\x00\x00\x00\x00\x00" + cookie + neg
    return struct.pack(">BBH", 3, 0, 5 + len(x224)) + bytes([len(x224)]) + x224


@pytest.mark.parametrize(
    ("request_bytes", "confirm"),
    [
        (x224_request(), "0300000b06d00000123400"),
        (
            x224_request(struct.pack("<BBHI", 1, 0, 8, 3), b"Cookie: mstshash=nmap\r\n"),
            "030000130ed000001234000" + "21f080002000000",
        ),
        (
            x224_request(struct.pack("<BBHI", 1, 0, 8, 1)),
            "030000130ed000001234000" + "300080005000000",
        ),
    ],
    ids=["no-negotiation", "nla-selected", "tls-only-refused"],
)
async def test_rdp_connection_confirm(request_bytes: bytes, confirm: str) -> None:
    async with connected("rdp") as (reader, writer):
        await exchange(writer, request_bytes)
        assert (await recv(reader, len(confirm) // 2)).hex() == confirm


# ---------------------------------------------------------------- SMB


def smb2_negotiate(dialects: tuple[int, ...]) -> bytes:
    header = b"\xfeSMB" + struct.pack("<HHIHHIIQ", 64, 0, 0, 0, 0, 0, 0, 5) + b"\x00" * 32
    body = struct.pack("<HHHHI16sQ", 36, len(dialects), 1, 0, 0x7F, os.urandom(16), 0)
    body += struct.pack(f"<{len(dialects)}H", *dialects)
    return struct.pack(">I", len(header + body)) + header + body


def smb1_negotiate(*dialects: bytes) -> bytes:
    names = b"".join(b"\x02" + d + b"\x00" for d in dialects)
    message = b"\xffSMBr" + b"\x00" * 27 + b"\x00" + struct.pack("<H", len(names)) + names
    return struct.pack(">I", len(message)) + message


async def negotiate(request: bytes) -> bytes:
    async with connected("smb") as (reader, writer):
        await exchange(writer, request)
        header = await recv(reader, 4)
        return await recv(reader, int.from_bytes(header, "big"))


async def test_smb2_negotiate_picks_smb_3_1_1_with_a_stable_server_guid() -> None:
    offered = (0x0202, 0x0210, 0x0300, 0x0302, 0x0311)
    first = await negotiate(smb2_negotiate(offered))
    second = await negotiate(smb2_negotiate(offered))
    assert first[:4] == b"\xfeSMB" and struct.unpack_from("<Q", first, 24)[0] == 5
    structure, security, dialect, contexts = struct.unpack_from("<HHHH", first, 64)
    assert (structure, dialect, contexts) == (65, 0x0311, 1)
    assert security & 0x01  # signing enabled
    assert first[72:88] == second[72:88] and first[72:88] != b"\x00" * 16
    offset, length = struct.unpack_from("<HH", first, 64 + 56)
    assert first[offset : offset + length].startswith(b"\x60")  # a GSS-API token


async def test_smb1_negotiate_is_upgraded_to_smb2_wildcard() -> None:
    response = await negotiate(smb1_negotiate(b"NT LM 0.12", b"SMB 2.002", b"SMB 2.???"))
    assert response[:4] == b"\xfeSMB" and struct.unpack_from("<H", response, 68)[0] == 0x02FF


async def test_smb1_only_client_is_hung_up_on() -> None:
    async with connected("smb") as (reader, writer):
        await exchange(writer, smb1_negotiate(b"NT LM 0.12"))
        assert await recv_all(reader) == b""


# ---------------------------------------------------------------- LDAP


# nmap's LDAPSearchReq probe: a rootDSE search with 4-byte long-form BER lengths.
NMAP_LDAP_PROBE = (
    b"\x30\x84\x00\x00\x00\x2d\x02\x01\x07\x63\x84\x00\x00\x00\x24\x04\x00\x0a\x01\x00"
    b"\x0a\x01\x00\x02\x01\x00\x02\x01\x64\x01\x01\x00\x87\x0b\x6f\x62\x6a\x65\x63\x74"
    b"\x43\x6c\x61\x73\x73\x30\x84\x00\x00\x00\x00"
)


def ldap_search_root(message_id: int, attributes: list[bytes]) -> bytes:
    attrs = ber(0x30, b"".join(ber(0x04, a) for a in attributes))
    search = ber(0x04, b"") + ber_int(0, 0x0A) + ber_int(0, 0x0A) + ber_int(0) + ber_int(0)
    search += ber(0x01, b"\x00") + ber(0x87, b"objectClass") + attrs
    return ber(0x30, ber_int(message_id) + ber(0x63, search))


def ldap_messages(data: bytes) -> list[tuple[int, int, bytes]]:
    out = []
    for _, content in ber_items(data):
        (_, raw_id), (op, body), *_ = ber_items(content)
        out.append((int.from_bytes(raw_id, "big"), op, body))
    return out


def root_dse(entry: bytes) -> dict[str, list[str]]:
    (_, dn), (_, attributes) = ber_items(entry)
    assert dn == b""
    result = {}
    for _, attribute in ber_items(attributes):
        (_, name), (_, values) = ber_items(attribute)
        result[name.decode()] = [v.decode() for _, v in ber_items(values)]
    return result


async def test_ldap_root_dse_names_the_directory_and_its_version() -> None:
    async with connected("ldap") as (reader, writer):
        await exchange(writer, NMAP_LDAP_PROBE)
        entry_and_done = await recv_until(reader, b"\x65\x07\x0a\x01\x00\x04\x00\x04\x00")
    (entry_id, entry_op, entry), (done_id, done_op, _) = ldap_messages(entry_and_done)
    assert (entry_id, entry_op, done_id, done_op) == (7, 0x64, 7, 0x65)
    attributes = root_dse(entry)
    assert attributes["namingContexts"] == ["dc=fjordvik,dc=test"]
    assert attributes["supportedLDAPVersion"] == ["2", "3"]
    assert attributes["vendorVersion"] == ["389-Directory/1.4.4.17 B2021.224.1647"]


async def test_ldap_anonymous_bind_then_selected_attributes_then_refusal() -> None:
    bind = ber(0x30, ber_int(1) + ber(0x60, ber_int(3) + ber(0x04, b"") + ber(0x80, b"")))
    deep = ber(0x04, b"dc=fjordvik,dc=test") + ber_int(2, 0x0A) + ber_int(0, 0x0A)
    deep += ber_int(0) + ber_int(0) + ber(0x01, b"\x00") + ber(0x87, b"uid") + ber(0x30, b"")
    async with connected("ldap", "OpenLDAP/2.4.57") as (reader, writer):
        await exchange(writer, bind + ldap_search_root(2, [b"vendorVersion"]))
        await exchange(writer, ber(0x30, ber_int(3) + ber(0x63, deep)) + b"\x42\x00")
        replies = ldap_messages(await recv_all(reader))
    (_, bind_op, bind_result), (_, _, entry), _, (_, _, refusal) = replies
    assert bind_op == 0x61 and ber_items(bind_result)[0] == (0x0A, b"\x00")
    assert root_dse(entry) == {"vendorVersion": ["OpenLDAP/2.4.57"]}
    assert ber_items(refusal)[0] == (0x0A, b"\x30")  # 48 inappropriateAuthentication


# ---------------------------------------------------------------- VNC


async def test_vnc_protocol_version_then_vnc_authentication_fails() -> None:
    async with connected("vnc") as (reader, writer):
        assert await recv(reader, 12) == b"RFB 003.008\n"
        await exchange(writer, b"RFB 003.008\n")
        assert await recv(reader, 2) == b"\x01\x02"  # one security type: VNC authentication
        await exchange(writer, b"\x02")
        challenge = await recv(reader, 16)
        await exchange(writer, bytes(16))
        result = await recv_all(reader)
    assert len(set(challenge)) > 1
    assert result == b"\x00\x00\x00\x01\x00\x00\x00\x16Authentication failure"


# ---------------------------------------------------------------- MSSQL

# nmap's ms-sql-s probe: PRELOGIN with VERSION, ENCRYPTION, INSTOPT and THREADID.
MSSQL_PRELOGIN = (
    b"\x12\x01\x00\x34\x00\x00\x00\x00\x00\x00\x15\x00\x06\x01\x00\x1b\x00\x01\x02\x00\x1c"
    b"\x00\x0c\x03\x00\x28\x00\x04\xff\x08\x00\x01\x55\x00\x00\x00\x4d\x53\x53\x51\x4c\x53"
    b"\x65\x72\x76\x65\x72\x00\x48\x0f\x00\x00"
)


@pytest.mark.parametrize(
    ("banner", "expected"), [(None, (15, 0, 2000)), ("14.0.1000.169", (14, 0, 1000))]
)
async def test_mssql_prelogin_carries_the_version(
    banner: str | None, expected: tuple[int, int, int]
) -> None:
    async with connected("mssql", banner) as (reader, writer):
        await exchange(writer, MSSQL_PRELOGIN)
        header = await recv(reader, 8)
        payload = await recv(reader, struct.unpack_from(">H", header, 2)[0] - 8)
    assert header[:2] == b"\x04\x01" and header[2:4] == b"\x00\x25"  # the layout nmap expects
    token, offset, length = struct.unpack_from(">BHH", payload)
    assert (token, length) == (0, 6)
    assert struct.unpack_from(">BBH", payload, offset) == expected
    encryption_offset = struct.unpack_from(">H", payload, 6)[0]
    assert payload[encryption_offset] == 0x02  # ENCRYPT_NOT_SUP


# ---------------------------------------------------------------- every server


# SSH is real SSH (lab/ssh.py, tests/lab/test_ssh.py).
ALL_KINDS = sorted(k.value for k in ServiceKind if k in DEFAULT_BANNERS and k != ServiceKind.SSH)
ALL_KINDS += ["rdp", "smb"]
GARBAGE = bytes(range(256)) * 8 + b"\r\n\r\n"


@pytest.mark.parametrize("kind", ALL_KINDS)
async def test_garbage_is_survived_and_the_connection_closed(
    kind: str, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING)
    async with connected(kind, idle=IDLE) as (reader, writer):
        await exchange(writer, GARBAGE)
        await recv_all(reader)  # raises TimeoutError if the server never closes
    assert [r for r in caplog.records if r.levelno >= logging.WARNING] == []


@pytest.mark.parametrize("kind", ALL_KINDS)
async def test_a_silent_client_is_disconnected_after_the_idle_timeout(kind: str) -> None:
    started = time.monotonic()
    async with connected(kind, idle=IDLE) as (reader, _):
        await recv_all(reader)
    assert time.monotonic() - started < IDLE * 3 + 1.5


def test_other_kinds_are_refused() -> None:
    service, host, ctx = lab("ftp")
    for kind in (ServiceKind.SMTP, ServiceKind.SSH):
        with pytest.raises(ValueError, match=kind.value):
            service_handler(Service(kind=kind), host, ctx)
    assert service_handler(service, host, ctx) is not None


# ---------------------------------------------------------------- nmap


@pytest.mark.reference
@pytest.mark.skipif(shutil.which("nmap") is None, reason="nmap is not installed")
async def test_nmap_version_detection_names_the_products() -> None:
    products = {"ftp": "vsftpd", "mysql": "MySQL", "redis": "Redis"}  # SSH: test_ssh.py
    products |= {"vnc": "VNC", "memcached": "Memcached"}
    async with asyncio.timeout(300):
        ports: dict[str, int] = {}
        servers = []
        for kind in products:
            service, host, ctx = lab(kind)
            # At --version-light nmap sends its memcached probe only to the usual port.
            port = 11211 if kind == "memcached" else 0
            server = await asyncio.start_server(service_handler(service, host, ctx), IP, port)
            servers.append(server)
            ports[kind] = server.sockets[0].getsockname()[1]
        try:
            process = await asyncio.create_subprocess_exec(
                *["nmap", "-n", "-Pn", "-sT", "-sV", "--version-light"],
                *["-p", ",".join(str(p) for p in ports.values()), IP],
                stdout=asyncio.subprocess.PIPE,
            )
            output = (await process.communicate())[0].decode()
        finally:
            for server in servers:
                server.close()
    for kind, product in products.items():
        line = next(x for x in output.splitlines() if x.startswith(f"{ports[kind]}/tcp"))
        assert product.lower() in line.lower(), output


async def test_an_announced_flood_is_refused_before_it_is_read() -> None:
    # A long idle timeout: only the size check, not idleness, can close this in time.
    async with connected("memcached", idle=60) as (reader, writer):
        await exchange(writer, b"set k 0 0 2000000000\r\n" + b"x" * 65536)
        assert await recv_all(reader) == b""
