"""Score snapshots and the rollups kept in step with them (design: store.models).

Each rated organisation contributes one to a `GradeCount` and a `MunicipalityGradeCount` row
(with its score), and one to an `IssueCount` and a `MunicipalityIssueCount` row per rule that
counted against it; each snapshot contributes its score to a `ScoreDay`, a `NationalScoreDay`
and a `MunicipalityScoreDay` row. A change (a new snapshot, a new sector or county, a first
verified asset) is applied as the difference between the old and new contributions (a
`Delta`), in the transaction that made the change; `recount` rebuilds everything from the
snapshots. `store.rescore` applies the same deltas to many organisations at once.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any, NamedTuple

from sqlalchemy import delete, exists, select, tuple_
from sqlalchemy.orm import Session

from utsyn.rating.model import Rating
from utsyn.store.db import atomic
from utsyn.store.dialect import upsert_many
from utsyn.store.models import (
    Asset,
    GradeCount,
    IssueCount,
    MunicipalityGradeCount,
    MunicipalityIssueCount,
    MunicipalityScoreDay,
    NationalScoreDay,
    Organisation,
    OrgLatest,
    ScoreDay,
    ScoreSnapshot,
)

RollupModel = (
    type[GradeCount]
    | type[IssueCount]
    | type[MunicipalityGradeCount]
    | type[MunicipalityIssueCount]
    | type[ScoreDay]
    | type[NationalScoreDay]
    | type[MunicipalityScoreDay]
)
# The order rows are written in, so concurrent writers lock them in one order (no deadlock).
ROLLUPS: tuple[RollupModel, ...] = (
    GradeCount,
    MunicipalityGradeCount,
    IssueCount,
    MunicipalityIssueCount,
    ScoreDay,
    NationalScoreDay,
    MunicipalityScoreDay,
)
Key = tuple[RollupModel, tuple[Any, ...]]  # a rollup table and its primary key, in order


def tenths(score: float) -> int:
    """A score (one decimal) as an exact integer number of tenths."""
    return round(score * 10)


class LatestState(NamedTuple):
    """What an `OrgLatest` row contributes to the rollups."""

    rulebook_version: str
    sector: str
    county: str
    municipality: str
    active: bool
    grade: str
    score: float
    rules: tuple[str, ...]


class DayState(NamedTuple):
    """What a `ScoreSnapshot` contributes to the daily rollups."""

    day: date
    rulebook_version: str
    sector: str
    county: str
    municipality: str
    score: float


@dataclass
class Delta:
    """Signed changes to rollup rows: organisations, and scores in tenths, per row key."""

    orgs: Counter[Key] = field(default_factory=Counter)
    tenths: Counter[Key] = field(default_factory=Counter)

    def count(self, model: RollupModel, key: tuple[Any, ...], sign: int, score: float) -> None:
        self.orgs[(model, key)] += sign
        self.tenths[(model, key)] += sign * tenths(score)

    def count_rule(self, model: RollupModel, key: tuple[Any, ...], sign: int) -> None:
        self.orgs[(model, key)] += sign

    def changes(self, model: RollupModel) -> list[tuple[tuple[Any, ...], int, int]]:
        """(key, organisations, tenths) of one table's changed rows, in key order."""
        keys = [k for (m, k) in self.orgs if m is model]
        rows = [(k, self.orgs[(model, k)], self.tenths[(model, k)]) for k in sorted(keys)]
        return [row for row in rows if row[1] or row[2]]


def count_latest(delta: Delta, before: LatestState | None, after: LatestState | None) -> None:
    """Move one organisation's contribution from `before` to `after` (None: not rated)."""
    if before == after:
        return
    # When only the score or grade moved, the rules' counts cancel out: skip them (the
    # common case of a daily rescoring, and most of its cost).
    rules_moved = before is None or after is None or _issue_part(before) != _issue_part(after)
    for state, sign in ((before, -1), (after, 1)):
        if state is not None:
            _count_latest(delta, state, sign, rules_moved)


def _issue_part(state: LatestState) -> tuple[object, ...]:
    return (*state[:5], state.rules)


def _count_latest(delta: Delta, state: LatestState, sign: int, with_rules: bool) -> None:
    version, sector, county, municipality, active, grade, score, rules = state
    delta.count(GradeCount, (version, sector, county, active, grade), sign, score)
    area = (municipality, version, sector, county, active, grade)
    delta.count(MunicipalityGradeCount, area, sign, score)
    if with_rules:
        for rule in rules:
            delta.count_rule(IssueCount, (version, rule, sector, county, active), sign)
            key = (municipality, version, rule, sector, county, active)
            delta.count_rule(MunicipalityIssueCount, key, sign)


def count_day(delta: Delta, before: DayState | None, after: DayState | None) -> None:
    """Move one snapshot's contribution to the daily rollups from `before` to `after`."""
    if before == after:
        return
    for state, sign in ((before, -1), (after, 1)):
        if state is not None:
            day, version, sector, county, municipality, score = state
            delta.count(ScoreDay, (day, version, sector, county), sign, score)
            delta.count(NationalScoreDay, (day, version), sign, score)
            key = (municipality, day, version, sector, county)
            delta.count(MunicipalityScoreDay, key, sign, score)


def apply(session: Session, delta: Delta) -> None:
    """Add the delta to the rollup rows: one upsert per table, then drop rows left at zero."""
    for model in ROLLUPS:
        changes = delta.changes(model)
        if changes:
            _apply_model(session, model, changes)


def _apply_model(
    session: Session, model: RollupModel, changes: list[tuple[tuple[Any, ...], int, int]]
) -> None:
    names = [c.name for c in model.__mapper__.primary_key]
    measures = ["orgs", "score_tenths"] if "score_tenths" in model.__table__.c else ["orgs"]
    rows = [
        dict(zip(names + measures, (*key, orgs, score), strict=False))
        for key, orgs, score in changes
    ]
    left = upsert_many(session, model, rows, names, add=measures, returning=[*names, "orgs"])
    # Rows that fell to zero go, so the tables hold exactly what a recount would.
    empty = [row[:-1] for row in left if row[-1] == 0]
    if empty:
        pk = list(model.__mapper__.primary_key)
        session.execute(delete(model).where(tuple_(*pk).in_(empty)))


def save_snapshot(
    session: Session, org: Organisation, rating: Rating, day: date, now: datetime
) -> ScoreSnapshot:
    """Store the day's rating (one per organisation, day and rulebook version) and roll up."""
    with atomic(session):
        delta = Delta()
        snap = _upsert_snapshot(session, org, rating, day, now, delta)
        latest = session.get(OrgLatest, org.id, with_for_update=True)
        if latest is None or _order(snap) >= _order(
            session.get_one(ScoreSnapshot, latest.snapshot_id)
        ):
            _replace_latest(session, org, latest, snap, now, delta)
        apply(session, delta)
    return snap


def _order(snap: ScoreSnapshot) -> tuple[date, datetime, int]:
    # The latest snapshot: the latest day, then the one saved last (a re-rating that day).
    return (snap.day, snap.saved, snap.id)


def _upsert_snapshot(
    session: Session, org: Organisation, rating: Rating, day: date, now: datetime, delta: Delta
) -> ScoreSnapshot:
    snap = session.scalar(
        select(ScoreSnapshot).where(
            ScoreSnapshot.org_id == org.id,
            ScoreSnapshot.day == day,
            ScoreSnapshot.rulebook_version == rating.rulebook_version,
        )
    )
    before = None if snap is None else day_state(snap)
    if snap is None:
        snap = ScoreSnapshot(org_id=org.id, day=day, rulebook_version=rating.rulebook_version)
        session.add(snap)
    snap.score = rating.score
    snap.grade = rating.grade
    snap.factors = dict(rating.factors)
    snap.penalties = {p.rule: p.points for p in rating.penalties}
    snap.saved = now
    snap.sector = org.sector or ""
    snap.county = org.county or ""
    snap.municipality = org.municipality or ""
    session.flush()
    count_day(delta, before, day_state(snap))
    return snap


def day_state(snap: ScoreSnapshot) -> DayState:
    return DayState(
        snap.day, snap.rulebook_version, snap.sector, snap.county, snap.municipality, snap.score
    )


def latest_state(latest: OrgLatest | None) -> LatestState | None:
    if latest is None:
        return None
    return LatestState(
        latest.rulebook_version,
        latest.sector,
        latest.county,
        latest.municipality,
        latest.active,
        latest.grade,
        latest.score,
        tuple(latest.rules),
    )


def _replace_latest(
    session: Session,
    org: Organisation,
    latest: OrgLatest | None,
    snap: ScoreSnapshot,
    now: datetime,
    delta: Delta,
) -> None:
    before = latest_state(latest)
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
    count_latest(delta, before, latest_state(latest))


def refresh(session: Session, org: Organisation, now: datetime) -> None:
    """Follow a change of sector, county, municipality or verified assets into the rollups.

    Snapshots keep the dimensions they were counted under: the daily history is not moved.
    """
    latest = session.get(OrgLatest, org.id, with_for_update=True)
    if latest is None:
        return  # not rated yet: it is in no rollup
    before = latest_state(latest)
    _set_dimensions(session, latest, org)
    after = latest_state(latest)
    if after != before:
        latest.updated = now
        delta = Delta()
        count_latest(delta, before, after)
        apply(session, delta)


def _set_dimensions(session: Session, latest: OrgLatest, org: Organisation) -> None:
    active = _is_active(session, org.id)
    latest.active = active
    latest.sector = org.sector or ""
    latest.county = org.county or ""
    latest.municipality = org.municipality or ""


def _is_active(session: Session, org_id: int) -> bool:
    verified = select(Asset.id).where(Asset.org_id == org_id, Asset.state == "verified")
    return bool(session.scalar(select(exists(verified))))


def recount(session: Session, now: datetime) -> None:
    """Rebuild `OrgLatest` and every rollup from the snapshots (a repair, and the test oracle)."""
    with atomic(session):
        for model in (*ROLLUPS, OrgLatest):
            session.execute(delete(model))
        delta = Delta()
        latest: dict[int, ScoreSnapshot] = {}
        snaps = select(ScoreSnapshot).execution_options(yield_per=5000)
        for snap in session.scalars(snaps):
            count_day(delta, None, day_state(snap))
            if snap.org_id not in latest or _order(snap) > _order(latest[snap.org_id]):
                latest[snap.org_id] = snap
        for org_id, snap in sorted(latest.items()):
            org = session.get_one(Organisation, org_id)
            _replace_latest(session, org, None, snap, now, delta)
        apply(session, delta)
