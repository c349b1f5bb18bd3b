"""The real tier's mail and SSH: Debian's Postfix and OpenSSH serving the demo scenario,
scanned by Utsyn and compared with the real tier's ground truth.

The ground truth is `lab.expected` on `real.tier.as_served(demo, [POSTFIX, OPENSSH])`:
the manifest with each served service rewritten to what the software really says. For
every service Postfix or sshd serves, every fact of it is compared and must agree:
`service.kind`, `service.banner` (sshd's own identification line, read from the binary;
Postfix's greeting, configured verbatim), `smtp.starttls`, `mail.cleartext_login`,
`smtp.vrfy`, `smtp.expn`, the `tls.*` facts of STARTTLS and port 465 (versions, cipher
classes, DHE group, certificate status, key, signature, expiry), and the `ssh.*` facts
(weak key exchange, SHA-1 exchange, weak host keys and ciphers, the host key signed with,
the login methods).

Not comparable, because the ground truth has no value for them: what real software says
beyond the manifest (Postfix's ETRN and CHUNKING, sshd's sntrup761x25519 and kex-strict
markers in `ssh.algorithms`), and the CVE findings a version in a banner invites (Debian's
patched packages: `as_served` records them as such). The name server and every other
service stay Python, as do the mail and SSH services real software cannot express
(`STAYS_PYTHON` names each with its reason).

One lab serves the module: started, scanned and stopped in the fixture, which then checks
that nothing listens on the served addresses and that no Postfix or sshd process is left.
"""

from __future__ import annotations

import asyncio
import os
import socket
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from tests.scan.conftest import lab_config, observed
from tests.services import unavailable
from utsyn.lab.expected import expected_observations
from utsyn.lab.manifest import SMTP_KINDS, Manifest, ServiceKind, parse_manifest
from utsyn.lab.real.openssh import OPENSSH, identification
from utsyn.lab.real.postfix import POSTFIX
from utsyn.lab.real.software import Assignment, RealSoftware, missing
from utsyn.lab.real.tier import as_served, assign
from utsyn.lab.runtime import running_lab
from utsyn.lab.scenarios import load_scenario
from utsyn.scan.engine import Scanner
from utsyn.scan.mail.smtp import SmtpFamily
from utsyn.scan.model import Footprint, TargetResult
from utsyn.scan.services.family import ServicesFamily
from utsyn.scan.ssh import SshFamily
from utsyn.scan.tls.family import TlsFamily
from utsyn.settings import get_settings
from utsyn.testing.egress import egress_guard

SOFTWARE: list[RealSoftware] = [POSTFIX, OPENSSH]
MAIL_AND_SSH = SMTP_KINDS | {ServiceKind.SSH}
# What stays Python, and a word of why: other MTAs' dialects, and ciphers OpenSSH 9.2
# no longer has (OpenSSH 6.6 as Ubuntu 14.04 shipped it).
STAYS_PYTHON = {
    "mail.nordheifk.test:25": "Microsoft",
    "mail.lauvstad.test:25": "Microsoft",
    "mail.helse-innlandsdal.test:25": "Microsoft",
    "mail.sorkystfk.test:25": "Microsoft",
    "mail.helse-vestkyst.test:25": "Microsoft",
    "mail.havnoy.test:25": "Microsoft",
    "mail.steinmo.test:25": "Microsoft",
    "mail.lyngoy.test:25": "Exim",
    "mail.holmvik.test:25": "Exim",
    "mail.brekkvik.test:25": "Sendmail",
    "db.lyngoy.test:22": "arcfour",
}
POSTFIX_BINARIES = "/usr/lib/postfix/"
SSHD_BINARY = "/usr/sbin/sshd"


@dataclass
class RealRun:
    manifest: Manifest
    assignments: list[Assignment]
    results: list[TargetResult]
    started_in: float  # seconds to a serving lab
    ehlo: str  # a served MTA's answer to EHLO
    left_listening: list[tuple[str, int]]
    left_running: list[str]

    def served(self) -> list[Assignment]:
        return [a for a in self.assignments if a.software is not None]

    def disagreements(self) -> tuple[list[str], list[str]]:
        """Facts of served services the scan got wrong, and the checks compared."""
        truth = expected_observations(as_served(self.manifest, SOFTWARE))
        targets = {_target(a) for a in self.served()}
        seen = observed(self.results)
        facts = [f for f in truth if f.target in targets]
        wrong = []
        for fact in facts:
            got = seen.get((fact.target, fact.check))
            if got is None or got.value != fact.value:
                value = "not observed" if got is None else f"got {got.value!r} ({got.evidence})"
                wrong.append(f"{fact.target} {fact.check}: expected {fact.value!r}, {value}")
        return wrong, [f.check for f in facts]


def _target(a: Assignment) -> str:
    return f"{a.host.name}:{a.service.effective_port}"


def _serve_and_scan(manifest: Manifest, state: Path, dns_ip: str, first_octet: int) -> RealRun:
    """Start the lab on the real tier, scan every host Postfix or sshd serves, stop it,
    and look for what is left."""
    packages = missing(SOFTWARE)
    if packages:
        unavailable(f"the real tier needs: apt-get install {' '.join(packages)}")
    assignments = assign(manifest, SOFTWARE)
    served = [a for a in assignments if a.software is not None]
    since = _uptime()
    began = time.perf_counter()
    with (
        egress_guard(),
        running_lab(
            manifest, state, get_settings().cache_dir,
            dns_ip=dns_ip, first_octet=first_octet, tier="real", software=SOFTWARE,
        ) as info,
    ):  # fmt: skip
        started_in = time.perf_counter() - began
        addresses = [(info.addresses[a.host.name], a.service.effective_port) for a in served]
        mta = next(ip for (ip, port) in addresses if port == 25)
        ehlo = _ehlo(mta)
        hosts = sorted({a.host.name for a in served})
        scanner = Scanner(
            lab_config(info), [ServicesFamily(), TlsFamily(), SmtpFamily(), SshFamily()]
        )

        async def collect() -> list[TargetResult]:
            footprint = Footprint(org="real-tier", hostnames=tuple(hosts))
            return [r async for r in scanner.scan([footprint])]

        results = asyncio.run(collect())
    return RealRun(
        manifest=manifest,
        assignments=assignments,
        results=results,
        started_in=started_in,
        ehlo=ehlo,
        left_listening=[a for a in addresses if _accepts(a)],
        left_running=_our_processes(since),
    )


@pytest.fixture(scope="module")
def run(tmp_path_factory: pytest.TempPathFactory) -> RealRun:
    state = tmp_path_factory.mktemp("real-mail-ssh")
    return _serve_and_scan(load_scenario("demo"), state, "127.63.0.1", 210)


@pytest.fixture(scope="module")
def profiles(tmp_path_factory: pytest.TempPathFactory) -> RealRun:
    state = tmp_path_factory.mktemp("real-mail-ssh-profiles")
    return _serve_and_scan(_profiles_manifest(), state, "127.64.0.1", 220)


# ---------------------------------------------------------------- the demo


def test_every_fact_of_a_served_demo_service_matches_the_real_ground_truth(run: RealRun) -> None:
    wrong, checks = run.disagreements()
    assert wrong == []
    assert {c.split(".")[0] for c in checks} == {"service", "smtp", "mail", "tls", "ssh"}
    assert len(checks) > 500


def test_the_servers_are_the_real_ones(run: RealRun) -> None:
    """Postfix's EHLO has ETRN and CHUNKING, which the Python dialect never offers; sshd
    names Debian's package revision, whatever the manifest's banner says."""
    assert "250-ETRN" in run.ehlo and "CHUNKING" in run.ehlo
    seen = observed(run.results)
    banner = seen[("jump.vesthav-ikt.test:22", "service.banner")].value
    assert banner == identification()
    assert banner.startswith("SSH-2.0-OpenSSH_9.") and "Debian" in banner
    # The manifest's OpenSSH 7.4 defaults, configured on 9.2: SHA-1 key exchange.
    assert seen[("jump.vesthav-ikt.test:22", "ssh.kex.sha1")].value == [
        "diffie-hellman-group-exchange-sha1",
        "diffie-hellman-group14-sha1",
    ]


def test_what_stays_python_and_why(run: RealRun) -> None:
    kept = {
        _target(a): a.reason
        for a in run.assignments
        if a.software is None and a.service.kind in MAIL_AND_SSH
    }
    assert set(kept) == set(STAYS_PYTHON)
    for target, word in STAYS_PYTHON.items():
        assert word in kept[target], (target, kept[target])
    served = run.served()
    assert {a.software for a in served} == {"postfix", "openssh"}
    assert {a.service.kind for a in served} == MAIL_AND_SSH


def test_the_real_tier_starts_quickly(run: RealRun) -> None:
    assert run.started_in < 30


def test_after_the_stop_nothing_listens_and_no_process_is_left(run: RealRun) -> None:
    assert run.left_listening == []
    assert run.left_running == []


# ---------------------------------------------------------------- more profiles


def test_every_profile_postfix_and_sshd_can_express_is_served_and_scanned_right(
    profiles: RealRun,
) -> None:
    """Faulty certificates of every kind, weak and TLS 1.3-only profiles, NULL and
    anonymous suites, a 1024-bit DHE group, VRFY on and off, logins before TLS, port 465,
    a DSA host key and keyboard-interactive logins: all real, all as the manifest says."""
    assert [_target(a) for a in profiles.assignments if a.software is None] == []
    wrong, checks = profiles.disagreements()
    assert wrong == []
    assert len(checks) > 200
    assert profiles.left_listening == [] and profiles.left_running == []


def _profiles_manifest() -> Manifest:
    demo = load_scenario("demo").organisations[0]
    tls = {"starttls": True}
    rsa = {"key": "rsa2048"}
    mail = {
        "mx-self": {**tls, "tls": {"cert": {"status": "self_signed"}}},
        "mx-rogue": {**tls, "tls": {"cert": {"status": "unknown_issuer"}}},
        "mx-wrong": {**tls, "tls": {"cert": {"status": "wrong_host"}}},
        "mx-early": {**tls, "tls": {"cert": {"status": "not_yet_valid"}}},
        "mx-chain": {**tls, "tls": {"cert": {"chain": "missing_intermediate"}}},
        "mx-soon": {**tls, "tls": {"cert": {"days_left": 10}}},
        "mx-13": {**tls, "tls": {"versions": ["tls1.3"], "cert": {"key": "ec384"}}},
        "mx-weak": {
            **tls,
            "tls": {
                "versions": ["tls1.0", "tls1.1", "tls1.2"],
                "ciphers": ["aead", "cbc", "rsa_kex"],
                "cert": {"key": "rsa1024", "signature": "sha1"},
                "dhe": 1024,
            },
        },
        "mx-null": {**tls, "tls": {"ciphers": ["aead", "null", "anon"], "cert": rsa}},
        "mx-open": {
            "banner": "mx-open.realprofil.test ESMTP $mail_name",
            "plaintext_login": True,
            "vrfy": "enumerates",
        },
    }
    hosts: list[dict[str, Any]] = [
        {"name": f"{name}.realprofil.test", "services": [{"kind": "smtp", **spec}]}
        for name, spec in mail.items()
    ]
    hosts.append(
        {
            "name": "post.realprofil.test",
            "services": [
                {
                    "kind": "submission",
                    "starttls": True,
                    "plaintext_login": True,
                    "vrfy": "disabled",
                    "tls": {"cert": rsa},
                },
                {"kind": "submissions", "tls": {"versions": ["tls1.2"], "cert": rsa}},
            ],
        }
    )
    hosts.append(
        {
            "name": "ssh-dsa.realprofil.test",
            "services": [
                {
                    "kind": "ssh",
                    "banner": "SSH-2.0-OpenSSH_9.6",
                    "ssh": {
                        "auth": ["keyboard-interactive", "password"],
                        "host_keys": ["dsa1024", "ed25519"],
                    },
                },
            ],
        }
    )
    hosts.append(
        {
            "name": "ssh-old.realprofil.test",
            "services": [
                {"kind": "ssh", "banner": "SSH-2.0-OpenSSH_7.4", "ssh": {"host_keys": ["rsa2048"]}},
            ],
        }
    )
    org = {
        "slug": "realprofil",
        "name": "Profiler for den ekte tjenesten",
        "orgnr": demo.orgnr,
        "sector": str(demo.sector),
        "county": demo.county,
        "domains": [{"name": "realprofil.test"}],
        "hosts": hosts,
    }
    return parse_manifest({"version": 1, "name": "real-profiles", "organisations": [org]})


# ---------------------------------------------------------------- helpers


def _ehlo(ip: str) -> str:
    with socket.create_connection((ip, 25), timeout=5) as sock:
        stream = sock.makefile("rwb")
        stream.readline()
        stream.write(b"EHLO probe.test\r\n")
        stream.flush()
        lines = []
        while True:
            line = stream.readline().decode("ascii", "replace")
            lines.append(line)
            if line[3:4] != "-":
                break
        stream.write(b"QUIT\r\n")
        stream.flush()
        return "".join(lines)


def _accepts(address: tuple[str, int]) -> bool:
    with socket.socket() as sock:
        sock.settimeout(1)
        return sock.connect_ex(address) == 0


def _uptime() -> float:
    return float(Path("/proc/uptime").read_text(encoding="ascii").split()[0])


def _our_processes(since: float) -> list[str]:
    """Live Postfix and sshd processes in this network namespace started since `since`
    (seconds after boot): the lab's, as no system daemon runs (policy-rc.d)."""
    own = os.readlink("/proc/self/ns/net")
    ticks = os.sysconf("SC_CLK_TCK")
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            exe = os.readlink(entry / "exe")
            netns = os.readlink(entry / "ns" / "net")
            stat = (entry / "stat").read_text(encoding="ascii", errors="replace")
        except OSError:
            continue  # gone, or a kernel thread
        fields = stat.rsplit(")", 1)[-1].split()
        started = int(fields[19]) / ticks
        if fields[0] == "Z" or netns != own or started < since - 1:
            continue
        if exe == SSHD_BINARY or exe.startswith(POSTFIX_BINARIES):
            found.append(f"{entry.name} {exe}")
    return found
