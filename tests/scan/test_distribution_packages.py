"""A generated scenario, scanned: CVEs count only where the vulnerable version is really there.

The generator (`lab.generate`) gives each banner a ground truth of how its software is
installed: Debian 12's OpenSSH at its current revision and two revisions behind, Ubuntu's
old packages, Debian 9's and RHEL 7's OpenSSH, Debian 12's nginx without a hint, telnet
prompts naming Debian 11, Exim built from source, and Apache 2.4.49.
"""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import Iterator

import pytest

from utsyn.lab.expected import really_vulnerable
from utsyn.lab.generate import generate
from utsyn.lab.manifest import Manifest, Packaging
from utsyn.lab.runtime import running_lab
from utsyn.lab.targets import from_manifest
from utsyn.rules.outcomes import Outcome, classify
from utsyn.scan.engine import Scanner
from utsyn.scan.http import HttpFamily
from utsyn.scan.model import TargetResult
from utsyn.scan.services.family import ServicesFamily
from utsyn.settings import get_settings
from utsyn.testing.egress import egress_guard
from utsyn.vuln import load_snapshot
from utsyn.vuln.enrich import enrich
from utsyn.vuln.products import canonical_key

from .conftest import lab_config

ORGS, SEED = 30, 14
LAB_DNS_IP = "127.58.0.1"  # beside the demo lab (127.53.0.1) and the worker lab (127.57.0.1)
LAB_FIRST_OCTET = 170


@pytest.fixture(scope="module")
def scenario() -> Manifest:
    return generate(ORGS, SEED)


@pytest.fixture(scope="module")
def scanned(
    scenario: Manifest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[list[TargetResult]]:
    state = tmp_path_factory.mktemp("generated-lab")
    with (
        egress_guard(),
        running_lab(
            scenario, state, get_settings().cache_dir,
            dns_ip=LAB_DNS_IP, first_octet=LAB_FIRST_OCTET,
        ) as info,
    ):  # fmt: skip
        scanner = Scanner(lab_config(info), [ServicesFamily(), HttpFamily()])

        async def collect() -> list[TargetResult]:
            return [r async for r in scanner.scan(from_manifest(scenario))]

        index = load_snapshot()
        yield [enrich(r, index) for r in asyncio.run(collect())]


def test_the_generated_scenario_has_every_distribution_case(scenario: Manifest) -> None:
    services = [s for _, h in scenario.hosts() for s in h.services]
    kinds = Counter((s.package, s.package_patched) for s in services)
    assert kinds[(Packaging.DEBIAN, True)] and kinds[(Packaging.DEBIAN, False)]
    assert kinds[(Packaging.UBUNTU, False)] and kinds[(Packaging.RHEL, False)]
    banners = {s.banner for s in services} | {s.http.server for s in services if s.http}
    assert {
        "SSH-2.0-OpenSSH_9.2p1 Debian-2+deb12u10",
        "SSH-2.0-OpenSSH_9.2p1 Debian-2+deb12u2",
        "nginx/1.22.1",
        "Apache/2.4.49",
    } <= banners
    assert any(s.kind == "telnet" for s in services)


def test_cves_are_confirmed_only_where_the_ground_truth_has_them(
    scenario: Manifest, scanned: list[TargetResult]
) -> None:
    truth = really_vulnerable(scenario)
    wrong, confirmed_on = [], set()
    for result in scanned:
        banners = {
            (o.target, canonical_key(":".join(str(o.value["cpe"]).split(":")[3:5])))
            for o in result.observations
            if o.check == "service.product" and str(o.value.get("source", "")).endswith("banner")
        }
        for o in result.observations:
            if o.check != "vuln.cve" or not o.value["confirmed"]:
                continue
            if (o.target, o.value["product"]) in banners:
                confirmed_on.add(o.target)
                if o.target not in truth:
                    wrong.append(f"{o.target} {o.value['id']} {o.value['product']}")
    assert wrong == []
    # And the truth is found: the upstream Apache 2.4.49 and the unpatched Debian OpenSSH.
    expected = {
        f"{h.name}:{s.effective_port}"
        for _, h in scenario.hosts()
        for s in h.services
        if s.banner == "SSH-2.0-OpenSSH_9.2p1 Debian-2+deb12u2"
        or (s.http is not None and s.http.server == "Apache/2.4.49")
    }
    assert expected and expected <= confirmed_on


def test_potential_matches_are_one_item_per_product(scanned: list[TargetResult]) -> None:
    hits = [h for r in scanned for h in classify(r) if h.outcome == Outcome.VULN_POTENTIAL]
    per_item = Counter((h.asset, h.detail) for h in hits)
    assert hits and max(per_item.values()) == 1
    nginx = [h for h in hits if h.detail == "f5:nginx 1.22.1"]
    assert nginx and all("Debian 12 (bookworm)" in h.evidence for h in nginx)
    # A telnet prompt names the operating system: no CVE at all, not even a potential one.
    telnet = [o for r in scanned for o in r.observations if o.target.endswith(":23")]
    assert any(o.check == "service.product" for o in telnet)
    assert not any(o.check == "vuln.cve" for o in telnet)
