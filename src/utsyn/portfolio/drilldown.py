"""The organisations of a county, sector or municipality: the national view's drill-down.

Each organisation with its latest grade and score, its trend, when it was last scanned and
whether it is active.

**Active and inactive.** An organisation is *inactive* when its rating no longer describes
what it runs today:

- *not scanned*: its last scan is older than the reachability window (the rulebook's
  `reachability.days`, the time an asset that stops answering keeps its last answers), or
  it was never scanned; or
- *no host answering*: its last scan evaluated no host, only DNS zones or nothing: every
  host stopped answering for longer than that window (rules.standing), or none ever did.

Otherwise it is *active*. The window is counted in whole days: scanned on the day
`window_days` ago still counts, so a weekly scan never flickers inactive for the hours
before its next round. (The rollups' `active` flag, shown on the dashboards as a verified
footprint, is another fact: whether the organisation has proved an asset its own.)

The *trend* is the change of score since the organisation's previous rating under the
same rulebook version (scores of different versions are not comparable), None without one.

The rows are read for the whole area and ordered by the caller: the cost grows with the
area chosen, as a portfolio's does with its size, never with the whole country unless the
caller asks for it.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from enum import StrEnum

from sqlalchemy import ColumnElement, exists, func, select
from sqlalchemy.orm import Session

from utsyn.portfolio.aggregate import Scope
from utsyn.store.models import Organisation, OrgAssessment, OrgLatest, ScoreSnapshot


class Activity(StrEnum):
    ACTIVE = "active"
    NOT_SCANNED = "not_scanned"  # no scan within the window
    NO_HOST = "no_host"  # scanned, but no host answered

    @property
    def active(self) -> bool:
        return self is Activity.ACTIVE


@dataclass(frozen=True)
class OrgRow:
    org_id: int
    orgnr: str
    name: str
    sector: str
    county: str
    municipality: str
    grade: str
    score: float
    change: float | None  # since `previous_day`; None without an earlier rating
    previous_day: date | None
    scanned: datetime | None  # the last scan; None if never scanned
    activity: Activity


def window_start(now: datetime, window_days: int) -> datetime:
    """The earliest scan that still counts: midnight (UTC) `window_days` days ago."""
    day = now.astimezone(UTC).date() - timedelta(days=window_days)
    return datetime.combine(day, time.min, UTC)


def activity(scanned: datetime | None, answered: bool, since: datetime) -> Activity:
    """Whether an organisation scanned at `scanned` (some host `answered`) is active."""
    if scanned is None or _utc(scanned) < since:
        return Activity.NOT_SCANNED
    return Activity.ACTIVE if answered else Activity.NO_HOST


def organisations(
    session: Session, scope: Scope, now: datetime, window_days: int
) -> tuple[OrgRow, ...]:
    """Every rated organisation in `scope`, in organisation-number order."""
    since = window_start(now, window_days)
    query = (
        select(
            OrgLatest,
            Organisation.orgnr,
            Organisation.name,
            OrgAssessment.assessed,
            _answered(session),
        )
        .join(Organisation, Organisation.id == OrgLatest.org_id)
        .outerjoin(OrgAssessment, OrgAssessment.org_id == OrgLatest.org_id)
        .where(*_dims(scope))
        .order_by(Organisation.orgnr)
    )
    found = session.execute(query).all()
    previous = _previous(session, scope)
    rows = []
    for latest, orgnr, name, scanned, answered in found:
        before = previous.get(latest.org_id)
        rows.append(
            OrgRow(
                latest.org_id,
                orgnr,
                name,
                latest.sector,
                latest.county,
                latest.municipality,
                latest.grade,
                latest.score,
                round(latest.score - before[1], 1) if before else None,
                before[0] if before else None,
                _utc(scanned) if scanned is not None else None,
                activity(scanned, bool(answered), since),
            )
        )
    return tuple(rows)


def _dims(scope: Scope) -> list[ColumnElement[bool]]:
    wanted = {"sector": scope.sector, "county": scope.county, "municipality": scope.municipality}
    return [getattr(OrgLatest, k) == v for k, v in wanted.items() if v is not None]


def _answered(session: Session) -> ColumnElement[bool]:
    """Whether the last scan evaluated a host: an asset "host:port" (zones have no colon).

    Read in the database, element by element: the assets of a large area never cross the
    wire.
    """
    asset_id: ColumnElement[str]
    if session.get_bind().dialect.name == "postgresql":
        each = func.jsonb_array_elements(OrgAssessment.assets).table_valued("value")
        asset_id = each.c.value.op("->>")(0)
    else:
        each = func.json_each(OrgAssessment.assets).table_valued("value")
        asset_id = func.json_extract(each.c.value, "$[0]")
    return exists(select(1).select_from(each).where(asset_id.like("%:%")))


def _previous(session: Session, scope: Scope) -> dict[int, tuple[date, float]]:
    """Each organisation's rating before its latest one, under the same rulebook version."""
    snap = ScoreSnapshot
    same_version = snap.rulebook_version == OrgLatest.rulebook_version
    day = (
        select(snap.org_id, func.max(snap.day).label("day"))
        .join(OrgLatest, OrgLatest.org_id == snap.org_id)
        .where(same_version, snap.day < OrgLatest.day, *_dims(scope))
        .group_by(snap.org_id)
        .subquery()
    )
    query = (
        select(snap.org_id, snap.day, snap.score)
        .join(day, (day.c.org_id == snap.org_id) & (day.c.day == snap.day))
        .join(OrgLatest, OrgLatest.org_id == snap.org_id)
        .where(same_version)
    )
    return {org_id: (when, score) for org_id, when, score in session.execute(query)}


def _utc(moment: datetime) -> datetime:
    # SQLite gives naive datetimes back; the store writes UTC.
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)
