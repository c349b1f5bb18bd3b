"""The main job on the embedded default: scan the demo lab into SQLite, rate, resume."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from utsyn.lab.orgs import records_from_manifest
from utsyn.lab.runtime import LabInfo
from utsyn.lab.scenarios import load_scenario
from utsyn.lab.targets import from_manifest
from utsyn.pipeline import rate_organisation, scan_and_store
from utsyn.rules.rulebook import load_rulebook
from utsyn.scan.model import Footprint, TargetResult
from utsyn.store import scans
from utsyn.store.db import make_engine, session_factory, upgrade
from utsyn.store.models import Finding, OrgLatest, ScanRun, TargetScan
from utsyn.store.orgs import upsert_organisations

from ..scan.conftest import lab_config


@pytest.fixture
def session(tmp_path: Path) -> Session:
    url = f"sqlite:///{tmp_path / 'utsyn.db'}"
    upgrade(url)
    return session_factory(make_engine(url))()


def _demo(session: Session, count: int) -> list[Footprint]:
    from utsyn.clock import now_utc

    manifest = load_scenario("demo")
    upsert_organisations(session, records_from_manifest(manifest), "lab:demo", now_utc())
    return from_manifest(manifest)[:count]


def test_scan_is_stored_rated_and_rolled_up(session: Session, demo_lab: LabInfo) -> None:
    footprints = _demo(session, 6)
    outcome = asyncio.run(scan_and_store(session, footprints, lab_config(demo_lab)))
    units = sum(len(f.domains) + len(f.hostnames) for f in footprints)
    assert outcome.targets == units
    assert session.scalar(select(func.count()).select_from(TargetScan)) == units
    assert set(outcome.ratings) == {f.org for f in footprints}
    latest = {row.org_id: row for row in session.scalars(select(OrgLatest))}
    assert len(latest) == 6
    assert sorted(r.score for r in latest.values()) == sorted(
        r.score for r in outcome.ratings.values()
    )
    run = session.get_one(ScanRun, outcome.run_id)
    assert run.status == "done" and run.stats["connections"] > 0
    # A rescan of the same lab finds the same findings: seen again, not new, none resolved.
    before = {f.key: f.first_seen for f in session.scalars(select(Finding))}
    again = asyncio.run(scan_and_store(session, footprints, lab_config(demo_lab)))
    after = {f.key: (f.first_seen, f.resolved) for f in session.scalars(select(Finding))}
    assert {k: v[0] for k, v in after.items()} == before
    assert all(resolved is None for _, resolved in after.values())
    assert {o: r.score for o, r in again.ratings.items()} == {
        o: r.score for o, r in outcome.ratings.items()
    }


def test_an_interrupted_scan_resumes_where_it_stopped(session: Session, demo_lab: LabInfo) -> None:
    footprints = _demo(session, 4)
    done: list[TargetResult] = []

    def stop_after_three(result: TargetResult) -> None:
        done.append(result)
        if len(done) == 3:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        asyncio.run(
            scan_and_store(session, footprints, lab_config(demo_lab), progress=stop_after_three)
        )
    run = session.scalars(select(ScanRun)).one()
    assert run.status == "interrupted"
    stored = scans.completed_targets(session, run)
    assert len(stored) == 3  # each target in its own transaction: nothing half-written
    outcome = asyncio.run(scan_and_store(session, footprints, lab_config(demo_lab), run=run))
    units = sum(len(f.domains) + len(f.hostnames) for f in footprints)
    assert outcome.skipped == 3 and outcome.targets == units - 3
    assert len(scans.completed_targets(session, run)) == units
    assert session.get_one(ScanRun, run.id).status == "done"


def test_commands_on_the_stored_scan(demo_lab: LabInfo, tmp_path: Path) -> None:
    """utsyn scan --org stores an ad-hoc scan; rating show, db export and import follow."""
    env = {**os.environ, "UTSYN_DATA_DIR": str(tmp_path / "data")}

    def utsyn(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "utsyn", *args],
            env=env, capture_output=True, text=True, timeout=300,
        )  # fmt: skip

    native = tmp_path / "orgs.csv"
    native.write_text(
        "orgnr,name,sector,county,municipality,domains\n"
        "974760673,Fjordvik kommune,municipal,46,4601,fjordvik.test\n",
        "utf-8",
    )
    imported = utsyn("orgs", "import", str(native))
    assert imported.returncode == 0, imported.stderr
    report = tmp_path / "report.json"
    scanned = utsyn(
        "scan", "fjordvik.test", "www.fjordvik.test", "--org", "974760673", "--scope", "lab",
        "--resolver", demo_lab.dns_ip, "--ca-file", str(demo_lab.ca_file),
        "--trust-anchor", str(demo_lab.trust_anchor_file), "-o", str(report),
    )  # fmt: skip
    assert scanned.returncode == 0, scanned.stderr
    assert "Vurderinger (lagret)" in scanned.stdout  # in bokmål by default
    # The one path: the rating computed from the scan's report is the one stored.
    stored = utsyn("rating", "show", "--json", "--org", "974760673")
    from_report = utsyn("rating", "show", "--json", "--scan", str(report))
    assert json.loads(stored.stdout) == json.loads(from_report.stdout) != []
    shown = utsyn("rating", "show", "--org", "974760673", "--lang", "en")
    assert shown.returncode == 0, shown.stderr
    assert "974760673" in shown.stdout
    dump = tmp_path / "dump.jsonl"
    assert utsyn("db", "export", "-o", str(dump)).returncode == 0
    header = json.loads(dump.read_text("utf-8").splitlines()[0])
    assert header
    fresh = {**env, "UTSYN_DATA_DIR": str(tmp_path / "fresh")}
    loaded = subprocess.run(
        [sys.executable, "-m", "utsyn", "db", "import", str(dump)],
        env=fresh, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert loaded.returncode == 0, loaded.stderr
    again = tmp_path / "again.jsonl"
    subprocess.run(
        [sys.executable, "-m", "utsyn", "db", "export", "-o", str(again)],
        env=fresh, check=True, capture_output=True, timeout=120,
    )  # fmt: skip
    assert again.read_text("utf-8") == dump.read_text("utf-8")


def test_a_bad_organisation_file_imports_nothing(tmp_path: Path) -> None:
    bad = tmp_path / "orgs.csv"
    bad.write_text(
        "orgnr,name,sector,county,municipality,domains\n"
        "974760673,Fjordvik kommune,municipal,46,4601,fjordvik.test\n"
        "123456789,Feil AS,municipal,46,4601,feil.test\n",
        "utf-8",
    )
    env = {**os.environ, "UTSYN_DATA_DIR": str(tmp_path / "data")}
    out = subprocess.run(
        [sys.executable, "-m", "utsyn", "orgs", "import", str(bad)],
        env=env, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert out.returncode == 2 and "linje 3" in out.stderr
    assert "ingenting ble importert" in out.stderr  # the error in bokmål, by default


def test_patching_cadence_from_the_stored_finding_history(session: Session) -> None:
    """A high CVE first seen on day 0 and gone in the rescan on day 12: cadence 12 days."""
    from datetime import timedelta

    from utsyn.clock import now_utc
    from utsyn.pipeline import stored_rated
    from utsyn.rules.model import Finding as Seen
    from utsyn.scan.model import Observation
    from utsyn.store.findings import apply_findings

    day0 = now_utc() - timedelta(days=20)
    upsert_organisations(session, records_from_manifest(load_scenario("demo"))[:1], "t", day0)
    org_nr = records_from_manifest(load_scenario("demo"))[0].orgnr
    from utsyn.store.orgs import organisation

    org = organisation(session, org_nr)
    run = scans.start_run(session, {"mode": "lab"}, "x", day0)
    fact = Observation("www.x.test:443", "service.kind", "https")
    scans.write_target_result(session, run, TargetResult(org_nr, "www.x.test", "host", (fact,)))
    asset = "www.x.test:443"
    high = Seen("vuln.cve.high", asset, "CVE-2021-23017")
    apply_findings(session, org, [high], {asset}, day0)
    apply_findings(session, org, [], {asset}, day0 + timedelta(days=12))
    rate_organisation(session, org_nr, load_rulebook())  # rated from what is stored
    (rated,) = stored_rated(session, org_nr)
    assert rated.patching_days == 12.0
