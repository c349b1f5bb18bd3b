"""A store filled from the demo lab's ground truth, with a year of history behind it.

Every organisation is scanned (the ground truth written as one run) and rated today. On top,
Åsmyra kommune (many issues, and an Å in its name) gets two vulnerabilities on www (one on
an asset whose name is hostile HTML), a previous report a month ago, monthly snapshots over
the year, two findings that are new since that report and three resolved after it.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select, update
from sqlalchemy.orm import Session

from utsyn.clock import now_utc
from utsyn.lab.expected import expected_results
from utsyn.lab.orgs import records_from_manifest
from utsyn.lab.scenarios import load_scenario
from utsyn.pipeline import rate_organisation
from utsyn.rating.model import Rating, rate
from utsyn.rules.evaluate import assess
from utsyn.rules.model import Assessment, Finding
from utsyn.rules.rulebook import load_rulebook
from utsyn.scan.model import Observation, TargetResult
from utsyn.store import findings as store_findings
from utsyn.store import models, rollup, scans
from utsyn.store.db import make_engine, session_factory, upgrade
from utsyn.store.orgs import organisation, upsert_organisations

FEATURED = "317785593"  # Åsmyra kommune: many issues, and an Å
HOSTILE_HOST = '<b onmouseover="x">evil</b>.asmyra.test:443'
CVE_KEV = "CVE-2021-41773"
CVE_PLAIN = "CVE-2023-25690"
NEW_RULES = ("vuln.cve.kev", "vuln.cve.critical")  # new since the previous report
RESOLVED = (  # fixed after the previous report: (rule, asset)
    ("tls.protocol.ssl3", "gammel.asmyra.test:443"),
    ("network.telnet", "gammel.asmyra.test:23"),
    ("network.rdp", "gammel.asmyra.test:3389"),
)


@dataclass(frozen=True)
class DemoStore:
    url: str
    now: datetime
    previous_day: date  # the day of the previous report's snapshot
    previous_score: float


def cve_fact(cve: str, cvss: float, kev: bool, summary: str) -> dict[str, Any]:
    """A `vuln.cve` observation value shaped as vuln.enrich.cve_fact writes it."""
    return {
        "id": cve,
        "product": "apache:http_server",
        "confirmed": True,
        "reasons": ["version 2.4.49 in the affected range"],
        "cvss": cvss,
        "cvss_vector": "CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:N/A:N",
        "kev": kev,
        "kev_added": "2021-11-03" if kev else None,
        "ransomware": "Known" if kev else None,
        "epss": 0.97 if kev else 0.2,
        "epss_percentile": 0.999 if kev else 0.9,
        "summary": summary,
    }


def _with_vulnerabilities(result: TargetResult) -> TargetResult:
    if result.org != FEATURED or result.target != "www.asmyra.test":
        return result
    product = {"product": "apache:http_server", "version": "2.4.49", "source": "Server header"}
    added = (
        Observation("www.asmyra.test:443", "service.product", product),
        Observation(
            "www.asmyra.test:443",
            "vuln.cve",
            cve_fact(CVE_KEV, 7.5, True, "Path traversal & file disclosure in Apache 2.4.49"),
        ),
        Observation(HOSTILE_HOST, "vuln.cve", cve_fact(CVE_PLAIN, 9.8, False, "<i>smuggling</i>")),
    )
    return dataclasses.replace(result, observations=result.observations + added)


def _scan_everything(session: Session, now: datetime) -> None:
    manifest = load_scenario("demo")
    upsert_organisations(session, records_from_manifest(manifest), "lab:demo", now)
    book = load_rulebook()
    run = scans.start_run(session, {"mode": "lab"}, book.version, now)
    for result in expected_results(manifest):
        scans.write_target_result(session, run, _with_vulnerabilities(result), now)
    for record in records_from_manifest(manifest):
        rate_organisation(session, record.orgnr, book, run)
    scans.finish_run(session, run, now)


def _backdate_featured(session: Session, now: datetime) -> tuple[date, float]:
    """Make the history: old findings, resolved ones, a previous report and a trend."""
    book = load_rulebook()
    org = organisation(session, FEATURED)
    long_ago = now - timedelta(days=200)
    session.execute(
        update(models.Finding)
        .where(models.Finding.org_id == org.id, models.Finding.rule.not_in(NEW_RULES))
        .values(first_seen=long_ago)
    )
    for rule, asset in RESOLVED:
        session.add(
            models.Finding(
                org_id=org.id, key=f"{rule}|{asset}|", rule=rule, asset=asset, detail="",
                evidence="", first_seen=long_ago, last_seen=now - timedelta(days=6),
                resolved=now - timedelta(days=5),
            )
        )  # fmt: skip
    session.commit()
    latest = assess(org.orgnr, scans.latest_results(session, org), book, org.primary_domain)
    counting = store_findings.counting_findings(session, org, book, now)
    old = tuple(f for f in counting if f.rule not in NEW_RULES)
    fixed = tuple(Finding(rule, asset) for rule, asset in RESOLVED)

    def rated(extra: tuple[Finding, ...]) -> Rating:
        return rate(Assessment(org.orgnr, latest.assets, old + extra), book)

    previous_day = now.date() - timedelta(days=30)
    previous = rated(fixed)
    _snapshot(session, org, previous, previous_day)
    # A worse year before: more of the since-fixed issues counted the further back.
    for months in range(2, 12):
        day = now.date() - timedelta(days=30 * months)
        worse = fixed + tuple(
            Finding("web.hsts.missing", f"old{i}.asmyra.test:443") for i in range(months // 3)
        )
        _snapshot(session, org, rated(worse), day)
    return previous_day, previous.score


def _snapshot(session: Session, org: models.Organisation, rating: Rating, day: date) -> None:
    rollup.save_snapshot(session, org, rating, day, datetime.combine(day, time(12), UTC))


def build_demo_store(path: Path) -> DemoStore:
    url = f"sqlite:///{path / 'report.db'}"
    upgrade(url)
    engine = make_engine(url)
    now = now_utc()
    try:
        with session_factory(engine)() as session:
            _scan_everything(session, now)
            previous_day, previous_score = _backdate_featured(session, now)
    finally:
        engine.dispose()
    return DemoStore(url, now, previous_day, previous_score)


@pytest.fixture(scope="session")
def demo_store(tmp_path_factory: pytest.TempPathFactory) -> DemoStore:
    return build_demo_store(tmp_path_factory.mktemp("report-store"))


@pytest.fixture
def session(demo_store: DemoStore) -> Iterator[Session]:
    engine = make_engine(demo_store.url)
    with session_factory(engine)() as session:
        yield session
        session.rollback()  # tests read; whatever one changed stays out of the next
    engine.dispose()


def featured_org(session: Session) -> models.Organisation:
    org = session.scalar(select(models.Organisation).where(models.Organisation.orgnr == FEATURED))
    assert org is not None
    return org
