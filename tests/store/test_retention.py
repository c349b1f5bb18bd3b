"""Pruning old scan results keeps what re-rating reads: each target's newest scans."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session
from typer.testing import CliRunner

from utsyn.cli import app
from utsyn.errors import ConfigError
from utsyn.settings import get_settings
from utsyn.store import scans
from utsyn.store.models import Observation, ScanRun, TargetScan
from utsyn.store.retention import prune_scans

from .builders import add_orgs, result
from .conftest import T0


def _count(session: Session, model: type[TargetScan] | type[Observation] | type[ScanRun]) -> int:
    return session.scalar(select(func.count()).select_from(model)) or 0


def test_all_but_the_newest_scans_of_each_target_go(session: Session) -> None:
    a, b = add_orgs(session, 2)
    for week in range(4):
        now = T0 + timedelta(days=7 * week)
        run = scans.start_run(session, {"week": week}, "v1", now)
        scans.write_target_result(session, run, result(a, "org0.test", week, "x"), now)
        scans.write_target_result(session, run, result(a, "www.org0.test", week), now)
        if week < 2:  # b's target was scanned twice only: nothing of it goes
            scans.write_target_result(session, run, result(b, "org1.test", week), now)
        scans.finish_run(session, run, now)
    latest = {org.orgnr: scans.latest_results(session, org) for org in (a, b)}
    assert _count(session, TargetScan) == 10 and _count(session, Observation) == 14

    assert prune_scans(session, keep=2, batch=1) == 4  # a's two targets, two weeks each
    assert _count(session, TargetScan) == 6
    assert _count(session, Observation) == 8  # the cascade took their observations
    assert _count(session, ScanRun) == 4  # runs stay: what was scanned when
    assert {org.orgnr: scans.latest_results(session, org) for org in (a, b)} == latest
    assert prune_scans(session, keep=2) == 0  # idempotent
    assert prune_scans(session, keep=1) == 3
    assert {org.orgnr: scans.latest_results(session, org) for org in (a, b)} == latest


def test_the_latest_scan_is_never_pruned(session: Session) -> None:
    with pytest.raises(ConfigError, match="keep at least the latest"):
        prune_scans(session, keep=0)


def test_the_prune_command(
    session: Session, db_url: str, monkeypatch: pytest.MonkeyPatch, request: pytest.FixtureRequest
) -> None:
    [org] = add_orgs(session, 1)
    for week in range(3):
        run = scans.start_run(session, {}, "v1", T0 + timedelta(days=7 * week))
        scans.write_target_result(session, run, result(org, "org0.test", week))
    session.close()
    monkeypatch.setenv("UTSYN_DATABASE_URL", db_url)
    get_settings.cache_clear()  # settings are read once per process: read them anew
    request.addfinalizer(get_settings.cache_clear)
    answer = CliRunner().invoke(app, ["db", "prune", "--keep", "1", "--lang", "en"])
    assert answer.exit_code == 0, answer.output
    assert "Deleted 2 old target scan(s); kept the newest 1 of each target." in answer.output
