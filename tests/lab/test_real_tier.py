"""The whole real tier at once: the demo served by nginx, Apache, Postfix, OpenSSH and BIND
where they can express it (Python for the rest), scanned by Utsyn, compared with the real
tier's ground truth and with sslyze; and `utsyn lab up --tier real` from the command line.

The per-software modules (test_real_web, test_real_mail_ssh, test_real_dns) hold the details;
this one is what a user runs: every kind of software side by side, one lab, one scan.
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.lab.test_runtime import MANIFEST
from tests.scan.conftest import lab_config, observed
from tests.scan.test_dns import SPF_DISAGREEMENTS, _checkdmarc_dmarc, _checkdmarc_spf
from tests.scan.test_services import _nmap, _numbers
from tests.scan.test_tls import DIVERGENCES, _profile_hosts, sslyze_scan
from tests.services import unavailable
from utsyn.lab.expected import expected_observations
from utsyn.lab.real.software import missing
from utsyn.lab.real.tier import SOFTWARE, as_served, assign
from utsyn.lab.runtime import LabInfo, running_lab
from utsyn.lab.scenarios import load_scenario
from utsyn.lab.targets import from_manifest
from utsyn.scan.engine import Scanner
from utsyn.scan.guard import ScopePolicy
from utsyn.scan.model import TargetResult
from utsyn.settings import get_settings

DNS_IP = "127.58.0.1"  # beside the session's demo lab (127.53.0.1, 127.20.x.y)
FIRST_OCTET = 170


@pytest.fixture(scope="module")
def real_demo(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LabInfo]:
    packages = missing(SOFTWARE)
    if packages:
        unavailable(f"the real tier needs: apt-get install {' '.join(packages)}")
    state = tmp_path_factory.mktemp("real-tier")
    manifest = load_scenario("demo")
    with running_lab(
        manifest, state, get_settings().cache_dir, DNS_IP, 53, FIRST_OCTET, tier="real"
    ) as info:
        yield info


@pytest.fixture(scope="module")
def real_scan(real_demo: LabInfo) -> list[TargetResult]:
    import asyncio

    scanner = Scanner(lab_config(real_demo))
    footprints = from_manifest(load_scenario("demo"))

    async def collect() -> list[TargetResult]:
        return [result async for result in scanner.scan(footprints)]

    return asyncio.run(collect())


def test_every_kind_of_real_software_serves_part_of_the_demo() -> None:
    served = {a.software for a in assign(load_scenario("demo"), SOFTWARE)}
    assert {"nginx", "apache", "postfix", "openssh", "bind"} <= served
    assert None in served  # and what none of them can express stays Python, with a reason
    kept = [a for a in assign(load_scenario("demo"), SOFTWARE) if a.software is None]
    assert all(a.reason for a in kept)


def test_the_scan_of_the_real_tier_agrees_with_its_ground_truth(
    real_scan: list[TargetResult],
) -> None:
    seen = observed(real_scan)
    truth = expected_observations(as_served(load_scenario("demo"), SOFTWARE))
    wrong = [
        f"{f.target} {f.check}: expected {f.value!r}, got "
        f"{seen[(f.target, f.check)].value if (f.target, f.check) in seen else None!r}"
        for f in truth
        if (f.target, f.check) not in seen or seen[(f.target, f.check)].value != f.value
    ]
    assert wrong == []
    assert len(truth) > 4000


@pytest.mark.reference
def test_utsyn_agrees_with_sslyze_on_the_real_web_servers(
    real_demo: LabInfo, real_scan: list[TargetResult]
) -> None:
    """sslyze against real nginx and Apache, as test_tls compares it with the Python tier."""
    real_hosts = {
        a.host.name
        for a in assign(load_scenario("demo"), SOFTWARE)
        if a.software in ("nginx", "apache") and a.service.effective_port == 443
    }
    hosts = [h for h in _profile_hosts() if h in real_hosts]
    assert len(hosts) >= 5
    theirs = sslyze_scan(real_demo, hosts)
    seen = observed(real_scan)
    disagreements = [
        f"{host} {check}: utsyn {seen[(f'{host}:443', check)].value!r}, sslyze {value!r}"
        for (host, check), value in sorted(theirs.items())
        if check.startswith("tls.")
        and (host, check) not in DIVERGENCES
        and seen[(f"{host}:443", check)].value != value
    ]
    assert disagreements == []


@pytest.mark.reference
def test_spf_and_dmarc_from_bind_agree_with_checkdmarc(
    real_demo: LabInfo, real_scan: list[TargetResult]
) -> None:
    """checkdmarc asks BIND (the real tier's own name server) as test_dns asks the Python one;
    the disagreements are the same, and for the same reasons (tests/scan/test_dns.py)."""
    import dns.resolver
    from checkdmarc.dmarc import check_dmarc
    from checkdmarc.spf import check_spf

    ScopePolicy.lab().check(real_demo.dns_ip)  # checkdmarc asks outside the scan's guard
    resolver = dns.resolver.Resolver(configure=False)  # never the system's resolver
    resolver.nameservers = [real_demo.dns_ip]
    resolver.port = real_demo.dns_port
    seen = observed(real_scan)
    disagreements = {}
    domains = [d for f in from_manifest(load_scenario("demo")) for d in f.domains]
    for domain in domains:
        spf = _checkdmarc_spf(check_spf(domain, resolver=resolver, nameservers=[real_demo.dns_ip]))
        raw = check_dmarc(domain, resolver=resolver, nameservers=[real_demo.dns_ip])
        assert seen[(domain, "dns.dmarc")].value == _checkdmarc_dmarc(dict(raw)), domain
        if seen[(domain, "dns.spf")].value != spf:
            disagreements[domain] = (spf, seen[(domain, "dns.spf")].value)
    assert disagreements == SPF_DISAGREEMENTS
    assert len(domains) > 40


@pytest.mark.reference
def test_products_and_versions_of_real_software_agree_with_nmap(
    real_demo: LabInfo, real_scan: list[TargetResult]
) -> None:
    """nmap -sV names the real daemons as Utsyn does: OpenSSH and Postfix by their banners
    (`service.product`), nginx and Apache by the Server header (`http.header.server`)."""
    if shutil.which("nmap") is None:
        unavailable("nmap is not installed")
    seen = observed(real_scan)
    ours_by: dict[str, tuple[str, int, str, str]] = {}  # software → host, port, name, version
    for a in assign(load_scenario("demo"), SOFTWARE):
        target = f"{a.host.name}:{a.service.effective_port}"
        if a.software in ("openssh", "postfix") and (target, "service.product") in seen:
            product = seen[(target, "service.product")].value
            name, version = product["name"], product.get("version") or ""
        elif a.software in ("nginx", "apache") and (target, "http.header.server") in seen:
            name, _, version = str(seen[(target, "http.header.server")].value).partition("/")
        else:
            continue
        ours_by.setdefault(a.software, (a.host.name, a.service.effective_port, name, version))
    assert set(ours_by) == {"openssh", "postfix", "nginx", "apache"}
    wanted: dict[str, list[int]] = {}
    for host, port, _, _ in ours_by.values():
        wanted.setdefault(real_demo.addresses[host], []).append(port)
    theirs = _nmap(wanted)
    for software, (host, port, name, version) in ours_by.items():
        product, their_version = theirs[(real_demo.addresses[host], port)]
        assert name.split()[0].lower() in product.lower(), (software, name, product)
        if version and their_version:
            common = min(len(_numbers(version)), len(_numbers(their_version)))
            assert _numbers(version)[:common] == _numbers(their_version)[:common], software


# test_runtime's one-host scenario, on an address of its own.
TINY = MANIFEST.replace("prøve", "provestad").replace("127.105.0.1", "127.171.0.1")


def test_lab_up_tier_real_status_down_leaves_nothing(tmp_path: Path) -> None:
    packages = missing(SOFTWARE)
    if packages:
        unavailable(f"the real tier needs: apt-get install {' '.join(packages)}")
    manifest = tmp_path / "tiny.yaml"
    manifest.write_text(textwrap.dedent(TINY), "utf-8")
    env = {**os.environ, "UTSYN_DATA_DIR": str(tmp_path / "data")}

    def utsyn(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "utsyn", *args],
            env=env, capture_output=True, text=True, timeout=120,
        )  # fmt: skip

    up = utsyn(
        "lab", "up", "--scenario", str(manifest), "--tier", "real", "--detach",
        "--dns-ip", "127.172.0.53", "--dns-port", "10054",
    )  # fmt: skip
    assert up.returncode == 0, up.stderr + up.stdout
    try:
        state = json.loads(utsyn("lab", "status", "--json").stdout)
        assert state["tier"] == "real"
        # The lab's own name server (ns1.test) is BIND's on the real tier.
        assert state["served_by"] == {"www.provestad.test": "nginx", "ns1.test": "bind"}
        assert "nginx" in utsyn("lab", "status").stdout  # the "Betjent av" column
        with socket.create_connection(("127.171.0.1", 8080), timeout=3) as sock:
            sock.sendall(b"GET / HTTP/1.1\r\nHost: www.provestad.test\r\nConnection: close\r\n\r\n")
            assert b"Server: nginx/1.22" in sock.recv(65536)  # Debian's nginx, not the manifest's
    finally:
        down = utsyn("lab", "down")
    assert down.returncode == 0, down.stderr
    with pytest.raises(OSError):
        socket.create_connection(("127.171.0.1", 8080), timeout=2).close()
    expected = json.loads(
        utsyn("lab", "expected", "--scenario", str(manifest), "--tier", "real").stdout
    )
    banners = [row["value"] for row in expected if row["check"] == "http.header.server"]
    assert banners and all(str(b).startswith("nginx/1.22") for b in banners)


def test_an_unknown_tier_is_a_clear_error(tmp_path: Path) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "utsyn", "lab", "up", "--tier", "docker"],
        capture_output=True, text=True, timeout=60,
        env={**os.environ, "UTSYN_DATA_DIR": str(tmp_path / "data")},
    )  # fmt: skip
    assert result.returncode == 2
    assert "--tier" in result.stderr and "Traceback" not in result.stderr
