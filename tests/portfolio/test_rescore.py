"""The bulk rescoring writes what one `save_snapshot` per organisation would."""

from __future__ import annotations

import random
from datetime import timedelta

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from utsyn.store.models import OrgLatest, ScoreSnapshot
from utsyn.store.rescore import Scored, save_snapshots
from utsyn.store.rollup import recount, save_snapshot

from ..store.builders import add_orgs
from ..store.conftest import T0
from .world import BOOK, DAY0, rating, rollup_rows


def test_same_day_rerating_and_backfill_through_the_bulk_path(session: Session) -> None:
    rng = random.Random(11)
    orgs = add_orgs(session, 20, sector="municipality", county="46", municipality="4601")
    rules = [r.id for r in BOOK.rules]

    def ratings() -> list[Scored]:
        return [Scored.of(o.id, rating(o, rng.sample(rules, rng.randint(0, 6)))) for o in orgs]

    save_snapshots(session, ratings(), DAY0, T0, batch=7)
    later = T0 + timedelta(hours=2)
    save_snapshots(session, ratings(), DAY0, later, batch=7)  # the same day, re-rated
    save_snapshot(session, orgs[0], rating(orgs[0], rules[:2]), DAY0, later + timedelta(hours=1))
    backfill = ratings()
    save_snapshots(session, backfill, DAY0 - timedelta(days=3), later + timedelta(hours=2))

    assert len(session.scalars(select(ScoreSnapshot)).all()) == 40  # 20 today, 20 backfilled
    latest = {r.org_id: r for r in session.scalars(select(OrgLatest))}
    assert all(r.day == DAY0 for r in latest.values())  # a backfill never replaces the latest
    assert latest[orgs[0].id].rules == sorted(rules[:2])
    kept = rollup_rows(session)
    recount(session, T0)
    assert rollup_rows(session) == kept


def test_an_organisation_twice_in_one_batch_is_refused(session: Session) -> None:
    [org] = add_orgs(session, 1)
    scored = Scored.of(org.id, rating(org, []))
    with pytest.raises(ValueError, match="twice"):
        save_snapshots(session, [scored, scored], DAY0, T0)


def test_two_workers_write_what_a_recount_would(session: Session) -> None:
    rng = random.Random(12)
    orgs = add_orgs(session, 40, sector="municipality", county="46", municipality="4601")
    session.commit()  # the workers have their own connections: they see committed rows
    rules = [r.id for r in BOOK.rules]
    for step in range(3):
        scored = [Scored.of(o.id, rating(o, rng.sample(rules, rng.randint(0, 6)))) for o in orgs]
        day, now = DAY0 + timedelta(days=step), T0 + timedelta(days=step)
        assert save_snapshots(session, scored, day, now, batch=6, workers=2) == len(orgs)
    session.expire_all()
    assert len(session.scalars(select(ScoreSnapshot)).all()) == 3 * len(orgs)
    kept = rollup_rows(session)
    recount(session, T0)
    assert rollup_rows(session) == kept


def test_an_unknown_organisation_fails_its_batch_and_writes_nothing(session: Session) -> None:
    orgs = add_orgs(session, 3)
    session.commit()
    scored = [Scored.of(o.id, rating(o, [])) for o in orgs]
    ghost = Scored(max(o.id for o in orgs) + 1000, BOOK.version, 100.0, "A", {}, {})
    with pytest.raises(ValueError, match="no organisations with ids"):
        save_snapshots(session, [*scored, ghost], DAY0, T0)
    session.rollback()
    assert session.scalars(select(ScoreSnapshot)).all() == []
    assert session.scalars(select(OrgLatest)).all() == []


def test_the_sql_path_knows_every_rollup_table_in_the_lock_order() -> None:
    from utsyn.store import rescore_sql, rollup

    assert [r.table for r in rescore_sql.ROLLUPS] == [m.__tablename__ for m in rollup.ROLLUPS]
    for sql, model in zip(rescore_sql.ROLLUPS, rollup.ROLLUPS, strict=True):
        assert sql.keys == tuple(c.name for c in model.__mapper__.primary_key)
        assert sql.tenths == ("score_tenths" in model.__table__.c)
