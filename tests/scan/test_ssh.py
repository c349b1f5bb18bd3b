"""The SSH family against the demo lab, a recording server, the scope guard and nmap.

Lab cases named below are those of the demo scenario (src/utsyn/lab/scenarios/demo.yaml).
The recording server listens on 127.116.0.1 (this module's own loopback address).
"""

from __future__ import annotations

import asyncio
import shutil
import subprocess
import time
import xml.etree.ElementTree as ET
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any, ClassVar

import asyncssh
import pytest

from tests.scan.conftest import lab_config, mismatches, observed, scan_demo
from utsyn.lab.runtime import LabInfo
from utsyn.lab.scenarios import load_scenario
from utsyn.rules.outcomes import Outcome, classify
from utsyn.scan.family import ScanContext
from utsyn.scan.guard import GuardedNet, ScopePolicy, ScopeRefused, Timeouts
from utsyn.scan.model import ServiceTarget, TargetResult
from utsyn.scan.resolve import Resolver
from utsyn.scan.ssh import PROBE_USER, SshFamily, describe_key, parse_kexinit, weak_names

RECORDER_IP = "127.116.0.1"


@pytest.fixture(scope="module")
def ssh_scan(demo_lab: LabInfo) -> list[TargetResult]:
    return scan_demo(demo_lab, [SshFamily()])


def test_every_ssh_fact_of_the_demo_matches_the_ground_truth(ssh_scan: list[TargetResult]) -> None:
    assert mismatches(ssh_scan, "ssh.") == []
    errors = [o for r in ssh_scan for o in r.observations if o.error]
    assert errors == []


def test_an_old_ubuntu_server_shows_every_weakness_of_its_day(
    ssh_scan: list[TargetResult],
) -> None:
    """Lab case: OpenSSH 6.6 as Ubuntu 14.04 shipped it on db.lyngoy.test."""
    seen = observed(ssh_scan)
    target = "db.lyngoy.test:22"
    assert seen[(target, "ssh.kex.weak")].value == ["diffie-hellman-group1-sha1"]
    assert "diffie-hellman-group14-sha1" in seen[(target, "ssh.kex.sha1")].value
    assert seen[(target, "ssh.host_key.weak")].value == ["ssh-dss", "ssh-rsa"]
    assert {"arcfour", "3des-cbc", "hmac-md5"} <= set(seen[(target, "ssh.cipher.weak")].value)
    assert seen[(target, "ssh.auth_methods")].value == ["password", "publickey"]
    assert "OpenSSH_6.6.1p1" in seen[(target, "ssh.algorithms")].evidence
    hits = {h.outcome for r in ssh_scan for h in classify(r) if h.asset == target}
    assert hits == {
        Outcome.SSH_WEAK_KEX,
        Outcome.SSH_SHA1_KEX,
        Outcome.SSH_WEAK_HOST_KEY,
        Outcome.SSH_WEAK_CIPHERS,
        Outcome.SSH_PASSWORD_LOGIN,
    }


def test_a_small_rsa_key_and_keyboard_interactive_are_found(ssh_scan: list[TargetResult]) -> None:
    """Lab case: a 1024-bit RSA host key and PAM passwords on styring.kystbyhavn.test."""
    seen = observed(ssh_scan)
    key = seen[("styring.kystbyhavn.test:22", "ssh.host_key")]
    assert key.value == "rsa1024" and key.evidence.startswith("ssh-rsa SHA256:")
    methods = seen[("styring.kystbyhavn.test:22", "ssh.auth_methods")]
    assert methods.value == ["keyboard-interactive", "publickey"]
    assert PROBE_USER in methods.evidence
    hits = {h.outcome for r in ssh_scan for h in classify(r) if h.asset.startswith("styring.")}
    assert {Outcome.SSH_WEAK_HOST_KEY, Outcome.SSH_PASSWORD_LOGIN} <= hits


def test_a_current_server_with_keys_only_passes(ssh_scan: list[TargetResult]) -> None:
    """Lab case: OpenSSH 9.6 with the default keys and public-key login on ssh.fjellheim-hs.test."""
    hits = {
        h.outcome for r in ssh_scan for h in classify(r) if h.asset == "ssh.fjellheim-hs.test:22"
    }
    assert hits == {Outcome.SSH_ALGORITHMS_OK, Outcome.SSH_KEY_LOGIN_ONLY}


# ======================================================================== nothing is tried


class _Recorder(asyncssh.SSHServer):
    """Counts every authentication attempt a client makes beyond `none`."""

    attempts: ClassVar[list[tuple[str, str]]] = []

    def begin_auth(self, username: str) -> bool:
        self.attempts.append(("begin", username))
        return True

    def password_auth_supported(self) -> bool:
        return True

    def validate_password(self, username: str, password: str) -> bool:
        self.attempts.append(("password", username))
        return False

    def public_key_auth_supported(self) -> bool:
        return True

    def validate_public_key(self, username: str, key: asyncssh.SSHKey) -> bool:
        self.attempts.append(("publickey", username))
        return False


@asynccontextmanager
async def recorder() -> AsyncIterator[int]:
    key = asyncssh.generate_private_key("ssh-ed25519")
    acceptor = await asyncssh.listen(
        RECORDER_IP, 0, server_factory=_Recorder, server_host_keys=[key], config=None
    )
    try:
        yield acceptor.sockets[0].getsockname()[1]
    finally:
        acceptor.close()
        await acceptor.wait_closed()


def _context(lab: LabInfo, policy: ScopePolicy | None = None) -> ScanContext:
    config = lab_config(lab)
    net = GuardedNet(policy or config.scope, config.timeouts)
    return ScanContext(config, net, Resolver(net, [lab.dns_ip], lab.dns_port))


async def test_only_a_none_request_is_made_and_every_connection_is_guarded(
    demo_lab: LabInfo,
) -> None:
    _Recorder.attempts.clear()
    family = SshFamily()
    async with recorder() as port:
        target = ServiceTarget("recorder.test", RECORDER_IP, port, "ssh")
        scan = _context(demo_lab)
        results = [o for job in family.jobs(target) for o in await family.run(job, scan)]
    assert scan.net.stats.connections == 3  # kexinit, hostkey, auth: one each
    assert [o for o in results if o.error] == []
    assert _Recorder.attempts == [("begin", PROBE_USER)]  # no password, no key


async def test_the_scope_guard_refuses_before_any_connection(demo_lab: LabInfo) -> None:
    family = SshFamily()
    target = ServiceTarget("db.lyngoy.test", demo_lab.addresses["db.lyngoy.test"], 22, "ssh")
    scan = _context(demo_lab, ScopePolicy.internet())
    for job in family.jobs(target):
        with pytest.raises(ScopeRefused):
            await family.run(job, scan)
    assert scan.net.stats.connections == 0


async def test_a_server_dripping_lines_is_given_up_on_in_bounded_time(demo_lab: LabInfo) -> None:
    """Hostile case: pre-identification lines, each well inside the read timeout."""

    async def drip(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            for _ in range(100):
                writer.write(b"please wait\r\n")
                await writer.drain()
                await asyncio.sleep(0.2)
        except OSError:
            pass
        finally:
            writer.close()

    server = await asyncio.start_server(drip, RECORDER_IP, 0)
    port = server.sockets[0].getsockname()[1]
    config = lab_config(demo_lab, timeouts=Timeouts(connect=1.0, read=0.5))
    net = GuardedNet(config.scope, config.timeouts)
    scan = ScanContext(config, net, Resolver(net, [demo_lab.dns_ip], demo_lab.dns_port))
    began = time.monotonic()
    try:
        (job, *_) = SshFamily().jobs(ServiceTarget("drip.test", RECORDER_IP, port, "ssh"))
        observations = await SshFamily().run(job, scan)
    finally:
        server.close()
    assert time.monotonic() - began < 3  # 32 lines at 0.2 s would take 6.4 s
    assert {o.error for o in observations} == {"timeout: the server did not answer in time"}


# ======================================================================== piece by piece


def _kexinit(*lists: str) -> bytes:
    payload = bytes([20]) + bytes(16)
    for names in lists:
        payload += len(names).to_bytes(4, "big") + names.encode()
    return payload + b"\x00" + bytes(4)


def test_kexinit_lists_are_read_merged_and_sanitised() -> None:
    payload = _kexinit(
        "curve25519-sha256,diffie-hellman-group1-sha1",
        "ssh-rsa,rsa-sha2-256",
        "aes128-ctr",
        "aes128-ctr,3des-cbc",
        "hmac-sha2-256",
        "hmac-md5-96,bad\x1bname",
        "none",
        "none",
        "",
        "",
    )
    lists = parse_kexinit(payload)
    assert lists["cipher"] == ["aes128-ctr", "3des-cbc"]
    assert lists["mac"] == ["hmac-sha2-256", "hmac-md5-96"]  # the control character is dropped
    weak = weak_names(lists)
    assert weak["ssh.kex.weak"] == ["diffie-hellman-group1-sha1"]
    assert weak["ssh.host_key.weak"] == []  # ssh-rsa with rsa-sha2-256: SHA-2 signatures
    assert weak["ssh.cipher.weak"] == ["3des-cbc", "hmac-md5-96"]
    with pytest.raises(ValueError, match="runs past the packet"):
        parse_kexinit(payload[:40])


GSS_GROUP1 = "gss-group1-sha1-toWM5Slw5Ew8Mqkay+al2g=="
RIJNDAEL = "rijndael-cbc@lysator.liu.se"


@pytest.mark.parametrize(
    ("names", "weak"),
    [
        ({"host_key": ["ssh-rsa"]}, {"ssh.host_key.weak": ["ssh-rsa"]}),
        ({"host_key": ["ssh-ed25519", "ssh-dss"]}, {"ssh.host_key.weak": ["ssh-dss"]}),
        ({"kex": [GSS_GROUP1]}, {"ssh.kex.weak": [GSS_GROUP1]}),
        ({"kex": ["diffie-hellman-group14-sha256"]}, {}),
        ({"cipher": ["aes256-gcm@openssh.com", RIJNDAEL]}, {"ssh.cipher.weak": [RIJNDAEL]}),
        ({"mac": ["hmac-sha1", "hmac-sha1-etm@openssh.com"]}, {}),  # HMAC-SHA1 is not broken
    ],
)  # fmt: skip
def test_weak_names(names: dict[str, list[str]], weak: dict[str, list[str]]) -> None:
    found = {k: v for k, v in weak_names(names).items() if v}
    assert found == weak


def _blob(*parts: bytes) -> bytes:
    return b"".join(len(p).to_bytes(4, "big") + p for p in parts)


def test_host_keys_are_described_by_type_and_size() -> None:
    modulus = b"\x00" + (2**1023 + 1).to_bytes(128, "big")
    assert describe_key(_blob(b"ssh-rsa", b"\x01\x00\x01", modulus)) == "rsa1024"
    assert describe_key(_blob(b"ssh-dss", (2**1023).to_bytes(128, "big"), b"q")) == "dsa1024"
    assert describe_key(_blob(b"ecdsa-sha2-nistp384", b"nistp384", b"Q")) == "ecdsa384"
    assert describe_key(_blob(b"ssh-ed25519", bytes(32))) == "ed25519"


# ======================================================================== nmap (reference)


def _nmap_ssh(addresses: list[str]) -> dict[str, dict[str, Any]]:
    command = ["nmap", "-n", "-Pn", "-sT", "-p22", "-oX", "-"]
    command += ["--script", "ssh2-enum-algos,ssh-auth-methods,ssh-hostkey", *addresses]
    xml = subprocess.run(command, capture_output=True, text=True, timeout=120, check=True).stdout
    found: dict[str, dict[str, Any]] = {}
    for host in ET.fromstring(xml).iter("host"):
        address = host.find("address")
        facts: dict[str, Any] = {"keys": set()}
        for script in host.iter("script"):
            for table in script.findall("table"):
                elems = {e.get("key"): e.text for e in table.findall("elem")}
                if script.get("id") == "ssh-hostkey":
                    facts["keys"].add((elems.get("type"), int(elems.get("bits") or 0)))
                else:
                    facts[table.get("key")] = [e.text for e in table.findall("elem")]
        if address is not None:
            found[address.get("addr", "")] = facts
    return found


_NMAP_LISTS = {
    "kex_algorithms": "kex",
    "server_host_key_algorithms": "host_key",
    "encryption_algorithms": "cipher",
    "mac_algorithms": "mac",
    "compression_algorithms": "compression",
}
_KEY_TYPES = {
    "rsa": "ssh-rsa",
    "dsa": "ssh-dss",
    "ecdsa": "ecdsa-sha2-nistp",
    "ed25519": "ssh-ed25519",
}


@pytest.mark.reference
@pytest.mark.skipif(shutil.which("nmap") is None, reason="nmap is not installed")
def test_utsyn_agrees_with_nmap_on_algorithms_login_methods_and_host_keys(
    demo_lab: LabInfo, ssh_scan: list[TargetResult]
) -> None:
    """nmap's ssh2-enum-algos, ssh-auth-methods and ssh-hostkey on every demo SSH host.

    nmap 7.93 asks for RSA keys as `ssh-rsa` only, which OpenSSH 8.8 and later refuse: on
    such a server it cannot see the RSA key Utsyn reads with rsa-sha2-512, and that one
    comparison is not made.
    """
    hosts = [
        h.name
        for _, h in load_scenario("demo").hosts()
        if any(str(s.kind) == "ssh" for s in h.services)
    ]
    nmap = _nmap_ssh([demo_lab.addresses[h] for h in hosts])
    seen = observed(ssh_scan)
    disagreements, compared = [], 0
    for host in hosts:
        theirs, target = nmap[demo_lab.addresses[host]], f"{host}:22"
        ours = seen[(target, "ssh.algorithms")].value
        for nmap_key, key in _NMAP_LISTS.items():
            compared += 1
            if theirs.get(nmap_key) != ours[key]:
                disagreements.append(f"{host} {key}: {ours[key]} vs nmap {theirs.get(nmap_key)}")
        compared += 1
        methods = sorted(theirs.get("Supported authentication methods", []))
        if methods != seen[(target, "ssh.auth_methods")].value:
            disagreements.append(f"{host} auth: nmap {methods}")
        shown = str(seen[(target, "ssh.host_key")].value)
        if shown.startswith("rsa") and "ssh-rsa" not in ours["host_key"]:
            continue  # nmap cannot ask for it (see above)
        compared += 1
        kind = shown.rstrip("0123456789") if not shown.startswith("ed") else "ed25519"
        size = int(shown[len(kind) :] or 256)
        if not any(t.startswith(_KEY_TYPES[kind]) and b == size for t, b in theirs["keys"]):
            disagreements.append(f"{host} host key {shown}: nmap {theirs['keys']}")
    assert disagreements == []
    assert compared >= len(hosts) * 6 + 4 and len(hosts) >= 6
