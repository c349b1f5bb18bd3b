"""The ground truth derived from a manifest: what a correct scanner must observe."""

from __future__ import annotations

import json
import subprocess
import sys

from utsyn.lab.expected import dmarc_policy, expected_index, expected_observations
from utsyn.lab.manifest import DmarcPolicy, ServiceKind, SpfVerdict
from utsyn.lab.scenarios import load_scenario


def test_every_service_and_zone_has_facts() -> None:
    manifest = load_scenario("demo")
    index = expected_index(manifest)
    for _, host in manifest.hosts():
        for service in host.services:
            target = f"{host.name}:{service.effective_port}"
            assert (target, "service.kind") in index
            if service.tls is not None:
                assert (target, "tls.cert.status") in index
            if service.kind == ServiceKind.HTTPS:
                assert (target, "http.header.strict-transport-security") in index
    for org in manifest.organisations:
        for domain in org.domains:
            assert (domain.name, "dns.spf") in index


def test_derived_verdicts_agree_with_the_explicit_ones() -> None:
    """Where the scenario states a verdict, derivation from the records must reach it too."""
    from utsyn.lab.expected import spf_verdict

    manifest = load_scenario("demo")
    for org in manifest.organisations:
        for domain in org.domains:
            if domain.spf_verdict is not None:
                assert spf_verdict(manifest, domain) == domain.spf_verdict, domain.name
            if domain.dmarc_policy is not None:
                assert dmarc_policy(domain.dmarc) == domain.dmarc_policy, domain.name


def test_the_demo_holds_every_spf_verdict_and_dmarc_policy() -> None:
    facts = expected_observations(load_scenario("demo"))
    spf = {f.value for f in facts if f.check == "dns.spf"}
    dmarc = {f.value for f in facts if f.check == "dns.dmarc"}
    assert spf == {str(v) for v in SpfVerdict}
    assert dmarc == {str(v) for v in DmarcPolicy}


def test_dmarc_parsing() -> None:
    assert dmarc_policy("v=DMARC1; p=reject; rua=mailto:a@b.test") == DmarcPolicy.REJECT
    assert dmarc_policy("v=DMARC1;p=none") == DmarcPolicy.NONE
    assert dmarc_policy("p=reject; v=DMARC1") == DmarcPolicy.MALFORMED
    assert dmarc_policy("v=DMARC1; p=bogus") == DmarcPolicy.MALFORMED
    assert dmarc_policy(None) == DmarcPolicy.MISSING


def test_utsyn_lab_expected_prints_the_facts_as_json() -> None:
    out = subprocess.run(
        [sys.executable, "-m", "utsyn", "lab", "expected", "--scenario", "demo"],
        capture_output=True, text=True, timeout=60, check=True,
    ).stdout  # fmt: skip
    rows = json.loads(out)
    assert len(rows) == len(expected_observations(load_scenario("demo")))
    assert {"target", "check", "value"} == set(rows[0])
