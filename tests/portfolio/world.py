"""A small synthetic country, written through the store's own paths, and its brute force.

300 organisations over a few sectors, counties and municipalities (some unknown), half with
a verified asset, rated on four days (most through the bulk rescoring, some one by one),
one moving county on the last day, and a portfolio following 100 of them. The expected
figures are recomputed here from `OrgLatest` and `ScoreSnapshot` rows, row by row.
"""

from __future__ import annotations

import random
from collections import Counter, defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from utsyn.orgnr import make_orgnr
from utsyn.portfolio.aggregate import Scope
from utsyn.rating.model import Rating, rate
from utsyn.rules.model import Assessment, Asset, Finding
from utsyn.rules.rulebook import load_rulebook
from utsyn.rules.weights import GRADE_ORDER
from utsyn.store.models import Asset as AssetRow
from utsyn.store.models import (
    Organisation,
    OrgLatest,
    Portfolio,
    PortfolioMember,
    ScoreSnapshot,
    User,
)
from utsyn.store.orgs import OrgRecord, organisation, upsert_organisations
from utsyn.store.rescore import Scored, save_snapshots
from utsyn.store.rollup import ROLLUPS, save_snapshot

from ..store.conftest import T0

BOOK = load_rulebook()
SECTORS = ("municipality", "state_agency", "county", None)
PLACES = (("03", "0301"), ("46", "4601"), ("46", "4602"), ("11", "1103"), (None, None))
DAY0 = date(2026, 1, 5)
ORGS = 300


def rating(org: Organisation, rules: Iterable[str]) -> Rating:
    rules = list(rules)
    assets = tuple(Asset(f"www.{org.primary_domain}:443", BOOK.rule(r).factor) for r in rules)
    findings = tuple(Finding(r, f"www.{org.primary_domain}:443") for r in rules)
    return rate(Assessment(org.orgnr, assets, findings), BOOK)


def build(session: Session, seed: int = 7) -> int:
    """Write the country; returns the portfolio's id."""
    rng = random.Random(seed)
    orgs = _organisations(session, rng)
    ids = [o.id for o in orgs if rng.random() < 0.5]
    session.execute(update(AssetRow).where(AssetRow.org_id.in_(ids)).values(state="verified"))
    session.commit()
    rules = [r.id for r in BOOK.rules]
    for step in range(4):
        day, now = DAY0 + timedelta(days=step), T0 + timedelta(days=step)
        rated = [o for o in orgs if rng.random() < 0.7]
        single, bulk = rated[:10], rated[10:]
        scored = [Scored.of(o.id, rating(o, rng.sample(rules, rng.randint(0, 8)))) for o in bulk]
        save_snapshots(session, scored, day, now, batch=64)
        for org in single:
            save_snapshot(session, org, rating(org, rng.sample(rules, 3)), day, now)
        if step == 2:  # a body moves: its latest follows, its snapshots keep their county
            moved = orgs[0]
            record = OrgRecord(
                moved.orgnr,
                moved.name,
                sector="county",
                county="11",
                municipality="1103",
                domains=(moved.primary_domain or "",),
            )
            upsert_organisations(session, [record], "test", now)
    return _portfolio(session, rng, orgs)


def _organisations(session: Session, rng: random.Random) -> list[Organisation]:
    records = []
    for i in range(ORGS):
        county, municipality = rng.choice(PLACES)
        records.append(
            OrgRecord(
                orgnr=make_orgnr(i),
                name=f"Testvirksomhet {i}",
                sector=rng.choice(SECTORS),
                county=county,
                municipality=municipality,
                domains=(f"org{i}.test",),
            )
        )
    upsert_organisations(session, records, "test", T0)
    return [organisation(session, r.orgnr) for r in records]


def _portfolio(session: Session, rng: random.Random, orgs: list[Organisation]) -> int:
    user = User(email="analytiker@test", password_hash="!", role="national_analyst", created=T0)
    session.add(user)
    session.flush()
    portfolio = Portfolio(owner_id=user.id, name="fjordkommuner", created=T0)
    session.add(portfolio)
    session.flush()
    for org in rng.sample(orgs, 100):
        session.add(PortfolioMember(portfolio_id=portfolio.id, org_id=org.id))
    session.commit()
    return portfolio.id


# ------------------------------------------------------------------ brute force


@dataclass(frozen=True)
class Expected:
    orgs: int
    active: int
    average: float | None
    grades: dict[str, int]


def latest_rows(session: Session, portfolio_id: int | None, scope: Scope) -> list[OrgLatest]:
    rows = list(session.scalars(select(OrgLatest)))
    if portfolio_id is not None:
        members = set(
            session.scalars(
                select(PortfolioMember.org_id).where(PortfolioMember.portfolio_id == portfolio_id)
            )
        )
        rows = [r for r in rows if r.org_id in members]
    return [r for r in rows if _in_scope(r.sector, r.county, r.municipality, scope)]


def _in_scope(sector: str, county: str, municipality: str, scope: Scope) -> bool:
    return (
        scope.sector in (None, sector)
        and scope.county in (None, county)
        and scope.municipality in (None, municipality)
    )


def expected_summary(rows: list[OrgLatest]) -> Expected:
    grades = Counter(r.grade for r in rows)
    average = sum(r.score for r in rows) / len(rows) if rows else None
    return Expected(
        len(rows), sum(r.active for r in rows), average, {g: grades[g] for g in GRADE_ORDER}
    )


def expected_issues(rows: list[OrgLatest]) -> dict[str, int]:
    return dict(Counter(rule for r in rows for rule in r.rules))


def expected_trend(
    session: Session, portfolio_id: int | None, scope: Scope
) -> dict[tuple[date, str], tuple[int, float]]:
    snaps = list(session.scalars(select(ScoreSnapshot)))
    if portfolio_id is not None:
        members = set(
            session.scalars(
                select(PortfolioMember.org_id).where(PortfolioMember.portfolio_id == portfolio_id)
            )
        )
        snaps = [s for s in snaps if s.org_id in members]
    days: dict[tuple[date, str], list[float]] = defaultdict(list)
    for s in snaps:
        if _in_scope(s.sector, s.county, s.municipality, scope):
            days[(s.day, s.rulebook_version)].append(s.score)
    return {k: (len(v), sum(v) / len(v)) for k, v in days.items()}


def rollup_rows(session: Session) -> dict[str, list[tuple[Any, ...]]]:
    tables: dict[str, list[tuple[Any, ...]]] = {}
    for model in (*ROLLUPS, OrgLatest):
        columns = [c for c in model.__table__.c if c.name != "updated"]
        tables[model.__tablename__] = sorted(tuple(r) for r in session.execute(select(*columns)))
    return tables
