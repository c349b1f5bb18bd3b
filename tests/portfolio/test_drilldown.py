"""The national drill-down (`portfolio.drilldown`): an area's organisations with their grade,
score, trend and activity, on SQLite and PostgreSQL (the "some host answered" test runs in
the database, with each dialect's JSON functions)."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, date, datetime, timedelta

from sqlalchemy.orm import Session

from utsyn.orgnr import make_orgnr
from utsyn.portfolio.aggregate import Scope
from utsyn.portfolio.drilldown import Activity, activity, organisations, window_start
from utsyn.rating.model import Rating
from utsyn.rules.model import Asset
from utsyn.store.assessments import save_assets
from utsyn.store.orgs import OrgRecord, organisation, upsert_organisations
from utsyn.store.rollup import save_snapshot

from .world import BOOK, rating

NOW = datetime(2026, 3, 10, 9, 30, tzinfo=UTC)
WINDOW = 7
TODAY, YESTERDAY = NOW.date(), NOW.date() - timedelta(days=1)


def test_the_window_counts_whole_days() -> None:
    since = window_start(NOW, WINDOW)
    assert since == datetime(2026, 3, 3, tzinfo=UTC)
    assert activity(since, True, since) is Activity.ACTIVE  # the first moment of that day
    assert activity(since - timedelta(microseconds=1), True, since) is Activity.NOT_SCANNED
    assert activity(None, True, since) is Activity.NOT_SCANNED  # never scanned
    assert activity(NOW, False, since) is Activity.NO_HOST
    # A scan too old counts as not scanned, whatever it found.
    assert activity(since - timedelta(days=1), False, since) is Activity.NOT_SCANNED
    assert Activity.ACTIVE.active and not Activity.NO_HOST.active
    # SQLite gives naive datetimes back: they are UTC.
    assert activity(since.replace(tzinfo=None), True, since) is Activity.ACTIVE


def _org(session: Session, number: int, county: str, municipality: str, sector: str) -> int:
    record = OrgRecord(
        make_orgnr(number),
        f"Virksomhet {number}",
        sector=sector,
        county=county,
        municipality=municipality,
        domains=(f"v{number}.test",),
    )
    upsert_organisations(session, [record], "test", NOW)
    return organisation(session, record.orgnr).id


def _rated(session: Session, number: int, rules: list[str], day: date, version: str = "") -> Rating:
    org = organisation(session, make_orgnr(number))
    made = rating(org, rules)
    if version:
        made = replace(made, rulebook_version=version)
    save_snapshot(session, org, made, day, NOW)
    return made


def _scanned(session: Session, number: int, assets: list[str], when: datetime) -> None:
    org = organisation(session, make_orgnr(number))
    save_assets(session, org, [Asset(a, "web") for a in assets], when)
    session.commit()


def test_an_areas_organisations_with_trend_and_activity(session: Session) -> None:
    rules = [r.id for r in BOOK.rules if r.points > 0]
    for number, county, municipality, sector in [
        (1, "34", "3403", "state"),
        (2, "34", "3411", "municipal"),
        (3, "34", "3411", "municipal"),
        (4, "34", "3436", "municipal"),
        (5, "34", "3405", "state"),
        (6, "03", "0301", "state"),  # another county
        (7, "34", "3407", "state"),  # never rated: not in any list
    ]:
        _org(session, number, county, municipality, sector)
    # 1: better today than yesterday, scanned today, a web server answered.
    before = _rated(session, 1, rules[:3], YESTERDAY)
    now = _rated(session, 1, rules[:1], TODAY)
    _scanned(session, 1, ["v1.test", "www.v1.test:443"], NOW)
    # 2: scanned eight days ago (outside the window).
    _rated(session, 2, rules[:2], TODAY)
    _scanned(session, 2, ["www.v2.test:443"], NOW - timedelta(days=WINDOW + 1))
    # 3: scanned today, but only its DNS zone answered.
    _rated(session, 3, [], TODAY)
    _scanned(session, 3, ["v3.test"], NOW)
    # 4: rated (by a re-rating) but never scanned: no assessment.
    _rated(session, 4, rules[:4], TODAY)
    # 5: yesterday's rating is of another rulebook version: no trend.
    _rated(session, 5, rules[:2], YESTERDAY, version="0.0.1-old")
    _rated(session, 5, rules[:1], TODAY)
    _scanned(session, 5, ["mail.v5.test:25"], NOW - timedelta(days=WINDOW))  # the first day
    _rated(session, 6, [], TODAY)
    _scanned(session, 6, ["www.v6.test:443"], NOW)

    rows = {r.orgnr: r for r in organisations(session, Scope(county="34"), NOW, WINDOW)}
    assert sorted(rows) == sorted(make_orgnr(n) for n in (1, 2, 3, 4, 5))
    one = rows[make_orgnr(1)]
    assert (one.score, one.grade) == (now.score, now.grade)
    assert one.change == round(now.score - before.score, 1) and one.change > 0
    assert one.previous_day == YESTERDAY
    assert one.scanned == NOW and one.activity is Activity.ACTIVE
    assert (one.county, one.municipality, one.sector) == ("34", "3403", "state")
    assert rows[make_orgnr(2)].activity is Activity.NOT_SCANNED
    assert rows[make_orgnr(3)].activity is Activity.NO_HOST
    assert rows[make_orgnr(4)].activity is Activity.NOT_SCANNED
    assert rows[make_orgnr(4)].scanned is None
    assert rows[make_orgnr(5)].change is None and rows[make_orgnr(5)].previous_day is None
    assert rows[make_orgnr(5)].activity is Activity.ACTIVE
    assert all(r.change is None for n, r in rows.items() if n != make_orgnr(1))

    # Each filter narrows the list; the rows are in organisation-number order.
    municipal = organisations(session, Scope(sector="municipal", county="34"), NOW, WINDOW)
    assert [r.orgnr for r in municipal] == sorted(make_orgnr(n) for n in (2, 3, 4))
    place = organisations(session, Scope(municipality="3411"), NOW, WINDOW)
    assert {r.orgnr for r in place} == {make_orgnr(2), make_orgnr(3)}
    everyone = organisations(session, Scope(), NOW, WINDOW)
    assert len(everyone) == 6 and [r.orgnr for r in everyone] == sorted(r.orgnr for r in everyone)
    assert organisations(session, Scope(county="46"), NOW, WINDOW) == ()
