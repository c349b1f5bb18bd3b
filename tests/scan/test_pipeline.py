"""The whole scanner against the whole demo lab: every ground-truth fact, and the CLI."""

from __future__ import annotations

import dataclasses
import json
import os
import subprocess
import sys
from importlib.resources import files
from pathlib import Path

import jsonschema
import pytest

from utsyn.lab.runtime import LabInfo
from utsyn.scan.model import TargetResult
from utsyn.scan.output import read_report, report_json

from .conftest import mismatches, scan_demo


@pytest.fixture(scope="module")
def demo_results(demo_lab: LabInfo) -> list[TargetResult]:
    return scan_demo(demo_lab)


def test_every_family_agrees_with_the_ground_truth(demo_results: list[TargetResult]) -> None:
    assert mismatches(demo_results, "") == []


def test_no_check_failed_on_the_demo(demo_results: list[TargetResult]) -> None:
    errors = [
        f"{o.target} {o.check}: {o.error}"
        for r in demo_results
        for o in r.observations
        if o.error and o.check != "scope.refused"
    ]
    assert errors == []


def test_the_report_matches_its_schema_and_reads_back(demo_results: list[TargetResult]) -> None:
    schema = json.loads(files("utsyn.scan").joinpath("scan-output.schema.json").read_text())
    document = report_json(demo_results, "2026-11-29T00:00:00+00:00", "lab", {"targets": 1})
    jsonschema.validate(document, schema)
    _, again = read_report(json.loads(json.dumps(document)))
    rounded = [dataclasses.replace(r, seconds=round(r.seconds, 3)) for r in demo_results]
    # A zone apex that also serves a site is both a domain and a host result.
    assert sorted(again, key=lambda r: (r.org, r.kind, r.target)) == sorted(
        rounded, key=lambda r: (r.org, r.kind, r.target)
    )


def test_utsyn_scan_scenario_demo_json(demo_lab: LabInfo, tmp_path: Path) -> None:
    """`utsyn scan --scenario demo` uses the running lab when there is one, else starts one."""
    env = dict(os.environ)
    if os.environ.get("UTSYN_TEST_LAB") != "reuse":
        # No shared lab: scan the fixture's lab through plain targets instead.
        targets = tmp_path / "targets.txt"
        targets.write_text("www.fjordvik.test\nfjordvik.test\n", "utf-8")
        args = ["--targets", str(targets), "--scope", "lab", "--resolver", demo_lab.dns_ip,
                "--ca-file", str(demo_lab.ca_file)]  # fmt: skip
    else:
        args = ["--scenario", "demo"]
    out = subprocess.run(
        [sys.executable, "-m", "utsyn", "scan", *args, "--json", "-o", str(tmp_path / "r.json")],
        capture_output=True, text=True, timeout=300, env=env,
    )  # fmt: skip
    assert out.returncode == 0, out.stderr
    document = json.loads(out.stdout)
    schema = json.loads(files("utsyn.scan").joinpath("scan-output.schema.json").read_text())
    jsonschema.validate(document, schema)
    assert document["stats"]["connections"] > 0
    assert json.loads((tmp_path / "r.json").read_text()) == document


def test_scan_refuses_a_private_target_in_internet_scope(tmp_path: Path) -> None:
    out = subprocess.run(
        [sys.executable, "-m", "utsyn", "scan", "127.0.0.1:443", "--resolver", "127.53.0.1",
         "--json"],
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert out.returncode == 0, out.stderr
    (result,) = json.loads(out.stdout)["results"]
    refused = [o for o in result["observations"] if o["check"] == "scope.refused"]
    assert refused and "reserved or private" in refused[0]["error"]


def test_bad_scan_arguments_are_named() -> None:
    out = subprocess.run(
        [sys.executable, "-m", "utsyn", "scan", "not a host!", "--resolver", "127.53.0.1"],
        capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert out.returncode == 2 and "er ikke et vertsnavn" in out.stderr
    both = subprocess.run(
        [sys.executable, "-m", "utsyn", "scan", "a.test", "--scenario", "demo"],
        capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert both.returncode == 2 and "ett av dem" in both.stderr


def test_products_become_rated_vulnerabilities(demo_results: list[TargetResult]) -> None:
    """Scan → products → CVEs → outcomes: each vulnerability outcome appears in the demo."""
    from utsyn.lab.scenarios import load_scenario
    from utsyn.lab.targets import from_manifest
    from utsyn.pipeline import rate_all
    from utsyn.rules.outcomes import VULNERABILITY_OUTCOMES, classify
    from utsyn.rules.rulebook import load_rulebook
    from utsyn.vuln import load_snapshot
    from utsyn.vuln.enrich import enrich

    index = load_snapshot()
    enriched = [enrich(r, index) for r in demo_results]
    produced = {hit.outcome for r in enriched for hit in classify(r)}
    assert VULNERABILITY_OUTCOMES - produced == set()
    facts = {
        (o.target, o.value["id"]): o.value
        for r in enriched
        for o in r.observations
        if o.check == "vuln.cve"
    }
    kev = facts[("booking.holmvik.test:80", "CVE-2021-41773")]
    assert kev["confirmed"] and kev["kev"] and kev["cvss"] == 7.5
    # Debian 9's OpenSSH: CVEs from while Debian 9 had support may be fixed in its package,
    # those published after its end (2022-06-30) cannot be.
    debian_ssh = {i: v for (t, i), v in facts.items() if t == "www.holmvik.test:22"}
    assert not debian_ssh["CVE-2018-15473"]["confirmed"]
    assert debian_ssh["CVE-2023-38408"]["confirmed"]
    manifest = load_scenario("demo")
    rated = {
        r.org: r.rating for r in rate_all(from_manifest(manifest), demo_results, load_rulebook())
    }
    assert len(rated) == len(manifest.organisations)
    holmvik = next(o.orgnr for o in manifest.organisations if o.slug == "holmvik")
    assert "vuln.cve.kev" in {c.rule for c in rated[holmvik].caps}
    assert {r.grade for r in rated.values()} == {"A", "B", "C", "D", "F"}


def _enriched(demo_results: list[TargetResult]) -> list[TargetResult]:
    from utsyn.vuln import load_snapshot
    from utsyn.vuln.enrich import enrich

    index = load_snapshot()
    return [enrich(r, index) for r in demo_results]


def _banner_products(result: TargetResult) -> set[tuple[str, str]]:
    """(target, product key) of every product read from a banner or a Server/X-Powered-By
    header, as opposed to one read from the page (a generator tag, a script)."""
    from utsyn.vuln.products import canonical_key

    return {
        (o.target, canonical_key(":".join(str(o.value["cpe"]).split(":")[3:5])))
        for o in result.observations
        if o.check == "service.product"
        and isinstance(o.value, dict)
        and str(o.value.get("source", "")).endswith("banner")
    }


def test_cves_cost_points_only_where_the_vulnerable_version_is_really_there(
    demo_results: list[TargetResult],
) -> None:
    """Issue 14: no organisation is in "actively exploited" (vuln.kev) or loses points from a
    CVE unless the ground truth says the vulnerable version is really there: an upstream
    build, or a distribution package that lacks its release's fixes. Software a site serves
    itself (a generator tag, a script) is at the version it says."""
    from utsyn.lab.expected import really_vulnerable
    from utsyn.lab.scenarios import load_scenario
    from utsyn.rules.outcomes import Outcome, classify

    truth = really_vulnerable(load_scenario("demo"))
    wrong, scored = [], 0
    for result in _enriched(demo_results):
        banners = _banner_products(result)
        facts = {
            (o.target, o.value["id"]): o.value for o in result.observations if o.check == "vuln.cve"
        }
        for hit in classify(result):
            if not hit.outcome.value.startswith("vuln.") or hit.outcome in (
                Outcome.VULN_POTENTIAL,
                Outcome.VULN_NONE_KNOWN,
            ):
                continue
            scored += 1
            fact = facts[(hit.asset, hit.detail)]
            from_banner = (hit.asset, fact["product"]) in banners
            if from_banner and hit.asset not in truth:
                wrong.append(f"{hit.outcome} {hit.asset} {hit.detail} ({fact['product']})")
    assert scored > 50  # the test looks at something: holmvik alone has dozens
    assert wrong == []


def test_the_distribution_lab_cases(demo_results: list[TargetResult]) -> None:
    """The lab cases of issue 14, each as the ground truth describes it."""
    from utsyn.rules.outcomes import Outcome, classify

    enriched = _enriched(demo_results)
    facts = {
        (o.target, o.value["id"]): o.value
        for r in enriched
        for o in r.observations
        if o.check == "vuln.cve"
    }
    hits = [h for r in enriched for h in classify(r)]

    def confirmed(target: str) -> set[str]:
        return {i for (t, i), v in facts.items() if t == target and v["confirmed"]}

    # A telnet prompt naming Debian 11 or Debian 9: an operating system, no program's CVE.
    assert [i for t, i in facts if t.endswith(":23")] == []
    # Debian 12's OpenSSH: deb12u2 lacks the regreSSHion fix (deb12u3), deb12u10 has all.
    assert confirmed("login.uink.test:22") == {"CVE-2024-6387", "CVE-2025-26465"}
    assert [i for t, i in facts if t == "ssh.fjellheim-hs.test:22"] == []
    # Debian 12's nginx/1.22.1 and Debian's Apache/2.4.62: potential, one item per product.
    for target, product in (
        ("wiki.uink.test:443", "f5:nginx 1.22.1"),
        ("ftp.uink.test:80", "apache:http_server 2.4.62"),
    ):
        assert facts and not confirmed(target)
        [advice] = [h for h in hits if h.asset == target and h.outcome == Outcome.VULN_POTENTIAL]
        assert advice.detail == product
        ids = sorted(i for t, i in facts if t == target)
        assert len(ids) > 3 and ", ".join(ids) in advice.evidence
    wiki = next(h for h in hits if h.asset == "wiki.uink.test:443" and h.detail.startswith("f5"))
    assert "Debian 12 (bookworm)" in wiki.evidence
    # Ubuntu 22.04's PHP at 1ubuntu2.14: only what USN-7049-1 (1ubuntu2.19) fixed is proof.
    assert confirmed("www.granli.test:443") == {"CVE-2024-8925", "CVE-2024-9026"}
    # Upstream builds no distribution ships: Apache 2.4.49 and Exim 4.94.
    assert {"CVE-2021-41773", "CVE-2021-42013"} <= confirmed("booking.holmvik.test:80")
    assert "CVE-2020-28017" in confirmed("mail.holmvik.test:25")
