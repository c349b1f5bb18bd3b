"""The lab's SSH servers are real SSH-2: the release's KEXINIT, a key exchange, refused logins.

Each test serves one SSH service of ssh.fjordvik.test on 127.104.3.1 and talks to it over a
real loopback socket: raw for the identification and KEXINIT, asyncssh for the rest.
"""

from __future__ import annotations

import asyncio
import shutil
import struct
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import asyncssh
import pytest

from utsyn.lab.context import LabContext
from utsyn.lab.manifest import Host, Service, parse_manifest
from utsyn.lab.ssh import release_algorithms, served_algorithms, start_ssh_server

IP = "127.104.3.1"
HOST = "ssh.fjordvik.test"
WAIT = 5.0


def lab(service: dict[str, Any], cache_dir: Path) -> tuple[Service, Host, LabContext]:
    manifest = parse_manifest(
        {
            "name": "ssh test",
            "organisations": [
                {
                    "slug": "fjordvik",
                    "name": "Fjordvik kommune",
                    "orgnr": "974760673",
                    "sector": "municipality",
                    "county": "46",
                    "municipality": "4601",
                    "hosts": [{"name": HOST, "ip": IP, "services": [{"kind": "ssh", **service}]}],
                }
            ],
        }
    )
    host = manifest.organisations[0].hosts[0]
    ca = SimpleNamespace(cache_dir=cache_dir)  # the SSH server needs only the key cache
    ctx = LabContext(manifest, {HOST: IP}, ca, Path("/nonexistent"))  # type: ignore[arg-type]
    return host.services[0], host, ctx


@asynccontextmanager
async def serving(service: dict[str, Any], cache_dir: Path) -> AsyncIterator[Service]:
    served, host, ctx = lab({"port": 2222, **service}, cache_dir)
    acceptor = await start_ssh_server(served, host, ctx, IP, idle_timeout=WAIT)
    try:
        yield served
    finally:
        acceptor.close()
        await acceptor.wait_closed()


async def kexinit(port: int = 2222) -> tuple[bytes, list[str]]:
    """The server's identification line and its ten KEXINIT name-lists, read raw."""
    reader, writer = await asyncio.open_connection(IP, port)
    try:
        ident = await asyncio.wait_for(reader.readline(), WAIT)
        writer.write(b"SSH-2.0-LabTest\r\n")
        length, padding = struct.unpack(">IB", await asyncio.wait_for(reader.readexactly(5), WAIT))
        payload = (await reader.readexactly(length - 1))[: length - 1 - padding]
    finally:
        writer.close()
    assert payload[0] == 20  # SSH_MSG_KEXINIT, sent in clear
    names, at = [], 17
    for _ in range(10):
        (size,) = struct.unpack_from(">I", payload, at)
        names.append(payload[at + 4 : at + 4 + size].decode())
        at += 4 + size
    return ident, names


def client(**options: Any) -> asyncssh.SSHClientConnectionOptions:
    legacy = ["diffie-hellman-group1-sha1", "diffie-hellman-group14-sha1", "curve25519-sha256"]
    return asyncssh.SSHClientConnectionOptions(
        config=None, known_hosts=None, client_keys=None, agent_path=None, kex_algs=legacy,
        server_host_key_algs=["rsa-sha2-256", "ssh-rsa", "ssh-ed25519", "ssh-dss"], **options,
    )  # fmt: skip


async def test_default_release_identifies_verbatim_and_offers_no_sha1(tmp_path: Path) -> None:
    async with serving({}, tmp_path):
        ident, (kex, host_keys, *_) = await kexinit()
    assert ident == b"SSH-2.0-OpenSSH_8.9p1 Ubuntu-3ubuntu0.6\r\n"
    assert kex.startswith("curve25519-sha256,")
    assert "diffie-hellman-group14-sha1" not in kex.split(",")
    assert set(host_keys.split(",")) == {
        "rsa-sha2-512", "rsa-sha2-256", "ecdsa-sha2-nistp256", "ssh-ed25519"
    }  # fmt: skip


async def test_old_releases_offer_sha1_and_ssh_rsa(tmp_path: Path) -> None:
    async with serving({"banner": "SSH-2.0-OpenSSH_7.4p1 Debian-10+deb9u7"}, tmp_path):
        _, (kex, host_keys, *_) = await kexinit()
    assert "diffie-hellman-group14-sha1" in kex.split(",")
    assert "ssh-rsa" in host_keys.split(",") and "rsa-sha2-256" in host_keys.split(",")


async def test_openssh_6_offers_what_it_offered_and_the_ground_truth_agrees(
    tmp_path: Path,
) -> None:
    spec = {
        "banner": "SSH-2.0-OpenSSH_6.6.1p1 Ubuntu-2ubuntu2.13",
        "ssh": {"host_keys": ["rsa2048", "dsa1024"]},
    }
    async with serving(spec, tmp_path) as service:
        _, names = await kexinit()
    kex, host_keys, cipher, _, mac, _, compression, *_ = (n.split(",") for n in names)
    assert "diffie-hellman-group1-sha1" in kex and "arcfour" in cipher and "hmac-md5" in mac
    assert host_keys == ["ssh-rsa", "ssh-dss"]  # RSA with SHA-1 only: rsa-sha2 came in 7.2
    served = served_algorithms(service)
    assert [k for k in kex if k not in ("ext-info-s", "kex-strict-s-v00@openssh.com")] == served[
        "kex"
    ]
    assert (host_keys, cipher, mac, compression) == (
        served["host_key"], served["cipher"], served["mac"], served["compression"]
    )  # fmt: skip
    # What asyncssh does not implement is left out, and only that.
    assert "rijndael-cbc@lysator.liu.se" in release_algorithms(spec["banner"]).cipher
    assert "rijndael-cbc@lysator.liu.se" not in cipher


async def test_a_none_login_is_told_the_manifest_methods_and_a_password_fails(
    tmp_path: Path,
) -> None:
    async with serving({"ssh": {"auth": ["publickey", "password"]}}, tmp_path):
        methods = await asyncssh.get_server_auth_methods(
            IP, 2222, username="anyone", options=client()
        )
        with pytest.raises(asyncssh.PermissionDenied):
            await asyncssh.connect(IP, 2222, username="root", password="hunter2", options=client())
    assert sorted(methods) == ["password", "publickey"]


async def test_keys_only_by_default(tmp_path: Path) -> None:
    async with serving({}, tmp_path):
        methods = await asyncssh.get_server_auth_methods(IP, 2222, username="x", options=client())
    assert methods == ["publickey"]


async def test_the_host_key_is_the_configured_one(tmp_path: Path) -> None:
    async with serving({"ssh": {"host_keys": ["rsa1024"]}}, tmp_path):
        key = await asyncssh.get_server_host_key(IP, 2222, options=client())
    assert key is not None and key.get_algorithm() == "ssh-rsa"
    assert key.pyca_key.key_size == 1024  # type: ignore[attr-defined]
    # Cached: a second lab start reads the same key instead of generating another.
    assert (tmp_path / "lab-keys" / "ssh-host-rsa1024.key").exists()


async def test_a_client_that_is_not_ssh_is_dropped(tmp_path: Path) -> None:
    async with serving({}, tmp_path):
        reader, writer = await asyncio.open_connection(IP, 2222)
        await asyncio.wait_for(reader.readline(), WAIT)
        writer.write(b"GET / HTTP/1.0\r\n\r\n")
        rest = await asyncio.wait_for(reader.read(), WAIT)  # the server hangs up
        writer.close()
    assert b"HTTP" not in rest


def test_ssh_banners_must_be_ssh_2() -> None:
    from utsyn.errors import ManifestError

    with pytest.raises(ManifestError, match=r"SSH-2\.0-"):
        lab({"banner": "SSH-1.5-OpenSSH_2.0"}, Path("/nonexistent"))


async def test_garbage_and_silence_end_the_connection_quietly(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    async with serving({}, tmp_path):
        reader, writer = await asyncio.open_connection(IP, 2222)
        writer.write(bytes(range(256)) * 8 + b"\r\n\r\n")
        await asyncio.wait_for(reader.read(), WAIT)  # raises TimeoutError if never closed
        writer.close()
        began = time.monotonic()
        served, host, ctx = lab({"port": 2223}, tmp_path)
        quick = await start_ssh_server(served, host, ctx, IP, idle_timeout=0.5)
        try:
            reader, writer = await asyncio.open_connection(IP, 2223)
            await asyncio.wait_for(reader.read(), WAIT)  # a silent client is let go
            writer.close()
        finally:
            quick.close()
    assert time.monotonic() - began < 3
    assert [r for r in caplog.records if r.levelno >= 40] == []  # no errors logged


@pytest.mark.reference
@pytest.mark.skipif(shutil.which("nmap") is None, reason="nmap is not installed")
async def test_nmap_names_the_release_from_the_identification(tmp_path: Path) -> None:
    async with serving({"banner": "SSH-2.0-OpenSSH_7.4p1 Debian-10+deb9u7"}, tmp_path):
        process = await asyncio.create_subprocess_exec(
            *["nmap", "-n", "-Pn", "-sT", "-sV", "--version-light", "-p", "2222", IP],
            stdout=asyncio.subprocess.PIPE,
        )
        output = (await asyncio.wait_for(process.communicate(), 120))[0].decode()
    line = next(x for x in output.splitlines() if x.startswith("2222/tcp"))
    assert "OpenSSH 7.4p1 Debian 10+deb9u7" in line, output
