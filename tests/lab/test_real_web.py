"""The real tier's web servers: Debian's nginx and Apache httpd, configured from the demo
scenario, scanned by Utsyn and compared with the real tier's ground truth
(`lab.expected` on `lab.real.tier.as_served`).

Comparable, and compared: every fact the ground truth has for a service nginx or Apache
serves (service.kind, http.* and tls.*: versions, cipher classes, DHE, the certificate's
status, key, signature and expiry, headers, cookies, redirects and chains, pages, exposed
files, security.txt), and dns.mta_sts of the zones whose MTA-STS policy nginx serves.

Not compared here: the services the Python tier keeps (tests/scan compares those, and this
lab runs them too); the zones' other DNS and e-mail facts, which the Python name server
serves on either tier; and products and CVEs, which are no facts of `lab.expected` (the real
tier's truth for them is the packaging `as_served` rewrites, read by `really_vulnerable`).

Two scenarios run: the demo, and the demo mirrored, where every site nginx serves claims
to be Apache and every other site nginx, so each case of the demo (DHE groups, anonymous
and NULL suites, TLS 1.3 only, faulty certificates, exposed files, a listing, a catch-all
site, MTA-STS policies) is served by both programs where they can.

The lab runs beside the session's demo lab, on 127.210.x.y with its name server on
127.65.0.1, and serves only the web software's share on the real tier (`software=`).
"""

from __future__ import annotations

import asyncio
import socket
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.scan.conftest import lab_config, observed
from tests.services import unavailable
from utsyn.lab.ca import LabCA
from utsyn.lab.expected import expected_observations
from utsyn.lab.manifest import Manifest, Service, ServiceKind
from utsyn.lab.process import alive
from utsyn.lab.real.apache import APACHE, server_tokens
from utsyn.lab.real.apache import banner as apache_banner
from utsyn.lab.real.nginx import NGINX
from utsyn.lab.real.nginx import version as nginx_version
from utsyn.lab.real.software import missing
from utsyn.lab.real.tier import as_served, assign
from utsyn.lab.real.tlsprofile import refusal as tls_refusal
from utsyn.lab.real.tlsprofile import suite_class, tls_settings
from utsyn.lab.real.web import product
from utsyn.lab.runtime import LabInfo, running_lab
from utsyn.lab.scenarios import load_scenario
from utsyn.lab.specs import CertKey, CertSpec, CipherClass, TlsSpec, TlsVersion
from utsyn.scan.dns.family import DnsFamily
from utsyn.scan.engine import Scanner
from utsyn.scan.http import HttpFamily
from utsyn.scan.model import Footprint, TargetResult
from utsyn.scan.services.family import ServicesFamily
from utsyn.scan.tls.family import TlsFamily
from utsyn.settings import get_settings
from utsyn.testing.egress import egress_guard

WEB = [NGINX, APACHE]
DNS_IP = "127.65.0.1"
FIRST_OCTET = 210
WEB_KINDS = (ServiceKind.HTTP, ServiceKind.HTTPS)


@pytest.fixture(scope="module")
def demo() -> Manifest:
    packages = missing(WEB)
    if packages:
        unavailable(f"the real tier's web servers need: apt-get install {' '.join(packages)}")
    return load_scenario("demo")


@pytest.fixture(scope="module", params=["demo", "mirrored"])
def scenario(request: pytest.FixtureRequest, demo: Manifest) -> Manifest:
    return demo if request.param == "demo" else mirrored(demo)


def mirrored(manifest: Manifest) -> Manifest:
    """The scenario with nginx's sites claiming to be Apache, Apache's nginx, and the
    others (IIS, a VPN without a Server header) nginx too."""
    swap = {"nginx": "Apache/2.4.62 (Debian)", "apache": "nginx/1.22.1"}

    def service(s: Service) -> Service:
        if s.http is None:
            return s
        server = swap.get(product(s.http.server) or "", "nginx")
        return s.model_copy(update={"http": s.http.model_copy(update={"server": server})})

    orgs = tuple(
        org.model_copy(
            update={
                "hosts": tuple(
                    h.model_copy(update={"services": tuple(service(s) for s in h.services)})
                    for h in org.hosts
                )
            }
        )
        for org in manifest.organisations
    )
    return manifest.model_copy(update={"organisations": orgs})


@pytest.fixture(scope="module")
def real_services(scenario: Manifest) -> dict[tuple[str, int], str]:
    """(host, port) → "nginx" or "apache", for what the real tier serves."""
    return {
        (a.host.name, a.service.effective_port): a.software
        for a in assign(scenario, WEB)
        if a.software is not None
    }


@dataclass
class RealRun:
    info: LabInfo
    results: list[TargetResult]
    pids: set[int]  # every nginx and apache2 process of the lab, seen while it ran
    started_in: float


@pytest.fixture(scope="module")
def run(
    scenario: Manifest,
    real_services: dict[tuple[str, int], str],
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[RealRun]:
    state = tmp_path_factory.mktemp("real-web")
    began = time.perf_counter()
    with (
        egress_guard(),
        running_lab(
            scenario,
            state,
            get_settings().cache_dir,
            dns_ip=DNS_IP,
            first_octet=FIRST_OCTET,
            tier="real",
            software=WEB,
        ) as info,
    ):
        started_in = time.perf_counter() - began
        pids = _processes_under(state)
        results = asyncio.run(_scan(info, scenario, real_services))
        done = RealRun(info, results, pids | _processes_under(state), started_in)
    yield done  # the lab has stopped: the tests look at what it left, too


async def _scan(
    info: LabInfo, scenario: Manifest, real_services: dict[tuple[str, int], str]
) -> list[TargetResult]:
    hosts = {host for host, _ in real_services}
    zones = _policy_zones(scenario, real_services)
    footprints = [
        Footprint(org=org.orgnr, hostnames=tuple(h.name for h in org.hosts if h.name in hosts))
        for org in scenario.organisations
    ] + [Footprint(org=f"mta-sts:{zone}", domains=(zone,)) for zone in zones]
    scanner = Scanner(lab_config(info), [ServicesFamily(), TlsFamily(), HttpFamily(), DnsFamily()])
    return [r async for r in scanner.scan(f for f in footprints if f.hostnames or f.domains)]


def _policy_zones(scenario: Manifest, real_services: dict[tuple[str, int], str]) -> list[str]:
    """Zones with an MTA-STS policy whose host the real tier serves on 443."""
    return sorted(
        domain.name
        for org in scenario.organisations
        for domain in org.domains
        if domain.mta_sts is not None
        and (domain.mta_sts.policy_host or f"mta-sts.{domain.name}", 443) in real_services
    )


def _processes_under(state: Path) -> set[int]:
    """The PIDs of the daemons whose pid files lie under `state`, and of their children."""
    roots = set()
    for pidfile in (state / "real").rglob("*.pid"):
        roots.add(int(pidfile.read_text(encoding="ascii").split()[0]))
    parents: dict[int, int] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stat = (entry / "stat").read_text(encoding="utf-8", errors="replace")
            except OSError:
                continue
            parents[int(entry.name)] = int(stat.rsplit(")", 1)[1].split()[1])
    found = set(roots)
    while True:
        more = {pid for pid, ppid in parents.items() if ppid in found} - found
        if not more:
            return found
        found |= more


# ------------------------------------------------------------------ which software serves what


def test_the_python_tier_keeps_exactly_what_nginx_and_apache_cannot_serve(demo: Manifest) -> None:
    kept = {}
    for a in assign(demo, WEB):
        if a.service.kind not in WEB_KINDS:
            assert a.software is None and "serves http and https only" in a.reason
            continue
        if a.software is None:
            kept[(a.host.name, a.service.effective_port)] = a.reason
    expected = {}
    for _, host in demo.hosts():
        for service in host.services:
            assert service.http is not None or service.kind not in WEB_KINDS
            if service.kind not in WEB_KINDS or service.http is None:
                continue
            server, tls = service.http.server, service.tls
            if server is None:
                why = "sends no Server header"
            elif product(server) not in ("nginx", "apache"):
                why = f"names {server!r}"
            elif tls is not None and tls.legacy:
                why = "OpenSSL 3.0"
            else:
                continue
            expected[(host.name, service.effective_port)] = why
    assert kept.keys() == expected.keys()
    for where, why in expected.items():
        assert why in kept[where], (where, kept[where])
    # The demo's cases: IIS sites, a VPN without a Server header and an SSLv3/RC4/3DES site.
    assert ("vpn.asmyra.test", 443) in kept and ("www.lyngoy.test", 443) in kept
    # Apache cannot serve what nginx can: anonymous suites (www.vikasen.test) stay Python.
    refused = {
        (a.host.name, a.service.effective_port): a.reason for a in assign(mirrored(demo), WEB)
    }
    assert "mod_ssl" in refused[("www.vikasen.test", 443)]


def test_each_site_goes_to_the_software_its_server_header_names(demo: Manifest) -> None:
    real_services = {(a.host.name, a.service.effective_port): a.software for a in assign(demo, WEB)}
    assert real_services[("www.ddb.test", 443)] == "nginx"
    assert real_services[("www.jordogskog.test", 443)] == "apache"
    # One host, two programs: nginx redirects on 80, Apache serves 443.
    assert real_services[("www.asmyra.test", 80)] == "nginx"
    assert real_services[("www.asmyra.test", 443)] == "apache"


def test_the_ground_truth_names_what_the_packages_really_send(demo: Manifest) -> None:
    truth = {
        (h.name, s.effective_port): s for _, h in as_served(demo, WEB).hosts() for s in h.services
    }
    granli = truth[("www.granli.test", 80)]  # nginx/1.18.0 from Ubuntu in the manifest
    assert granli.http is not None and granli.http.server is not None
    assert granli.http.server.startswith("nginx/") and granli.http.server != "nginx/1.18.0"
    assert granli.package == "debian" and granli.package_patched
    ddb = truth[("www.ddb.test", 443)].http  # "nginx" in the manifest: server_tokens off
    assert ddb is not None and ddb.server == "nginx"
    upstream = truth[("booking.holmvik.test", 80)].http  # Apache/2.4.49: ServerTokens Minimal
    assert upstream is not None and upstream.server is not None
    assert upstream.server.startswith("Apache/2.4.") and "(" not in upstream.server
    # Python keeps what it serves as the manifest says.
    lyngoy = truth[("www.lyngoy.test", 443)].http
    assert lyngoy is not None and lyngoy.server == "Apache/2.4.29 (Ubuntu)"


# ------------------------------------------------------------------ the scan agrees


def test_every_comparable_fact_of_the_real_web_tier_agrees(
    run: RealRun, scenario: Manifest, real_services: dict[tuple[str, int], str]
) -> None:
    seen = observed(run.results)
    zones = set(_policy_zones(scenario, real_services))
    wrong, compared = [], 0
    for fact in expected_observations(as_served(scenario, WEB)):
        host, _, port = fact.target.rpartition(":")
        on_real = port.isdigit() and (host, int(port)) in real_services
        if not on_real and not (fact.target in zones and fact.check == "dns.mta_sts"):
            continue
        compared += 1
        got = seen.get((fact.target, fact.check))
        if got is None or got.value != fact.value:
            value = "not observed" if got is None else f"got {got.value!r} {got.error or ''}"
            wrong.append(f"{fact.target} {fact.check}: expected {fact.value!r}, {value}")
    assert wrong == []
    assert compared > 2000  # ~100 services, each with its TLS and HTTP facts
    assert zones  # the MTA-STS policies nginx serves were fetched and agree


def test_the_scan_met_the_real_servers(
    run: RealRun, real_services: dict[tuple[str, int], str]
) -> None:
    seen = observed(run.results)
    for (host, port), software in real_services.items():
        server = seen[(f"{host}:{port}", "http.header.server")].value
        assert product(server) == software, (host, port, server)
    # What the installed packages send, never the manifest's "Apache/2.4.29 (Ubuntu)".
    banners = {seen[(f"{h}:{p}", "http.header.server")].value for h, p in real_services}
    packaged = {"nginx", f"nginx/{nginx_version()}"}
    packaged |= {apache_banner(t) for t in ("Prod", "Major", "Minor", "Minimal", "OS")}
    assert banners <= packaged
    assert f"nginx/{nginx_version()}" in banners and apache_banner("OS") in banners
    assert run.started_in < 30


# ------------------------------------------------------------------ and leaves nothing behind


def test_after_stop_nothing_listens_and_no_process_is_left(
    run: RealRun, real_services: dict[tuple[str, int], str]
) -> None:
    # The module fixture has stopped the lab once its `with` block ended.
    assert len(run.pids) >= 3  # nginx's master and worker, and Apache's parents and children
    assert [pid for pid in run.pids if alive(pid)] == []
    listening = []
    for host, port in real_services:
        ip = run.info.addresses[host]
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
            sock.settimeout(0.5)
            if sock.connect_ex((ip, port)) == 0:
                listening.append(f"{host} {ip}:{port}")
    assert listening == []


def test_the_processes_ran_from_the_lab_state(run: RealRun) -> None:
    real = run.info.state_dir / "real"
    confs = {p: p.read_text(encoding="utf-8") for p in real.rglob("*.conf")}
    assert {p.name for p in confs} == {"nginx.conf", "apache2.conf"}
    for path, text in confs.items():
        assert "/etc/" not in text, path  # nothing of the system's configuration is read
        assert f"{real}/" in text, path


# ------------------------------------------------------------------ the pieces


@pytest.mark.parametrize(
    ("spec", "profile", "dhe"),
    [
        (TlsSpec(), "intermediate", False),  # TLS 1.2 and 1.3, AEAD, an EC key
        (TlsSpec(cert=CertSpec(key=CertKey.RSA2048), dhe=2048), "intermediate", True),
        (TlsSpec(versions=(TlsVersion.TLS13,)), "modern", False),
        (TlsSpec(versions=(TlsVersion.TLS13,), cert=CertSpec(key=CertKey.RSA2048)), None, False),
        (TlsSpec(ciphers=(CipherClass.AEAD, CipherClass.CBC)), None, False),
    ],
)
def test_mozilla_profiles_serve_the_manifests_that_are_theirs(
    spec: TlsSpec, profile: str | None, dhe: bool, tmp_path: Path
) -> None:
    creds = LabCA(tmp_path, get_settings().cache_dir).issue(["a.test"], spec.cert)
    settings = tls_settings(spec, creds)
    assert settings.profile == profile
    suites = settings.ciphers.split(":")
    assert any(s.startswith("DHE-") for s in suites) == dhe
    if TlsVersion.TLS12 in spec.versions:  # exactly the spec's classes, whoever chose them
        assert {suite_class(s) for s in suites} == set(spec.ciphers)


def test_what_openssl_3_cannot_serve_is_refused() -> None:
    sslv3 = TlsSpec(
        versions=(TlsVersion.SSL3, TlsVersion.TLS10),
        ciphers=(CipherClass.RSA_KEX,),
        cert=CertSpec(key=CertKey.RSA2048),
    )
    rc4 = TlsSpec(versions=(TlsVersion.TLS10,), ciphers=(CipherClass.RC4,))
    assert "SSLv3" in (tls_refusal(sslv3) or "")
    assert "rc4" in (tls_refusal(rc4) or "")
    assert tls_refusal(TlsSpec()) is None


@pytest.mark.parametrize(
    ("server", "tokens"),
    [
        ("Apache", "Prod"),
        ("Apache/2", "Major"),
        ("Apache/2.4", "Minor"),
        ("Apache/2.4.49", "Minimal"),
        ("Apache/2.4.29 (Ubuntu)", "OS"),
        ("Apache/2.4.6 (CentOS) OpenSSL/1.0.2k-fips", "OS"),
    ],
)
def test_apache_says_of_itself_what_server_tokens_lets_it(server: str, tokens: str) -> None:
    assert server_tokens(server) == tokens
