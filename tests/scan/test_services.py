"""The services family against the demo lab, hostile servers, and nmap as a reference.

Hostile servers listen on 127.114.0.0/16 (this module's own loopback range).
"""

from __future__ import annotations

import asyncio
import re
import shutil
import socket
import struct
import subprocess
import time
import xml.etree.ElementTree as ET
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager

import pytest

from tests.scan.conftest import lab_config, mismatches, observed, scan_demo
from utsyn.lab.runtime import LabInfo
from utsyn.scan.family import ScanConfig, ScanContext
from utsyn.scan.guard import GuardedNet, ScopePolicy, Timeouts
from utsyn.scan.model import Observation, ServiceTarget, TargetResult
from utsyn.scan.resolve import Resolver
from utsyn.scan.services.elasticsearch import elasticsearch_answer
from utsyn.scan.services.family import ServicesFamily
from utsyn.scan.services.mysql import mysql_answer
from utsyn.scan.services.rdp import rdp_answer
from utsyn.scan.services.smb import smb2_negotiate, smb_answer
from utsyn.scan.services.telnet import telnet_split


@pytest.fixture(scope="module")
def services_scan(demo_lab: LabInfo) -> list[TargetResult]:
    return scan_demo(demo_lab, [ServicesFamily()])


def test_every_demo_service_kind_and_banner_agrees_with_the_manifest(
    services_scan: list[TargetResult],
) -> None:
    assert mismatches(services_scan, "service.") == []


def test_products_of_the_demo_banners(services_scan: list[TargetResult]) -> None:
    seen = observed(services_scan)
    # "OpenSSH 7.4p1 from Debian's stretch security updates on www.holmvik.test"
    holmvik = seen[("www.holmvik.test:22", "service.product")].value
    assert holmvik["cpe"] == "cpe:2.3:a:openbsd:openssh:7.4:p1:*:*:*:*:*:*"
    assert holmvik["distro_patched"] is True
    # "unpatched-looking OpenSSH 7.4 on styring.kystbyhavn.test"
    plain = seen[("styring.kystbyhavn.test:22", "service.product")].value
    assert plain["distro_patched"] is False
    # "MongoDB 3.4 (no OP_MSG) on forskning.uink.test"
    assert seen[("forskning.uink.test:27017", "service.product")].value["version"] == "3.4.24"
    # "SQL Server with no banner in the manifest on sak.havnoy.test"
    mssql = seen[("sak.havnoy.test:1433", "service.product")].value
    assert mssql["cpe"] == "cpe:2.3:a:microsoft:sql_server:2019:*:*:*:*:*:*:*"


def test_risk_facts_of_the_demo_services(services_scan: list[TargetResult]) -> None:
    seen = observed(services_scan)
    rdp = seen[("styring.kystbyhavn.test:3389", "service.details")].value
    assert rdp["nla_required"] is True and rdp["standard_rdp_security"] is False
    smb = seen[("server.steinmo.test:445", "service.details")].value
    assert smb == {"smb1_only": False, "dialect": "3.1.1", "signing_required": False}
    vnc = seen[("styring.kystbyhavn.test:5900", "service.details")].value
    assert vnc == {"security_types": ["vnc"], "no_auth": False}
    ldap = seen[("katalog.uink.test:389", "service.details")].value
    assert ldap["root_dse_readable"] is True
    postgres = seen[("server.steinmo.test:5432", "service.details")].value
    assert postgres["tls"] is False and postgres["error_code"] == "28000"
    assert seen[("sak.havnoy.test:6379", "service.details")].value["auth_required"] is False


def test_http_and_dns_targets_get_only_their_kind(services_scan: list[TargetResult]) -> None:
    seen = observed(services_scan)
    https = [o for (t, c), o in seen.items() if t == "www.ddb.test:443" and c != "service.open"]
    assert [o.check for o in https] == ["service.kind"] and https[0].value == "https"


# ---------------------------------------------------------------- hostile servers

Session = Callable[[asyncio.StreamReader, asyncio.StreamWriter], Awaitable[None]]
_next_ip = iter(range(1, 250))


def context(read: float = 0.5) -> ScanContext:
    config = ScanConfig(
        scope=ScopePolicy.lab(), nameservers=("127.0.0.1",), timeouts=Timeouts(1.0, read, 1.0)
    )
    net = GuardedNet(config.scope, config.timeouts)
    return ScanContext(config, net, Resolver(net, ["127.0.0.1"]))


@asynccontextmanager
async def hostile(session: Session) -> AsyncIterator[tuple[str, int]]:
    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            await session(reader, writer)
        except (OSError, asyncio.CancelledError):
            pass
        finally:
            writer.transport.abort()

    ip = f"127.114.0.{next(_next_ip)}"
    server = await asyncio.start_server(handle, ip, 0)
    port = server.sockets[0].getsockname()[1]
    try:
        yield ip, port
    finally:
        server.close()


async def identify(session: Session, protocol: str, read: float = 0.5) -> list[Observation]:
    async with hostile(session) as (ip, port):
        target = ServiceTarget("hostile.test", ip, port, protocol)
        family = ServicesFamily()
        (job,) = family.jobs(target)
        return await family.run(job, context(read))


def checks(observations: list[Observation]) -> dict[str, Observation]:
    return {o.check: o for o in observations}


def says(data: bytes, then_wait: float = 5.0) -> Session:
    async def session(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        writer.write(data)
        await writer.drain()
        await asyncio.sleep(then_wait)

    return session


async def test_ansi_escapes_and_nul_bytes_in_a_banner_are_escaped() -> None:
    found = checks(await identify(says(b"SSH-2.0-Evil\x1b[2J\x1b]0;pwn\x07\x00_1.0\r\n"), "ssh"))
    banner = found["service.banner"].value
    assert found["service.kind"].value == "ssh"
    assert not re.search(r"[\x00-\x1f\x7f]", banner) and "\\x1b" in banner


async def test_invalid_utf8_still_yields_the_product_behind_it() -> None:
    found = checks(await identify(says(b"220 \xff\xfe\xc3( (vsFTPd 3.0.3)\r\n"), "ftp"))
    assert "\ufffd" in found["service.banner"].value
    assert found["service.product"].value["cpe"].startswith("cpe:2.3:a:vsftpd_project:vsftpd:3.0.3")


async def test_a_one_megabyte_banner_is_cut_and_read_in_bounded_time() -> None:
    began = time.perf_counter()
    found = checks(await identify(says(b"SSH-2.0-" + b"A" * 1_000_000), "ssh", read=0.5))
    assert time.perf_counter() - began < 3.0
    banner = found["service.banner"]
    assert banner.error is not None or len(banner.value) <= 1025


async def test_a_server_that_never_speaks_times_out_with_a_reason() -> None:
    began = time.perf_counter()
    found = checks(await identify(says(b"", then_wait=10), "ssh", read=0.5))
    assert time.perf_counter() - began < 2.0
    assert found["service.kind"].probe == "port number (unconfirmed)"
    assert "timeout" in (found["service.banner"].error or "")


async def test_a_server_that_resets_is_recorded_not_raised() -> None:
    async def reset(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        sock = writer.get_extra_info("socket")
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))

    for protocol in ("mysql", "redis", "telnet", "ldap", "rdp"):
        found = checks(await identify(reset, protocol))
        assert found["service.banner"].error, protocol


async def test_a_trickling_server_hits_the_job_deadline() -> None:
    async def trickle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        writer.write(b"\xff\xfd\x18")  # telnet DO TERMINAL-TYPE, then one byte at a time
        for _ in range(100):
            await asyncio.sleep(0.3)
            writer.write(b"x")

    began = time.perf_counter()
    found = checks(await identify(trickle, "telnet", read=0.5))
    assert time.perf_counter() - began < 3.0  # connect + 2 x read
    assert "timeout" in (found["service.banner"].error or "")


@pytest.mark.parametrize(
    ("protocol", "reply", "reason"),
    [
        ("mysql", b"\xff\xff\xff\x00", "out of bounds"),  # announces 16 MB
        ("redis", b"HTTP/1.1 400 Bad Request\r\n\r\n", "speaks http"),
        ("mongodb", b"\x00\x00\x00\x7f" + b"\x00" * 12, "out of bounds"),
        ("memcached", b"SSH-2.0-OpenSSH_9.6\r\n", "speaks ssh"),
        ("ldap", b"\x30\x84\xff\xff\xff\xff", "out of bounds"),
        ("mssql", b"\x04\x01\x00\x0c\x00\x00\x01\x00\x00\x00\x00\x00", "PRELOGIN"),
        ("vnc", b"RFB 003.008\n\x00\x00\x00\x00\x05nope!", "refused"),
        ("smb", b"\x00\x00\x00\x08GARBAGE!", "expected an SMB2 response"),
        ("postgres", b"Z", "expected a PostgreSQL answer"),
        ("elasticsearch", b"\x16\x03\x01\x00\x05hello", "speaks tls"),
    ],
)
async def test_garbage_is_an_error_observation_with_its_reason(
    protocol: str, reply: bytes, reason: str
) -> None:
    found = checks(await identify(says(reply, then_wait=2), protocol))
    assert reason in (found["service.banner"].error or ""), found
    assert found["service.kind"].value == protocol


def test_parsers_refuse_malformed_answers_with_value_errors() -> None:
    for parse, data in [
        (mysql_answer, b"\x05\x00\x00\x00\x0aabc"),  # no NUL after the version
        (rdp_answer, b"\x03\x00\x00\x0b\x06\xe0\x00\x00\x00\x00\x00"),  # a request, not CC
        (smb_answer, b"\xfeSMB"),
        (elasticsearch_answer, b"not http"),
    ]:
        with pytest.raises(ValueError):
            parse(data)


def test_telnet_refuses_every_option_it_is_asked_for() -> None:
    text, answer = telnet_split(b"\xff\xfd\x18\xff\xfb\x01login: ")
    assert text == b"login: " and answer == b"\xff\xfc\x18\xff\xfe\x01"


def test_the_smb2_request_offers_311_with_its_negotiate_contexts_8_aligned() -> None:
    message = smb2_negotiate()[4:]
    offset, count = struct.unpack_from("<IH", message, 64 + 28)
    assert offset % 8 == 0 and count == 2
    assert struct.unpack_from("<H", message, offset)[0] == 1  # preauth integrity first


def test_one_connection_at_most_per_service(demo_lab: LabInfo) -> None:
    # SSH/FTP/SMTP reuse the discovery's greeting: no connection of their own.
    ctx_config = lab_config(demo_lab)
    net = GuardedNet(ctx_config.scope, ctx_config.timeouts)
    ctx = ScanContext(ctx_config, net, Resolver(net, [demo_lab.dns_ip], demo_lab.dns_port))
    family = ServicesFamily()
    ip = demo_lab.addresses["www.holmvik.test"]
    greeted = ServiceTarget("www.holmvik.test", ip, 22, "ssh", "SSH-2.0-OpenSSH_7.4p1 Debian")
    (job,) = family.jobs(greeted)
    asyncio.run(family.run(job, ctx))
    assert net.stats.connections == 0
    silent = ServiceTarget("www.holmvik.test", ip, 22, "ssh")
    (job,) = family.jobs(silent)
    found = checks(asyncio.run(family.run(job, ctx)))
    assert net.stats.connections == 1 and found["service.banner"].value.startswith("SSH-2.0-")


# ---------------------------------------------------------------- nmap as a reference

# Lab services nmap -sV --version-light names (it leaves Elasticsearch unnamed at that level).
_REFERENCE = {
    "www.holmvik.test": 22,
    "ftp.uink.test": 21,
    "db.lyngoy.test": 3306,
    "sak.havnoy.test": 1433,
    "forskning.uink.test": 27017,
}
_ALSO = {"db.lyngoy.test": 11211, "sak.havnoy.test": 6379}


def _numbers(version: str) -> tuple[int, ...]:
    return tuple(int(n) for n in re.findall(r"\d+", version.split()[0])[:3])


def _nmap(targets: dict[str, list[int]]) -> dict[tuple[str, int], tuple[str, str]]:
    ports = sorted({p for ps in targets.values() for p in ps})
    command = ["nmap", "-n", "-Pn", "-sT", "-sV", "--version-light", "-oX", "-"]
    command += ["-p", ",".join(map(str, ports)), *targets]
    xml = subprocess.run(command, capture_output=True, text=True, timeout=90, check=True).stdout
    answers: dict[tuple[str, int], tuple[str, str]] = {}
    for host in ET.fromstring(xml).iter("host"):
        address = host.find("address")
        for port in host.iter("port"):
            service = port.find("service")
            if address is not None and service is not None and "product" in service.attrib:
                key = (address.get("addr", ""), int(port.get("portid", "0")))
                answers[key] = (service.get("product", ""), service.get("version", ""))
    return answers


@pytest.mark.reference
@pytest.mark.skipif(shutil.which("nmap") is None, reason="nmap is not installed")
def test_products_and_versions_agree_with_nmap(
    demo_lab: LabInfo, services_scan: list[TargetResult]
) -> None:
    seen = observed(services_scan)
    wanted: dict[str, list[int]] = {}
    for host, port in [*_REFERENCE.items(), *_ALSO.items()]:
        wanted.setdefault(demo_lab.addresses[host], []).append(port)
    began = time.perf_counter()
    nmap = _nmap(wanted)
    assert time.perf_counter() - began < 60
    for host, port in [*_REFERENCE.items(), *_ALSO.items()]:
        ours = seen[(f"{host}:{port}", "service.product")].value
        product, version = nmap[(demo_lab.addresses[host], port)]
        assert ours["name"].split()[0].lower() in product.lower(), (host, ours, product)
        common = min(len(_numbers(ours["version"])), len(_numbers(version)))
        assert common >= 2
        assert _numbers(ours["version"])[:common] == _numbers(version)[:common], (host, version)
