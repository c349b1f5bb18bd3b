"""The main job, end to end: scan footprints, store each target, find, rate, snapshot.

    footprint ─▶ scan ─▶ vuln enrich ─▶ store (one transaction per target)
                                         └▶ findings (lifecycle) ─▶ rating ─▶ snapshot + rollups

Every stage is one of the packages' own functions; this module only puts them in order.
An interrupted scan leaves its run 'interrupted' and resumes with only the missing targets.
A scan waits for the database while another writer holds it (`store.db.patiently`): a busy
SQLite file slows it down and never aborts it.
"""

from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from sqlalchemy import select
from sqlalchemy.orm import Session

from utsyn.clock import now_utc
from utsyn.errors import ConfigError
from utsyn.rating.lifecycle import patching_cadence
from utsyn.rating.model import Rating, rate
from utsyn.rules.evaluate import assess
from utsyn.rules.model import Assessment
from utsyn.rules.rulebook import Rulebook, load_rulebook
from utsyn.rules.standing import fresh_only, standing
from utsyn.rules.weights import GRADE_ORDER, Grade
from utsyn.scan.engine import Scanner
from utsyn.scan.family import ScanConfig
from utsyn.scan.model import Footprint, TargetResult
from utsyn.scan.output import read_report
from utsyn.store import assessments, rollup, scans, scorecards
from utsyn.store import findings as store_findings
from utsyn.store.db import atomic, one_transaction, patiently
from utsyn.store.models import Organisation, OrgLatest, ScanRun
from utsyn.store.orgs import organisation
from utsyn.store.rescore import Scored, save_snapshots
from utsyn.vuln.alerts import grade_drop_alerts
from utsyn.vuln.enrich import enrich
from utsyn.vuln.feeds import load_current

Progress = Callable[[TargetResult], None]
RERATE_BATCH = 1000  # organisations rated, then saved as one bulk batch


@dataclass(frozen=True)
class ScanOutcome:
    run_id: int
    targets: int
    skipped: int
    ratings: dict[str, Rating]
    stats: dict[str, int]


async def scan_and_store(
    session: Session,
    footprints: list[Footprint],
    config: ScanConfig,
    *,
    run: ScanRun | None = None,
    progress: Progress | None = None,
    book: Rulebook | None = None,
) -> ScanOutcome:
    """Scan, store every target as it completes, then rate each organisation.

    With `run` (an interrupted run), targets it already stored are not scanned again.
    """
    book = book or load_rulebook()
    started = now_utc()
    if run is None:
        scope = {"mode": config.scope.mode}
        run = patiently(scans.start_run, session, scope, book.version, started)
        skip: set[tuple[str, str, str]] = set()
    else:
        skip = patiently(scans.resume_run, session, run)
    index = load_current()  # the feeds `utsyn feeds update` installed, else the snapshot
    scanner = Scanner(config)
    written = 0
    try:
        async for result in scanner.scan(footprints, skip=skip):
            patiently(store_result, session, run, enrich(result, index), book)
            written += 1
            if progress is not None:
                progress(result)
    except BaseException:
        patiently(scans.finish_run, session, run, now_utc(), status="interrupted")
        raise
    ratings = {
        fp.org: patiently(rate_organisation, session, fp.org, book, run) for fp in footprints
    }
    stats = _stats(scanner, written, len(skip))
    patiently(scans.finish_run, session, run, now_utc(), stats=stats)
    return ScanOutcome(run.id, written, len(skip), ratings, stats)


def store_result(session: Session, run: ScanRun, result: TargetResult, book: Rulebook) -> int:
    """Store one target's result, completed with what stands of its last one where this
    scan's checks failed (`rules.standing`); returns the stored row's id."""
    org = organisation(session, result.org)
    previous = scans.previous_result(session, run, org, result.kind, result.target)
    now = now_utc()
    merged = standing(result, previous, now, book.reachability)
    return scans.write_target_result(session, run, merged, now)


def _stats(scanner: Scanner, written: int, skipped: int) -> dict[str, int]:
    net = scanner.last_context.net.stats if scanner.last_context else None
    return {
        "targets": written,
        "resumed_skipped": skipped,
        "connections": net.connections if net else 0,
        "dns_queries": net.dns_queries if net else 0,
        "refused_by_scope": net.refused if net else 0,
    }


def rate_organisation(
    session: Session, orgnr: str, book: Rulebook, run: ScanRun | None = None
) -> Rating:
    """Apply what `run` saw to the findings, then rate from what counts now and save it.

    Without a run (a re-rating), the findings stay as they are and only the rating is new.
    Everything is written in one transaction: findings, assets, snapshot, rating, alerts.
    """
    with one_transaction(session):
        org = organisation(session, orgnr)
        now = now_utc()
        if run is not None:
            _apply_run(session, org, book, run, now)
        assessment = assessment_now(session, org, book, now)
        rating = rate(assessment, book)
        before = session.get(OrgLatest, org.id)
        old_grade = _grade(before.grade) if before is not None else None
        old_score = before.score if before is not None else None
        rollup.save_snapshot(session, org, rating, now.date(), now)
        assessments.save_ratings(session, [(org.id, rating)], now)
        scorecards.rescore(session, org, assessment, book, now)  # its custom scorecards follow
        grade_drop_alerts(session, org, old_grade, rating.grade, now, (old_score, rating.score))
    return rating


def _apply_run(
    session: Session, org: Organisation, book: Rulebook, run: ScanRun, now: datetime
) -> None:
    """What one run saw updates the findings; the latest results of every target (this
    run's and older ones of targets it did not scan) are the assets rated from now on.

    Findings only from what the run kept standing (a failed check's last answer) are
    neither seen again nor resolved; the findings of an asset that left (closed, removed,
    or unreachable for too long) resolve."""
    results = scans.run_results(session, run, org)
    standing_now = assess(org.orgnr, results, book, org.primary_domain)
    fresh = assess(org.orgnr, [fresh_only(r) for r in results], book, org.primary_domain)
    now_keys = {f.key for f in standing_now.findings}
    seen = [f for f in fresh.findings if f.key in now_keys]
    kept = now_keys - {f.key for f in fresh.findings}
    latest = assess(org.orgnr, scans.latest_results(session, org), book, org.primary_domain)
    before = assessments.load(session, org)
    left = {a.id for a in before.assets} - {a.id for a in latest.assets} if before else set()
    scanned = {a.id for a in standing_now.assets} | left
    store_findings.apply_findings(session, org, seen, scanned, now, standing=kept)
    assessments.save_assets(session, org, latest.assets, now)


def _grade(text: str) -> Grade | None:
    return next((g for g in GRADE_ORDER if g == text), None)


def assessment_now(
    session: Session, org: Organisation, book: Rulebook, now: datetime
) -> Assessment:
    """The rating's input now: the assets of the latest scans and the counting findings.

    This is the one way from what is stored to a rating (`rate_organisation`,
    `rerate_all`, and a custom scorecard's part of it: `store.scorecards`).
    """
    stored = assessments.load(session, org)
    if stored is not None and stored.assets:
        assets = stored.assets
    else:  # scanned before assets were kept (revision 0005): assess the stored results
        assets = assess(
            org.orgnr, scans.latest_results(session, org), book, org.primary_domain
        ).assets
    counting = store_findings.counting_findings(session, org, book, now)
    return Assessment(org.orgnr, assets, counting)


def rerate_all(
    session: Session,
    book: Rulebook,
    orgnrs: Iterable[str] | None = None,
    progress: Callable[[int, int], None] | None = None,
) -> int:
    """New snapshots without a scan, for many organisations at once (after explanations
    expire, with decay, under a new rulebook version): each rated from what is stored, the
    ratings saved in bulk (`store.rescore`), custom scorecards and grade-drop alerts
    following as in `rate_organisation`. Every organisation number is checked before
    anything is written. Returns how many were rated; `progress(done, total)` after each
    batch."""
    now = now_utc()
    ids = _organisation_ids(session, orgnrs)
    for start in range(0, len(ids), RERATE_BATCH):
        _rerate_batch(session, book, ids[start : start + RERATE_BATCH], now)
        if progress is not None:
            progress(min(start + RERATE_BATCH, len(ids)), len(ids))
    return len(ids)


def _organisation_ids(session: Session, orgnrs: Iterable[str] | None) -> list[int]:
    if orgnrs is None:
        return list(session.scalars(select(Organisation.id).order_by(Organisation.id)))
    return sorted({organisation(session, orgnr).id for orgnr in orgnrs})


def _rerate_batch(session: Session, book: Rulebook, ids: list[int], now: datetime) -> None:
    orgs = session.scalars(select(Organisation).where(Organisation.id.in_(ids))).all()
    latest = session.scalars(select(OrgLatest).where(OrgLatest.org_id.in_(ids)))
    before = {row.org_id: (_grade(row.grade), row.score) for row in latest}
    assessed = [(org, assessment_now(session, org, book, now)) for org in orgs]
    rated = [(org, assessment, rate(assessment, book)) for org, assessment in assessed]
    save_snapshots(session, [Scored.of(org.id, r) for org, _, r in rated], now.date(), now)
    with atomic(session):
        assessments.save_ratings(session, [(org.id, r) for org, _, r in rated], now)
    session.expire_all()  # the bulk path wrote `OrgLatest` rows behind the identity map
    for org, assessment, rating in rated:
        scorecards.rescore(session, org, assessment, book, now)
        old_grade, old_score = before.get(org.id, (None, None))
        grade_drop_alerts(session, org, old_grade, rating.grade, now, (old_score, rating.score))


# The findings whose fixing speed is the patching cadence (high and critical CVEs).
PATCHED_RULES = frozenset({"vuln.cve.kev", "vuln.cve.critical", "vuln.cve.high"})


def stored_rated(session: Session, orgnr: str | None) -> list[Rated]:
    """Each stored organisation's saved rating and the assessment behind it."""
    if orgnr is not None:
        orgs = [organisation(session, orgnr)]
    else:
        orgs = list(session.scalars(select(Organisation).order_by(Organisation.orgnr)))
    rated = []
    for org in orgs:
        shown = assessments.shown_rating(session, org)
        if shown is None:
            continue
        states = store_findings.finding_states(session, org).values()
        cadence = patching_cadence(s for s in states if s.rule in PATCHED_RULES)
        rated.append(Rated(org.orgnr, shown.assessment, shown.rating, cadence))
    if not rated:
        raise ConfigError("no scan results stored yet: run `utsyn scan --scenario demo` first")
    return rated


# Rating a scan report file (`utsyn scan -o`) without a database.


@dataclass(frozen=True)
class Rated:
    org: str
    assessment: Assessment
    rating: Rating
    # Median days from first seen to resolved for high and critical CVE findings (None:
    # none resolved yet, or not known without the finding history in the store).
    patching_days: float | None = None


def rate_all(
    footprints: Iterable[Footprint], results: Iterable[TargetResult], book: Rulebook
) -> list[Rated]:
    """One rating per organisation, as `pipeline.rate_organisation` would save it after a
    first scan: the same assessment (`rules.evaluate.assess`) and the same model."""
    index = load_current()
    by_org: dict[str, list[TargetResult]] = defaultdict(list)
    for result in results:
        by_org[result.org].append(enrich(result, index))
    primary = {f.org: f.primary_domain for f in footprints}
    rated = []
    for org in sorted(by_org):
        assessment = assess(org, by_org[org], book, primary.get(org))
        rated.append(Rated(org, assessment, rate(assessment, book)))
    return rated


def load_scan(path: Path) -> tuple[list[Footprint], list[TargetResult]]:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        return read_report(data)
    except OSError as exc:
        raise ConfigError(
            "%(path)s: cannot read the scan report (%(reason)s)", path=path, reason=exc.strerror
        ) from exc
    except (ValueError, KeyError, TypeError) as exc:
        raise ConfigError(
            "%(path)s: not a scan report written by `utsyn scan -o`: %(reason)s",
            path=path,
            reason=exc,
        ) from exc
