"""Snapshots and the national rollups: kept incrementally, always equal to a recount."""

from __future__ import annotations

import random
from dataclasses import replace
from datetime import date, timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from utsyn.rating.model import Rating, rate
from utsyn.rules.model import Assessment, Asset, Finding
from utsyn.rules.rulebook import load_rulebook
from utsyn.store.models import Asset as AssetRow
from utsyn.store.models import GradeCount, IssueCount, Organisation, OrgLatest, ScoreSnapshot
from utsyn.store.orgs import OrgRecord, set_asset_state, upsert_organisations
from utsyn.store.rollup import recount, save_snapshot

from .builders import add_orgs
from .conftest import T0

BOOK = load_rulebook()
COUNTIES = ("03", "11", "46", "50", "")
SECTORS = ("state", "county", "municipal", "other")


def _rating(org: Organisation, rules: list[str]) -> Rating:
    assets = tuple(Asset(f"www.{org.primary_domain}:443", BOOK.rule(r).factor) for r in rules)
    findings = tuple(Finding(r, f"www.{org.primary_domain}:443") for r in rules)
    return rate(Assessment(org.orgnr, assets, findings), BOOK)


def _tables(session: Session) -> dict[str, list[tuple[Any, ...]]]:
    latest = session.scalars(select(OrgLatest).order_by(OrgLatest.org_id)).all()
    grades = session.scalars(select(GradeCount)).all()
    issues = session.scalars(select(IssueCount)).all()
    return {
        "latest": [
            (
                r.org_id,
                r.snapshot_id,
                r.day,
                r.rulebook_version,
                r.score,
                r.grade,
                r.sector,
                r.county,
                r.municipality,
                r.active,
                tuple(r.rules),
            )
            for r in latest
        ],
        "grades": sorted(
            (r.rulebook_version, r.sector, r.county, r.active, r.grade, r.orgs) for r in grades
        ),
        "issues": sorted(
            (r.rulebook_version, r.rule, r.sector, r.county, r.active, r.orgs) for r in issues
        ),
    }


def test_a_rescore_moves_an_organisation_between_grades(session: Session) -> None:
    [org] = add_orgs(session, 1, sector="municipal", county="46")
    worst = [r.id for r in BOOK.rules if r.points >= 10][:4]
    save_snapshot(session, org, _rating(org, worst), date(2026, 1, 5), T0)
    first = _tables(session)
    assert [g[4:] for g in first["grades"]] == [(_rating(org, worst).grade, 1)]
    assert {i[1] for i in first["issues"]} == set(worst)

    save_snapshot(session, org, _rating(org, []), date(2026, 1, 6), T0 + timedelta(days=1))
    after = _tables(session)
    assert after["grades"] == [(BOOK.version, "municipal", "46", False, "A", 1)]
    assert after["issues"] == []  # counts that fell to zero are gone
    # An older day's snapshot (a backfill) is stored but does not replace the latest.
    save_snapshot(session, org, _rating(org, worst), date(2026, 1, 1), T0 + timedelta(days=2))
    assert _tables(session) == after
    assert len(session.scalars(select(ScoreSnapshot)).all()) == 3


def test_the_same_day_and_version_is_one_snapshot(session: Session) -> None:
    [org] = add_orgs(session, 1)
    day = date(2026, 1, 5)
    save_snapshot(session, org, _rating(org, [BOOK.rules[0].id]), day, T0)
    save_snapshot(session, org, _rating(org, []), day, T0 + timedelta(hours=1))
    [snap] = session.scalars(select(ScoreSnapshot)).all()
    assert (snap.score, snap.penalties) == (100.0, {})


def test_incremental_rollups_equal_a_recount(session: Session) -> None:
    """Random rescoring, re-rating, rulebook versions, moves between counties, verification."""
    rng = random.Random(20260105)
    orgs = add_orgs(session, 24)
    rules = [r.id for r in BOOK.rules]
    for step in range(120):
        org = rng.choice(orgs)
        now = T0 + timedelta(minutes=step)
        action = rng.random()
        if action < 0.7:
            rating = _rating(org, rng.sample(rules, rng.randint(0, 5)))
            if rng.random() < 0.2:
                rating = replace(rating, rulebook_version="next")
            save_snapshot(
                session, org, rating, date(2026, 1, 1) + timedelta(days=rng.randint(0, 6)), now
            )
        elif action < 0.85:
            record = OrgRecord(
                org.orgnr,
                org.name,
                sector=rng.choice(SECTORS),
                county=rng.choice(COUNTIES) or None,
                domains=(org.primary_domain or "",),
            )
            upsert_organisations(session, [record], "test", now)
        else:
            asset = session.scalars(select(AssetRow).where(AssetRow.org_id == org.id)).one()
            set_asset_state(session, asset, rng.choice(["verified", "claimed"]), now)
    incremental = _tables(session)
    assert len(incremental["latest"]) > 15 and incremental["issues"]
    assert any(row[3] for row in incremental["latest"]) and {
        r[1] for r in incremental["grades"]
    } != {""}
    recount(session, T0 + timedelta(days=30))
    assert _tables(session) == incremental
    # The national overview is a sum over a few rows, and covers every rated organisation.
    assert sum(g[-1] for g in incremental["grades"]) == len(incremental["latest"])
