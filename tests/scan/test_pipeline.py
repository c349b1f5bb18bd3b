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
    assert sorted(again, key=lambda r: (r.org, r.target)) == sorted(
        rounded, key=lambda r: (r.org, r.target)
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
