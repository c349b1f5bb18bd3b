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
    assert out.returncode == 2 and "not a host name" in out.stderr
    both = subprocess.run(
        [sys.executable, "-m", "utsyn", "scan", "a.test", "--scenario", "demo"],
        capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert both.returncode == 2 and "one of them" in both.stderr


def test_products_become_rated_vulnerabilities(demo_results: list[TargetResult]) -> None:
    """Scan → products → CVEs → outcomes: each vulnerability outcome appears in the demo."""
    from utsyn.lab.scenarios import load_scenario
    from utsyn.rating.service import rate_all
    from utsyn.rules.outcomes import VULNERABILITY_OUTCOMES, classify
    from utsyn.rules.rulebook import load_rulebook
    from utsyn.scan.targets import from_manifest
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
    debian_ssh = [v for (t, _), v in facts.items() if t == "www.holmvik.test:22"]
    assert debian_ssh and not any(v["confirmed"] for v in debian_ssh)
    manifest = load_scenario("demo")
    rated = {
        r.org: r.rating for r in rate_all(from_manifest(manifest), demo_results, load_rulebook())
    }
    assert len(rated) == len(manifest.organisations)
    holmvik = next(o.orgnr for o in manifest.organisations if o.slug == "holmvik")
    assert "vuln.cve.kev" in {c.rule for c in rated[holmvik].caps}
    assert {r.grade for r in rated.values()} == {"A", "B", "C", "D", "F"}
