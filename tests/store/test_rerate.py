"""Re-rating stored organisations in bulk (`pipeline.rerate_all`, `utsyn rating rescore`)."""

from __future__ import annotations

import pytest
from sqlalchemy import func, select, update
from sqlalchemy.orm import Session
from typer.testing import CliRunner

from tests.reads import rating_now
from utsyn.cli import app
from utsyn.clock import now_utc
from utsyn.errors import ConfigError
from utsyn.lab.expected import expected_results
from utsyn.lab.orgs import records_from_manifest
from utsyn.lab.scenarios import load_scenario
from utsyn.pipeline import rate_organisation, rerate_all
from utsyn.rules.rulebook import load_rulebook
from utsyn.settings import get_settings
from utsyn.store import scans
from utsyn.store.models import Alert, Organisation, OrgLatest, ScoreSnapshot
from utsyn.store.orgs import upsert_organisations
from utsyn.store.rollup import recount
from utsyn.vuln.alerts import KIND_GRADE

from ..portfolio.world import rollup_rows

BOOK = load_rulebook()
MANIFEST = load_scenario("demo")


def _store_demo(session: Session) -> None:
    upsert_organisations(session, records_from_manifest(MANIFEST), "lab:demo", now_utc())
    run = scans.start_run(session, {"mode": "lab"}, BOOK.version, now_utc())
    for result in expected_results(MANIFEST):
        scans.write_target_result(session, run, result, now_utc())
    for org in MANIFEST.organisations:
        rate_organisation(session, org.orgnr, BOOK, run)
    scans.finish_run(session, run, now_utc())


def test_every_organisation_is_rerated_as_one_at_a_time_would(session: Session) -> None:
    _store_demo(session)
    seen: list[tuple[int, int]] = []
    assert rerate_all(session, BOOK, progress=lambda n, total: seen.append((n, total))) == 40
    assert seen[-1] == (40, 40)
    now = now_utc()
    for org in session.scalars(select(Organisation)):
        latest = session.get_one(OrgLatest, org.id)
        assert latest.score == rating_now(session, org, BOOK, now).score, org.orgnr
    # Rated twice today: still one snapshot per organisation and day, rollups as a recount.
    assert session.scalar(select(func.count()).select_from(ScoreSnapshot)) == 40
    kept = rollup_rows(session)
    recount(session, now)
    assert rollup_rows(session) == kept


def test_a_grade_drop_alerts_and_an_unknown_number_writes_nothing(session: Session) -> None:
    _store_demo(session)
    worst = session.scalars(select(OrgLatest).order_by(OrgLatest.score)).first()
    assert worst is not None and worst.grade != "A"
    org = session.get_one(Organisation, worst.org_id)
    session.execute(update(OrgLatest).where(OrgLatest.org_id == org.id).values(grade="A"))
    session.commit()
    before = session.scalar(select(func.max(ScoreSnapshot.saved)))
    with pytest.raises(ConfigError, match="no organisation 999999999"):
        rerate_all(session, BOOK, [org.orgnr, "999999999"])
    assert session.scalar(select(func.max(ScoreSnapshot.saved))) == before
    assert rerate_all(session, BOOK, [org.orgnr]) == 1
    alerts = session.scalars(select(Alert).where(Alert.kind == KIND_GRADE)).all()
    assert [(a.org_id, a.payload["before"]) for a in alerts] == [(org.id, "A")]


def test_the_rescore_command(
    session: Session, db_url: str, monkeypatch: pytest.MonkeyPatch, request: pytest.FixtureRequest
) -> None:
    _store_demo(session)
    session.close()
    monkeypatch.setenv("UTSYN_DATABASE_URL", db_url)
    get_settings.cache_clear()  # settings are read once per process: read them anew
    request.addfinalizer(get_settings.cache_clear)
    answer = CliRunner().invoke(
        app, ["rating", "rescore", MANIFEST.organisations[0].orgnr, "--lang", "en"]
    )
    assert answer.exit_code == 0, answer.output
    assert f"1 organisation(s) rescored under rulebook {BOOK.version}" in answer.output
    answer = CliRunner().invoke(app, ["rating", "rescore", "123"])
    assert isinstance(answer.exception, ConfigError)  # `main` prints it, without a traceback
    assert "no organisation 123" in str(answer.exception)
