"""Score snapshots and the national rollups kept in step with them (design: store.models).

Each organisation contributes one to a `GradeCount` row and one to an `IssueCount` row per
rule that counted against it. A change (a new snapshot, a new sector or county, a first
verified asset) is applied as the difference between its old and new contributions, in the
transaction that made the change; `recount` rebuilds everything from the snapshots.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Hashable
from datetime import date, datetime
from typing import TypeVar

from sqlalchemy import delete, exists, select
from sqlalchemy.orm import Session

from utsyn.rating.model import Rating
from utsyn.store.db import atomic
from utsyn.store.dialect import upsert
from utsyn.store.models import (
    Asset,
    GradeCount,
    IssueCount,
    Organisation,
    OrgLatest,
    ScoreSnapshot,
)

GradeKey = tuple[str, str, str, bool, str]  # version, sector, county, active, grade
IssueKey = tuple[str, str, str, str, bool]  # version, rule, sector, county, active
K = TypeVar("K", bound=Hashable)


def save_snapshot(
    session: Session, org: Organisation, rating: Rating, day: date, now: datetime
) -> ScoreSnapshot:
    """Store the day's rating (one per organisation, day and rulebook version) and roll up."""
    with atomic(session):
        snap = _upsert_snapshot(session, org, rating, day, now)
        latest = session.get(OrgLatest, org.id, with_for_update=True)
        if latest is None or _order(snap) >= _order(
            session.get_one(ScoreSnapshot, latest.snapshot_id)
        ):
            _replace_latest(session, org, latest, snap, now)
    return snap


def _order(snap: ScoreSnapshot) -> tuple[date, datetime, int]:
    # The latest snapshot: the latest day, then the one saved last (a re-rating that day).
    return (snap.day, snap.saved, snap.id)


def _upsert_snapshot(
    session: Session, org: Organisation, rating: Rating, day: date, now: datetime
) -> ScoreSnapshot:
    snap = session.scalar(
        select(ScoreSnapshot).where(
            ScoreSnapshot.org_id == org.id,
            ScoreSnapshot.day == day,
            ScoreSnapshot.rulebook_version == rating.rulebook_version,
        )
    )
    if snap is None:
        snap = ScoreSnapshot(org_id=org.id, day=day, rulebook_version=rating.rulebook_version)
        session.add(snap)
    snap.score = rating.score
    snap.grade = rating.grade
    snap.factors = dict(rating.factors)
    snap.penalties = {p.rule: p.points for p in rating.penalties}
    snap.saved = now
    session.flush()
    return snap


def _replace_latest(
    session: Session,
    org: Organisation,
    latest: OrgLatest | None,
    snap: ScoreSnapshot,
    now: datetime,
) -> None:
    before = _contribution(latest)
    if latest is None:
        latest = OrgLatest(org_id=org.id)
    _set_dimensions(session, latest, org)  # it queries: before a new row joins the session
    latest.snapshot_id = snap.id
    latest.day = snap.day
    latest.rulebook_version = snap.rulebook_version
    latest.score = snap.score
    latest.grade = snap.grade
    latest.rules = sorted(snap.penalties)
    latest.updated = now
    session.add(latest)
    _apply(session, before, _contribution(latest))


def refresh(session: Session, org: Organisation, now: datetime) -> None:
    """Follow a change of sector, county, municipality or verified assets into the rollups."""
    latest = session.get(OrgLatest, org.id, with_for_update=True)
    if latest is None:
        return  # not rated yet: it is in no rollup
    before = _contribution(latest)
    _set_dimensions(session, latest, org)
    after = _contribution(latest)
    if after != before:
        latest.updated = now
        _apply(session, before, after)


def _set_dimensions(session: Session, latest: OrgLatest, org: Organisation) -> None:
    active = _is_active(session, org.id)
    latest.active = active
    latest.sector = org.sector or ""
    latest.county = org.county or ""
    latest.municipality = org.municipality or ""


def _is_active(session: Session, org_id: int) -> bool:
    verified = select(Asset.id).where(Asset.org_id == org_id, Asset.state == "verified")
    return bool(session.scalar(select(exists(verified))))


def _contribution(latest: OrgLatest | None) -> tuple[Counter[GradeKey], Counter[IssueKey]]:
    grades: Counter[GradeKey] = Counter()
    issues: Counter[IssueKey] = Counter()
    if latest is not None:
        version, sector, county, active = (
            latest.rulebook_version,
            latest.sector,
            latest.county,
            latest.active,
        )
        grades[(version, sector, county, active, latest.grade)] += 1
        for rule in latest.rules:
            issues[(version, rule, sector, county, active)] += 1
    return grades, issues


def _apply(
    session: Session,
    before: tuple[Counter[GradeKey], Counter[IssueKey]],
    after: tuple[Counter[GradeKey], Counter[IssueKey]],
) -> None:
    for (version, sector, county, active, grade), delta in _difference(before[0], after[0]):
        row = {"rulebook_version": version, "sector": sector, "county": county}
        _add(session, GradeCount, {**row, "active": active, "grade": grade, "orgs": delta})
    for (version, rule, sector, county, active), delta in _difference(before[1], after[1]):
        row = {"rulebook_version": version, "rule": rule, "sector": sector, "county": county}
        _add(session, IssueCount, {**row, "active": active, "orgs": delta})
    # Rows that fell to zero go, so the tables hold exactly what a recount would.
    session.execute(delete(GradeCount).where(GradeCount.orgs == 0))
    session.execute(delete(IssueCount).where(IssueCount.orgs == 0))


def _difference(before: Counter[K], after: Counter[K]) -> list[tuple[K, int]]:
    # Sorted, so concurrent workers lock counter rows in one order and never deadlock.
    keys = sorted(set(before) | set(after), key=repr)
    return [(k, after[k] - before[k]) for k in keys if after[k] != before[k]]


def _add(
    session: Session, model: type[GradeCount] | type[IssueCount], row: dict[str, object]
) -> None:
    keys = [c.name for c in model.__mapper__.primary_key]
    upsert(session, model, row, keys, {"orgs": lambda excluded: model.orgs + excluded.orgs})


def recount(session: Session, now: datetime) -> None:
    """Rebuild `OrgLatest` and both counts from the snapshots (a repair, and the test oracle)."""
    with atomic(session):
        for model in (GradeCount, IssueCount, OrgLatest):
            session.execute(delete(model))
        latest: dict[int, ScoreSnapshot] = {}
        snaps = select(ScoreSnapshot).execution_options(yield_per=5000)
        for snap in session.scalars(snaps):
            if snap.org_id not in latest or _order(snap) > _order(latest[snap.org_id]):
                latest[snap.org_id] = snap
        for org_id, snap in sorted(latest.items()):
            _replace_latest(session, session.get_one(Organisation, org_id), None, snap, now)
