"""One path from scan results to a rating: the rating `utsyn rating show --scan report.json`
computes from a scan's JSON report equals, organisation by organisation, the rating
`utsyn scan` stored from the same scan, and every view shows that stored rating.

Run on the demo lab and on a generated scenario, on SQLite and on PostgreSQL.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from utsyn.lab.generate import generate
from utsyn.lab.runtime import LabInfo, running_lab, write_state
from utsyn.settings import get_settings
from utsyn.testing.egress import egress_guard

from .conftest import NewDatabase

GENERATED = generate(12, 5)  # 12 organisations, every posture the generator makes


@pytest.fixture(scope="module")
def generated_lab(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LabInfo]:
    state_dir = tmp_path_factory.mktemp("one-rating-lab")
    with (
        egress_guard(),
        running_lab(
            GENERATED, state_dir, get_settings().cache_dir, dns_ip="127.59.0.1", first_octet=170
        ) as info,
    ):
        yield info


def _utsyn(env: dict[str, str], *args: str) -> str:
    done = subprocess.run(
        [sys.executable, "-m", "utsyn", *args],
        env=env, capture_output=True, text=True, timeout=600,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    return done.stdout


def _scan_and_compare(lab: LabInfo, db_url: str, tmp: Path) -> dict[str, dict[str, Any]]:
    """`utsyn scan --scenario` into `db_url` (on the running lab), then both ratings."""
    env = {**os.environ, "UTSYN_DATA_DIR": str(tmp / "data"), "UTSYN_DATABASE_URL": db_url}
    write_state(tmp / "data" / "lab" / "lab.json", lab, os.getpid())  # use this lab
    report = tmp / "report.json"
    _utsyn(env, "scan", "--scenario", _source(lab), "-o", str(report))
    stored = {r["org"]: r for r in json.loads(_utsyn(env, "rating", "show", "--json"))}
    shown = {
        r["org"]: r
        for r in json.loads(_utsyn(env, "rating", "show", "--json", "--scan", str(report)))
    }
    assert sorted(stored) == sorted(shown)
    for org, rating in stored.items():
        assert rating == shown[org], f"organisation {org}: stored and report ratings differ"
    return stored


def _source(lab: LabInfo) -> str:
    """The `--scenario` that names the lab's manifest: `generate:ORGS:SEED` for generated."""
    if lab.scenario.startswith("generated-"):
        _, orgs, seed = lab.scenario.split("-")
        return f"generate:{orgs}:{seed}"
    return lab.scenario


@pytest.mark.parametrize("which", ["demo", "generated"])
def test_the_stored_rating_is_the_reports(
    which: str,
    request: pytest.FixtureRequest,
    new_database: NewDatabase,
    tmp_path: Path,
) -> None:
    lab: LabInfo = request.getfixturevalue("demo_lab" if which == "demo" else "generated_lab")
    stored = _scan_and_compare(lab, new_database(), tmp_path)
    assert len(stored) == (40 if which == "demo" else len(GENERATED.organisations))
    grades = {r["grade"] for r in stored.values()}
    assert len(grades) >= 3  # a real spread of postures, not 40 identical ratings
