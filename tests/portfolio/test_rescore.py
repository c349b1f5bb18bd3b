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
