"""Rescoring many organisations at once: the set-based twin of `rollup.save_snapshot`.

A national rescoring (a new rulebook version, the nightly re-rating) saves a snapshot for
every organisation. One `save_snapshot` per organisation costs about ten statements; here a
batch of thousands costs a few. On PostgreSQL the batch is copied into a temporary table
and every write is one SQL statement (`rescore_sql`), by two connections at once if asked:
one million organisations in 43 s on two cores (benchmarks/RESULTS.md). On SQLite (one
municipality's laptop) it is done in Python: read the batch's current state, upsert its
snapshots and `OrgLatest` rows, and add one summed `rollup.Delta` to the rollup tables,
computed by the same functions as `save_snapshot`'s. Both paths are tested against
`save_snapshot` and `rollup.recount`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from sqlalchemy import BigInteger, Engine, Row, any_, bindparam, delete, select, text
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.orm import Session, aliased

from utsyn.rating.model import Rating
from utsyn.store import rescore_sql
from utsyn.store.db import atomic
from utsyn.store.dialect import upsert_many
from utsyn.store.models import (
    Asset,
    GradeCount,
    IssueCount,
    MunicipalityGradeCount,
    MunicipalityIssueCount,
    Organisation,
    OrgLatest,
    ScoreSnapshot,
)
from utsyn.store.rollup import DayState, Delta, LatestState, apply, count_day, count_latest

BATCH = 5000  # ids per IN list: far below both backends' parameter limits


@dataclass(frozen=True, slots=True)
class Scored:
    """One organisation's new rating: as much of a `Rating` as the store keeps."""

    org_id: int
    rulebook_version: str
    score: float
    grade: str
    factors: Mapping[str, float]
    penalties: Mapping[str, float]  # rule → points lost

    @classmethod
    def of(cls, org_id: int, rating: Rating) -> Scored:
        penalties = {p.rule: p.points for p in rating.penalties}
        return cls(
            org_id, rating.rulebook_version, rating.score, rating.grade, rating.factors, penalties
        )


def save_snapshots(
    session: Session,
    scored: Sequence[Scored],
    day: date,
    now: datetime,
    batch: int = BATCH,
    workers: int = 1,
) -> int:
    """Save the day's ratings of many organisations, each batch one unit of work.

    On PostgreSQL the batches are written in SQL (`rescore_sql`), by `workers` connections
    at once when more than one: the batches hold disjoint organisations, and the rollup rows
    they share are locked in one order, so they wait for each other but never deadlock.
    """
    chunks = [scored[start : start + batch] for start in range(0, len(scored), batch)]
    for chunk in chunks:
        if len({s.org_id for s in chunk}) != len(chunk):
            raise ValueError("an organisation is rescored twice in one batch")
    if _dialect(session) != "postgresql":
        for chunk in chunks:
            with atomic(session):
                _save_batch(session, chunk, day, now)
    elif workers <= 1 or len(chunks) <= 1 or not isinstance(session.get_bind(), Engine):
        # One connection given (not an engine to open more from): its batches in turn.
        for chunk in chunks:
            with atomic(session):
                rescore_sql.save_batch(session, chunk, day, now)
    else:
        _save_in_parallel(session, chunks, day, now, workers)
    return len(scored)


def _save_in_parallel(
    session: Session, chunks: list[Sequence[Scored]], day: date, now: datetime, workers: int
) -> None:
    # Each worker its own session and connection: the caller's is left as it was.
    bind = session.get_bind()

    def work(part: list[Sequence[Scored]]) -> None:
        with Session(bind) as own:
            for chunk in part:
                with own.begin():
                    rescore_sql.save_batch(own, chunk, day, now)

    parts = [chunks[i::workers] for i in range(workers)]
    with ThreadPoolExecutor(max_workers=workers) as pool:
        for done in [pool.submit(work, part) for part in parts if part]:
            done.result()  # the first failure is raised; batches committed before it stay


def _save_batch(session: Session, batch: Sequence[Scored], day: date, now: datetime) -> None:
    ids = [s.org_id for s in batch]
    current = {row.id: row for row in session.execute(_state_query(ids, _dialect(session)))}
    active = _verified(session, ids)
    missing = set(ids) - set(current)
    if missing:
        raise ValueError(f"no organisations with ids {sorted(missing)[:5]}")
    same_day = _same_day(session, ids, day)
    snapshot_ids = _upsert_snapshots(session, batch, current, day, now)
    delta = Delta()
    latest_rows: list[dict[str, Any]] = []
    for s in batch:
        state = current[s.org_id]
        dims = (state.sector or "", state.county or "", state.municipality or "")
        after = DayState(day, s.rulebook_version, *dims, s.score)
        count_day(delta, same_day.get((s.org_id, s.rulebook_version)), after)
        snapshot_id = snapshot_ids[(s.org_id, s.rulebook_version)]
        if _is_latest(state, day, now, snapshot_id):
            rules = tuple(sorted(s.penalties))
            is_active = s.org_id in active
            new = LatestState(s.rulebook_version, *dims, is_active, s.grade, s.score, rules)
            count_latest(delta, _old_latest(state), new)
            latest_rows.append(_latest_row(s.org_id, snapshot_id, day, new, now))
    upsert_many(session, OrgLatest, latest_rows, ["org_id"])
    apply(session, delta)


def _state_query(ids: list[int], dialect: str) -> Any:
    latest_snap = aliased(ScoreSnapshot)
    return (
        select(
            Organisation.id,
            Organisation.sector,
            Organisation.county,
            Organisation.municipality,
            OrgLatest.rulebook_version.label("l_version"),
            OrgLatest.sector.label("l_sector"),
            OrgLatest.county.label("l_county"),
            OrgLatest.municipality.label("l_municipality"),
            OrgLatest.active.label("l_active"),
            OrgLatest.grade.label("l_grade"),
            OrgLatest.score.label("l_score"),
            OrgLatest.rules.label("l_rules"),
            OrgLatest.day.label("l_day"),
            OrgLatest.snapshot_id.label("l_snapshot_id"),
            latest_snap.saved.label("l_saved"),
        )
        .outerjoin(OrgLatest, OrgLatest.org_id == Organisation.id)
        .outerjoin(latest_snap, latest_snap.id == OrgLatest.snapshot_id)
        .where(_among(Organisation.id, ids, dialect))
    )


def _dialect(session: Session) -> str:
    return session.get_bind().dialect.name


def _among(column: Any, ids: list[int], dialect: str) -> Any:
    # One array parameter on PostgreSQL: the driver parses thousands of placeholders slowly.
    if dialect == "postgresql":
        return column == any_(bindparam("ids", ids, type_=ARRAY(BigInteger)))
    return column.in_(ids)


def _verified(session: Session, ids: list[int]) -> set[int]:
    """The batch's active organisations (with a verified asset): one index range per id."""
    query = select(Asset.org_id).where(
        _among(Asset.org_id, ids, _dialect(session)), Asset.state == "verified"
    )
    return set(session.scalars(query.distinct()))


def _same_day(session: Session, ids: list[int], day: date) -> dict[tuple[int, str], DayState]:
    """The day's snapshots saved before: a re-rating takes their contribution out."""
    rows = session.execute(
        select(
            ScoreSnapshot.org_id,
            ScoreSnapshot.rulebook_version,
            ScoreSnapshot.sector,
            ScoreSnapshot.county,
            ScoreSnapshot.municipality,
            ScoreSnapshot.score,
        ).where(ScoreSnapshot.day == day, _among(ScoreSnapshot.org_id, ids, _dialect(session)))
    )
    return {
        (org_id, version): DayState(day, version, sector, county, municipality, score)
        for org_id, version, sector, county, municipality, score in rows
    }


def _upsert_snapshots(
    session: Session,
    batch: Sequence[Scored],
    current: Mapping[int, Row[Any]],
    day: date,
    now: datetime,
) -> dict[tuple[int, str], int]:
    rows = [
        {
            "org_id": s.org_id,
            "day": day,
            "rulebook_version": s.rulebook_version,
            "score": s.score,
            "grade": s.grade,
            "factors": dict(s.factors),
            "penalties": dict(s.penalties),
            "saved": now,
            "sector": current[s.org_id].sector or "",
            "county": current[s.org_id].county or "",
            "municipality": current[s.org_id].municipality or "",
        }
        for s in batch
    ]
    keys = ["org_id", "day", "rulebook_version"]
    returning = ["org_id", "rulebook_version", "id"]
    returned = upsert_many(session, ScoreSnapshot, rows, keys, returning=returning)
    return {(row[0], row[1]): row[2] for row in returned}


def _is_latest(state: Row[Any], day: date, now: datetime, snapshot_id: int) -> bool:
    # rollup._order: the latest day, then the one saved last, then the higher id.
    if state.l_snapshot_id is None:
        return True
    saved = state.l_saved if state.l_saved.tzinfo else state.l_saved.replace(tzinfo=now.tzinfo)
    return bool((day, now, snapshot_id) >= (state.l_day, saved, state.l_snapshot_id))


def _old_latest(state: Row[Any]) -> LatestState | None:
    if state.l_version is None:
        return None
    return LatestState(
        state.l_version,
        state.l_sector,
        state.l_county,
        state.l_municipality,
        state.l_active,
        state.l_grade,
        state.l_score,
        tuple(state.l_rules),
    )


def _latest_row(
    org_id: int, snapshot_id: int, day: date, state: LatestState, now: datetime
) -> dict[str, Any]:
    return {
        "org_id": org_id,
        "snapshot_id": snapshot_id,
        "day": day,
        **state._asdict(),
        "rules": list(state.rules),
        "updated": now,
    }


def rebuild_counts(session: Session) -> None:
    """Rebuild the four organisation counts from `OrgLatest` in SQL (a bulk load's last step).

    The set-based twin of `rollup.recount` for the counts (the daily rollups and `OrgLatest`
    itself are left as they are): four INSERT … SELECT … GROUP BY, whatever the size.
    """
    with atomic(session):
        for model in (GradeCount, IssueCount, MunicipalityGradeCount, MunicipalityIssueCount):
            session.execute(delete(model))
        if session.get_bind().dialect.name == "postgresql":
            # Room to hash the groups: sorting millions of (rule, area) strings is slower.
            session.execute(text("SET LOCAL work_mem = '256MB'"))
        for statement in _rebuild_statements(session.get_bind().dialect.name):
            session.execute(text(statement))


def _rebuild_statements(dialect: str) -> list[str]:
    score = "SUM(CAST(ROUND(score * 10) AS BIGINT))"
    dims = "rulebook_version, sector, county"
    if dialect == "postgresql":
        each, rule = "jsonb_array_elements_text(l.rules) AS r(rule)", "r.rule"
    else:
        each, rule = "json_each(l.rules) AS r", "r.value"
    issue_dims = f"l.rulebook_version, {rule}, l.sector, l.county, l.active"
    return [
        f"INSERT INTO grade_count ({dims}, active, grade, orgs, score_tenths) "
        f"SELECT {dims}, active, grade, COUNT(*), {score} FROM org_latest "
        f"GROUP BY {dims}, active, grade",
        f"INSERT INTO municipality_grade_count (municipality, {dims}, active, grade, orgs, "
        f"score_tenths) SELECT municipality, {dims}, active, grade, COUNT(*), {score} "
        f"FROM org_latest GROUP BY municipality, {dims}, active, grade",
        f"INSERT INTO issue_count (rulebook_version, rule, sector, county, active, orgs) "
        f"SELECT {issue_dims}, COUNT(*) FROM org_latest l, {each} GROUP BY {issue_dims}",
        f"INSERT INTO municipality_issue_count (municipality, rulebook_version, rule, sector, "
        f"county, active, orgs) SELECT l.municipality, {issue_dims}, COUNT(*) "
        f"FROM org_latest l, {each} GROUP BY l.municipality, {issue_dims}",
    ]
