"""Every dashboard figure equals a brute-force recomputation from the stored rows."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from sqlalchemy import Engine
from sqlalchemy.orm import Session

from utsyn.portfolio import aggregate
from utsyn.portfolio.aggregate import NATIONAL, Scope, Source
from utsyn.store.db import session_factory
from utsyn.store.rescore import rebuild_counts
from utsyn.store.rollup import recount

from ..store.conftest import T0, _empty
from .world import (
    BOOK,
    build,
    expected_issues,
    expected_summary,
    expected_trend,
    latest_rows,
    rollup_rows,
)

SCOPES = (
    Scope(),
    Scope(sector="municipality"),
    Scope(county="46"),
    Scope(municipality="4601"),
    Scope(sector="state_agency", county="46", municipality="4602"),
    Scope(county=""),  # unknown county
)


@pytest.fixture(scope="module")
def world(engine: Engine) -> Iterator[tuple[Session, int]]:
    """The small country, built once per backend; tests only read it."""
    _empty(engine)
    with session_factory(engine)() as session:
        portfolio_id = build(session)
        yield session, portfolio_id


def _sources(portfolio_id: int) -> list[Source]:
    return [NATIONAL, Source(portfolio_id)]


def test_summary_grades_and_activity(world: tuple[Session, int]) -> None:
    session, portfolio_id = world
    for source in _sources(portfolio_id):
        for scope in SCOPES:
            got = aggregate.summary(session, source, scope)
            want = expected_summary(latest_rows(session, source.portfolio_id, scope))
            assert (got.orgs, got.active, got.inactive) == (
                want.orgs, want.active, want.orgs - want.active
            )  # fmt: skip
            assert {g.grade: g.orgs for g in got.grades} == want.grades
            assert got.average == pytest.approx(want.average)
            assert sum(g.percent for g in got.grades) == pytest.approx(100 if want.orgs else 0)
    national = aggregate.summary(session)
    assert national.orgs > 250 and 0 < national.active < national.orgs


def test_worst_organisations(world: tuple[Session, int]) -> None:
    session, portfolio_id = world
    for source in _sources(portfolio_id):
        for scope in SCOPES:
            rows = latest_rows(session, source.portfolio_id, scope)
            want = [r.org_id for r in sorted(rows, key=lambda r: (r.score, r.org_id))[:7]]
            got = aggregate.worst(session, source, scope, limit=7)
            assert [o.org_id for o in got] == want
            assert all(len(o.orgnr) == 9 and o.name for o in got)


def test_critical_and_common_issues(world: tuple[Session, int]) -> None:
    session, portfolio_id = world
    for source in _sources(portfolio_id):
        for scope in SCOPES:
            rows = latest_rows(session, source.portfolio_id, scope)
            want = expected_issues(rows)
            shares = aggregate.issues(session, BOOK, source, scope)
            assert {s.rule: s.orgs for s in shares} == want
            for s in shares:
                assert s.percent == pytest.approx(100 * want[s.rule] / len(rows))
            common = aggregate.most_common(shares, 5)
            assert [s.orgs for s in common] == sorted(want.values(), reverse=True)[:5]
            critical = aggregate.most_critical(shares, 5)
            assert critical == tuple(sorted(shares, key=_by_severity)[:5])
    critical = aggregate.most_critical(aggregate.issues(session, BOOK), 3)
    assert critical[0].severity == "critical"


def _by_severity(share: aggregate.IssueShare) -> tuple[int, int, str]:
    order = ["critical", "high", "medium", "low", "info"]
    return (order.index(share.severity or "info"), -share.orgs, share.rule)


def test_daily_trend(world: tuple[Session, int]) -> None:
    session, portfolio_id = world
    for source in _sources(portfolio_id):
        for scope in SCOPES:
            want = expected_trend(session, source.portfolio_id, scope)
            got = aggregate.trend(session, source, scope)
            assert {(p.day, p.rulebook_version): p.orgs for p in got} == {
                k: v[0] for k, v in want.items()
            }
            for point in got:
                assert point.average == pytest.approx(want[(point.day, point.rulebook_version)][1])
            assert [p.day for p in got] == sorted(p.day for p in got)
    assert len(aggregate.trend(session)) == 4
    last = aggregate.latest_day(session)
    assert last is not None
    assert [p.day for p in aggregate.trend(session, since=last)] == [last]


def test_national_breakdowns(world: tuple[Session, int]) -> None:
    session, _ = world
    for by in ("sector", "county", "municipality"):
        for scope in (Scope(), Scope(county="46")):
            got = {a.key: a.summary for a in aggregate.breakdown(session, by, scope)}
            rows = latest_rows(session, None, scope)
            keys = {getattr(r, by) for r in rows}
            assert set(got) == keys
            for key in keys:
                want = expected_summary([r for r in rows if getattr(r, by) == key])
                assert (got[key].orgs, got[key].active) == (want.orgs, want.active)
                assert {g.grade: g.orgs for g in got[key].grades} == want.grades
                assert got[key].average == pytest.approx(want.average)


def test_the_dashboard_gathers_every_widget(world: tuple[Session, int]) -> None:
    session, portfolio_id = world
    board = aggregate.dashboard(session, BOOK, Source(portfolio_id), Scope(county="46"), limit=3)
    assert board.summary == aggregate.summary(session, Source(portfolio_id), Scope(county="46"))
    assert len(board.worst) == len(board.critical) == len(board.common) == 3
    assert board.trend and aggregate.portfolio_named(session, "fjordkommuner") == Source(
        portfolio_id
    )


def test_incremental_and_bulk_rollups_equal_a_recount_and_a_rebuild(
    world: tuple[Session, int],
) -> None:
    """Last in the module: it rewrites the rollups (to the same rows)."""
    session, _ = world
    kept = rollup_rows(session)
    assert all(kept.values())
    rebuild_counts(session)
    assert rollup_rows(session) == kept
    recount(session, T0)
    assert rollup_rows(session) == kept
