"""BIND 9 on the real tier: the demo lab's name servers and open resolver served by named,
scanned by Utsyn and compared with the real tier's ground truth.

What BIND serves: the lab's own name server (ns1.test and ns2.test on the lab's DNS address,
the scan's resolver) and every `dns_authoritative` service (ns.fjellheim-hs.test,
ns1.granli.test, ns.uink.test), each with all lab zones, signed by BIND with `dnssec-policy`
and the lab's keys (so the trust anchor is the `test.` KSK BIND serves), the BROKEN zone
pre-signed and spoiled; and every `dns_resolver` (resolver.uink.test, forwarding to the lab's
name server). What stays Python: every service of another kind (BIND serves DNS only; the
other real software serves them on the tiers that include it); the zones and keys are still
built by the lab (`lab.zones`), which is where BIND's zone files come from.

Comparable facts: every `dns.` fact (zones and name-server services) and `service.kind` of
the BIND-served services. Not comparable, and not compared: the SOA serials (BIND's
inline signing raises them at every signing) and the signatures themselves (fresh ECDSA
signatures with the same keys); neither is a fact of the ground truth.

Without bind9 and bind9-utils the tests skip (or fail under UTSYN_REQUIRE_SERVICES=1).
"""

from __future__ import annotations

import asyncio
import os
import re
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

import dns.flags
import dns.message
import dns.query
import dns.rcode
import dns.rdata
import dns.zone
import pytest

from tests.scan.conftest import lab_config, observed
from tests.services import unavailable
from utsyn.errors import LabError
from utsyn.lab.expected import expected_observations
from utsyn.lab.manifest import Manifest, ServiceKind
from utsyn.lab.process import alive
from utsyn.lab.real import loopback
from utsyn.lab.real.bind import BIND, _check_apparmor, _stop_leftover, real_version
from utsyn.lab.real.software import missing
from utsyn.lab.real.tier import as_served, assign
from utsyn.lab.runtime import LabInfo, running_lab
from utsyn.lab.scenarios import load_scenario
from utsyn.lab.targets import from_manifest
from utsyn.lab.zones import Name, RdataType
from utsyn.scan.dns.family import DnsFamily
from utsyn.scan.engine import Scanner
from utsyn.scan.family import CheckFamily, ScanConfig
from utsyn.scan.model import TargetResult
from utsyn.scan.services.family import ServicesFamily
from utsyn.settings import get_settings

# Beside the demo lab (127.53.0.1, 127.20.x) and the other test labs.
DNS_IP, FIRST_OCTET = "127.64.0.1", 210
SMALL_DNS_IP, SMALL_FIRST_OCTET = "127.64.0.2", 211
START_LIMIT = 30.0  # seconds: the bound for bringing up the real tier


@dataclass
class RealLab:
    info: LabInfo
    truth: Manifest  # the demo as the real tier serves it
    bind_addresses: list[tuple[str, int]]  # (ip, port) of every BIND-served service
    named_pids: list[int]


def _require_bind() -> None:
    packages = missing([BIND])
    if packages:
        unavailable(
            f"the real tier's DNS needs Debian packages: apt-get install {' '.join(packages)}"
        )
    if os.geteuid() != 0:
        unavailable("the real tier's DNS needs root (port 53, addresses on lo)")
    if shutil.which("ss") is None:
        unavailable("the real tier's DNS tests need ss (apt-get install iproute2)")


def _served_by_bind(manifest: Manifest, info: LabInfo) -> list[tuple[str, int]]:
    return [
        (info.addresses[a.host.name], a.service.effective_port)
        for a in assign(manifest, [BIND])
        if a.software == BIND.name
    ]


def _named_pids(state_dir: Path) -> list[int]:
    return [
        int(p.read_text().split()[0]) for p in (state_dir / "real" / "bind").glob("*/named.pid")
    ]


@pytest.fixture(scope="module")
def real_lab(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RealLab]:
    _require_bind()
    manifest = load_scenario("demo")
    state_dir = tmp_path_factory.mktemp("real-dns")
    cache = get_settings().cache_dir
    with running_lab(
        manifest, state_dir, cache, DNS_IP, 53, FIRST_OCTET, tier="real", software=[BIND]
    ) as info:
        lab = RealLab(
            info,
            as_served(manifest, [BIND]),
            _served_by_bind(manifest, info),
            _named_pids(state_dir),
        )
        yield lab
    _assert_nothing_left(lab.bind_addresses, lab.named_pids)


# ------------------------------------------------------------------ helpers


def _listeners() -> dict[tuple[str, int], set[tuple[str, int]]]:
    """(ip, port) → (name, PID) of the processes listening there, on TCP or UDP."""
    out = subprocess.run(["ss", "-Hlntup"], capture_output=True, text=True, check=True).stdout
    found: dict[tuple[str, int], set[tuple[str, int]]] = {}
    for line in out.splitlines():
        ip, _, port = line.split()[4].rpartition(":")
        owners = {(n, int(p)) for n, p in re.findall(r'\("([^"]+)",pid=(\d+)', line)}
        found.setdefault((ip.strip("[]").split("%")[0], int(port)), set()).update(owners)
    return found


def _assert_nothing_left(addresses: list[tuple[str, int]], pids: list[int]) -> None:
    assert pids and not [pid for pid in pids if alive(pid)], "a named of ours outlived the lab"
    listening = _listeners()
    assert not [a for a in addresses if a in listening], "something still listens"
    for ip, port in addresses:
        family = socket.AF_INET6 if ":" in ip else socket.AF_INET
        with socket.socket(family, socket.SOCK_STREAM) as sock:
            sock.settimeout(1)
            assert sock.connect_ex((ip, port)) != 0
    left = {ip for ip, _ in addresses} & set(loopback.ours())
    assert not left, f"{left} left on lo"


def _scan(
    config: ScanConfig, families: list[CheckFamily], manifest: Manifest | None = None
) -> list[TargetResult]:
    scanner = Scanner(config, families)
    footprints = from_manifest(manifest or load_scenario("demo"))

    async def collect() -> list[TargetResult]:
        return [result async for result in scanner.scan(footprints)]

    return asyncio.run(collect())


def _mismatches(
    results: Iterable[TargetResult], truth: Manifest, wanted: Iterable[tuple[str, str]] | None
) -> tuple[list[str], int]:
    """Every fact of `truth` (those in `wanted`, or all `dns.` facts) the scan got wrong,
    and how many facts were compared."""
    seen = observed(results)
    facts = [
        f
        for f in expected_observations(truth)
        if (wanted is None and f.check.startswith("dns."))
        or (f.target, f.check) in set(wanted or ())
    ]
    wrong = []
    for fact in facts:
        got = seen.get((fact.target, fact.check))
        if got is None:
            wrong.append(f"{fact.target} {fact.check}: expected {fact.value!r}, not observed")
        elif got.value != fact.value:
            wrong.append(f"{fact.target} {fact.check}: expected {fact.value!r}, got {got.value!r}")
    return wrong, len(facts)


def _ask(ip: str, name: str, rdtype: str, rdclass: str = "IN") -> dns.message.Message:
    return dns.query.udp(dns.message.make_query(name, rdtype, rdclass), ip, timeout=3)


# ------------------------------------------------------------------ what BIND serves


def test_bind_serves_the_name_servers_and_resolver_the_rest_stays_python(
    real_lab: RealLab,
) -> None:
    manifest = load_scenario("demo")
    assignments = assign(manifest, [BIND])
    dns_kinds = (ServiceKind.DNS_AUTHORITATIVE, ServiceKind.DNS_RESOLVER)
    by_bind = sorted(a.host.name for a in assignments if a.software == BIND.name)
    assert by_bind == [
        "ns.fjellheim-hs.test",
        "ns.uink.test",
        "ns1.granli.test",
        "resolver.uink.test",
    ]
    assert all(a.service.kind in dns_kinds for a in assignments if a.software == BIND.name)
    python = [a for a in assignments if a.software is None]
    assert python and all(a.reason == "bind: BIND serves DNS only" for a in python)
    # named answers on each BIND-served address and on the lab's own name server's.
    listening = _listeners()
    for address in [*real_lab.bind_addresses, (DNS_IP, 53)]:
        assert {name for name, _ in listening[address]} == {"named"}
    assert real_lab.info.started_in < START_LIMIT


def test_the_scan_agrees_with_the_real_tier_ground_truth(real_lab: RealLab) -> None:
    """The demo scanned as every test scans it, the lab's name server (BIND) its resolver:
    every zone's records, DNSSEC (signed by BIND, the island, the spoiled BROKEN zone, the
    zones below an insecure one), AXFR open and refused, version.bind of every name server,
    the open-resolver probe, and what the services family makes of named on port 53."""
    results = _scan(lab_config(real_lab.info), [ServicesFamily(), DnsFamily()])
    wrong, compared = _mismatches(results, real_lab.truth, None)
    assert wrong == [] and compared > 300
    states = {o.value for (_, check), o in observed(results).items() if check == "dns.dnssec"}
    assert {"signed", "island", "broken", "cannot_validate", "unsigned"} <= states
    kinds = [(f"{h}:53", "service.kind") for h in _bind_hosts(real_lab)]
    wrong, compared = _mismatches(results, real_lab.truth, kinds)
    assert wrong == [] and compared == 4


def _bind_hosts(lab: RealLab) -> list[str]:
    by_ip = {ip: name for name, ip in lab.info.addresses.items()}
    return sorted(by_ip[ip] for ip, _ in lab.bind_addresses)


def test_bind_transfers_exactly_the_zones_the_manifest_opens(real_lab: RealLab) -> None:
    manifest = load_scenario("demo")
    open_zones = {d.name for o in manifest.organisations for d in o.domains if d.zone_transfer}
    zones = [d.name for o in manifest.organisations for d in o.domains] + ["test"]
    ns = real_lab.info.addresses["ns.uink.test"]
    for zone in zones:
        try:
            transferred = dns.zone.from_xfr(dns.query.xfr(ns, zone, timeout=5))
        except dns.query.TransferError as exc:
            assert zone not in open_zones and exc.rcode == dns.rcode.REFUSED
            continue
        assert zone in open_zones
        # The zone as the lab holds it: the same owners and types, nothing lost or added.
        lab = _lab_zone_types(real_lab, zone)
        got = {(n.derelativize(transferred.origin), r.rdtype) for n, r in _rdatasets(transferred)}
        assert got == lab


def _rdatasets(zone: dns.zone.Zone) -> Iterator[tuple[Name, dns.rdataset.Rdataset]]:
    for name, node in zone.nodes.items():
        for rdataset in node.rdatasets:
            yield name, rdataset


def _lab_zone_types(lab: RealLab, zone: str) -> set[tuple[Name, RdataType]]:
    """(owner, type) of the zone as the lab's own name server answers AXFR for it."""
    transferred = dns.zone.from_xfr(dns.query.xfr(DNS_IP, zone, timeout=5))
    return {(n.derelativize(transferred.origin), r.rdtype) for n, r in _rdatasets(transferred)}


def test_the_trust_anchor_is_the_ksk_bind_serves(real_lab: RealLab) -> None:
    owner, _, _, _, key = real_lab.info.trust_anchor_file.read_text().split(maxsplit=4)
    anchor = dns.rdata.from_text("IN", "DNSKEY", key)
    response = _ask(DNS_IP, "test", "DNSKEY")
    ksks = [r for rrset in response.answer for r in rrset if r.flags == 257]
    assert owner == "test." and ksks == [anchor]


def test_version_bind_is_the_real_bind_version_where_the_manifest_tells_one(
    real_lab: RealLab,
) -> None:
    answers = {}
    addresses = {**real_lab.info.addresses, "ns1.test": DNS_IP}
    for host in ("ns1.granli.test", "ns.fjellheim-hs.test", "ns.uink.test", "ns1.test"):
        response = _ask(addresses[host], "version.bind", "TXT", "CH")
        texts = [b"".join(r.strings).decode() for rrset in response.answer for r in rrset]
        answers[host] = (dns.rcode.to_text(response.rcode()), texts)
    assert answers == {
        "ns1.granli.test": ("NOERROR", [real_version()]),  # the manifest: 9.18.28-1~deb12u2
        "ns.fjellheim-hs.test": ("NOERROR", ["unknown"]),
        "ns.uink.test": ("NOERROR", []),  # version none;
        "ns1.test": ("REFUSED", []),  # as the lab's own server refuses
    }
    assert re.fullmatch(r"9\.\d+\.\d+\S*", real_version())


def test_the_resolver_recurses_for_anyone_through_the_lab_only(real_lab: RealLab) -> None:
    resolver = real_lab.info.addresses["resolver.uink.test"]
    response = _ask(resolver, "www.ddb.test", "A")
    assert response.flags & dns.flags.RA and response.rcode() == dns.rcode.NOERROR
    assert [r.address for rrset in response.answer for r in rrset] == [
        real_lab.info.addresses["www.ddb.test"]
    ]
    # A name the lab does not hold: SERVFAIL from the lab's refusal, never the internet.
    response = _ask(resolver, "example.com", "A")
    assert response.rcode() in (dns.rcode.SERVFAIL, dns.rcode.REFUSED) and not response.answer


# ------------------------------------------------------------------ a refusing name server


def test_a_name_server_that_refuses_version_bind_and_stops_clean(tmp_path: Path) -> None:
    """version_bind None (REFUSED, as NSD's hide-version) on a signed zone's own name server
    that also serves ::1; and after the lab stops nothing of BIND is left."""
    _require_bind()
    demo = load_scenario("demo")
    org = demo.organisations[0]
    zone = "skjult.test"
    manifest = demo.model_validate(
        {
            "name": "bind-refuses",
            "organisations": [
                {
                    **org.model_dump(exclude={"domains", "hosts", "primary_domain"}),
                    "domains": [{"name": zone, "dnssec": "signed", "name_servers": [f"ns.{zone}"]}],
                    "hosts": [
                        {
                            "name": f"ns.{zone}",
                            "ipv6": True,
                            "services": [{"kind": "dns_authoritative"}],
                        }
                    ],
                }
            ],
        }
    )
    began = time.perf_counter()
    with running_lab(
        manifest,
        tmp_path,
        get_settings().cache_dir,
        SMALL_DNS_IP,
        53,
        SMALL_FIRST_OCTET,
        tier="real",
        software=[BIND],
    ) as info:
        started = time.perf_counter() - began
        addresses = [*_served_by_bind(manifest, info), ("::1", 53)]
        pids = _named_pids(tmp_path)
        for ip in (info.addresses[f"ns.{zone}"], "::1"):
            assert _ask(ip, "version.bind", "TXT", "CH").rcode() == dns.rcode.REFUSED
            signed = dns.message.make_query(zone, "SOA", want_dnssec=True)
            answer = dns.query.udp(signed, ip, timeout=3).answer
            assert {r.rdtype for r in answer} == {RdataType.SOA, RdataType.RRSIG}
        results = _scan(lab_config(info), [DnsFamily()], manifest)
        assert observed(results)[(zone, "dns.ns_version")].value == {f"ns.{zone}": None}
        assert observed(results)[(zone, "dns.dnssec")].value == "signed"
        assert info.addresses[f"ns.{zone}"] in loopback.ours()
    assert started < START_LIMIT
    _assert_nothing_left(addresses, pids)


# ------------------------------------------------------------------ left behind, refused


def test_a_named_left_running_from_its_folder_is_stopped_and_nothing_else(
    tmp_path: Path,
) -> None:
    folder = tmp_path / "ns.example.test-53"
    folder.mkdir()
    sleeper = [sys.executable, "-c", "import time; time.sleep(60)"]
    ours = subprocess.Popen([*sleeper, str(folder / "named.conf")])
    other = subprocess.Popen(sleeper)
    try:
        (folder / "named.pid").write_text(f"{other.pid}\n")
        _stop_leftover(folder)  # a PID that does not run this folder's named: not ours
        assert other.poll() is None
        (folder / "named.pid").write_text(f"{ours.pid}\n")
        _stop_leftover(folder)
        assert ours.wait(5) is not None
    finally:
        for process in (ours, other):
            process.kill()
            process.wait()


def test_an_apparmor_profile_that_confines_named_is_named_in_the_error(tmp_path: Path) -> None:
    profiles = tmp_path / "profiles"
    profiles.write_text("/usr/sbin/ntpd (enforce)\nnamed (complain)\n")
    _check_apparmor(profiles)  # complain mode only logs
    profiles.write_text("named (enforce)\n")
    with pytest.raises(LabError, match="AppArmor confines named"):
        _check_apparmor(profiles)
