"""Scan results: one target in one transaction, re-delivery replaces, runs resume."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta

import pytest
from sqlalchemy import func, select
from sqlalchemy.exc import StatementError
from sqlalchemy.orm import Session

from utsyn.errors import ConfigError
from utsyn.scan.model import TargetResult
from utsyn.store.models import Observation, TargetScan
from utsyn.store.scans import (
    completed_targets,
    finish_run,
    latest_results,
    resume_run,
    start_run,
    write_target_result,
)

from .builders import add_orgs, result
from .conftest import T0

UNSERIALISABLE = {"a set is not JSON": {1, 2}}
# SQLite's driver reports it through SQLAlchemy; psycopg raises json's TypeError itself.
NOT_JSON = (StatementError, TypeError)


def _stored(session: Session) -> tuple[int, int]:
    scans = session.scalar(select(func.count()).select_from(TargetScan))
    observations = session.scalar(select(func.count()).select_from(Observation))
    return scans or 0, observations or 0


def test_a_result_reads_back_as_written(session: Session) -> None:
    [org] = add_orgs(session, 1)
    run = start_run(session, {"orgs": [org.orgnr]}, "2026.1", T0)
    written = result(org, "org0.test", None, True, 3.5, "text", [1, "two"], {"nested": {"k": 1}})
    write_target_result(session, run, written, T0)
    assert latest_results(session, org) == [written]


def test_a_failure_mid_write_leaves_nothing_of_that_target(session: Session) -> None:
    """An unserialisable observation value fails the insert after the target row is in."""
    [org] = add_orgs(session, 1)
    run = start_run(session, {}, "2026.1", T0)
    write_target_result(session, run, result(org, "a.org0.test", 1, 2), T0)
    with pytest.raises(NOT_JSON):
        write_target_result(session, run, result(org, "b.org0.test", 1, UNSERIALISABLE), T0)
    session.rollback()
    assert _stored(session) == (1, 2)
    assert completed_targets(session, run) == {(org.orgnr, "domain", "a.org0.test")}


def test_a_failure_inside_the_callers_transaction_keeps_the_earlier_targets(
    session: Session,
) -> None:
    [org] = add_orgs(session, 1)
    run = start_run(session, {}, "2026.1", T0)
    with session.begin():  # the caller's transaction: each target is a savepoint in it
        write_target_result(session, run, result(org, "a.org0.test", 1), T0)
        with pytest.raises(NOT_JSON):
            write_target_result(session, run, result(org, "b.org0.test", UNSERIALISABLE), T0)
        write_target_result(session, run, result(org, "c.org0.test", 3), T0)
    assert completed_targets(session, run) == {
        (org.orgnr, "domain", "a.org0.test"),
        (org.orgnr, "domain", "c.org0.test"),
    }
    assert _stored(session) == (2, 2)


def test_a_failed_redelivery_keeps_the_earlier_delivery(session: Session) -> None:
    [org] = add_orgs(session, 1)
    run = start_run(session, {}, "2026.1", T0)
    first = result(org, "org0.test", "v1", "v1")
    write_target_result(session, run, first, T0)
    with pytest.raises(NOT_JSON):
        write_target_result(session, run, result(org, "org0.test", UNSERIALISABLE), T0)
    session.rollback()
    assert latest_results(session, org) == [first]


def test_redelivery_replaces_and_never_duplicates(session: Session) -> None:
    [org] = add_orgs(session, 1)
    run = start_run(session, {}, "2026.1", T0)
    first_id = write_target_result(session, run, result(org, "org0.test", 1, 2, 3), T0)
    second = result(org, "org0.test", "again")
    assert write_target_result(session, run, second, T0 + timedelta(minutes=1)) == first_id
    assert write_target_result(session, run, second, T0 + timedelta(minutes=2)) == first_id
    assert _stored(session) == (1, 1)
    assert latest_results(session, org) == [second]


def test_an_interrupted_run_resumes_where_it_stopped(session: Session) -> None:
    orgs = add_orgs(session, 2)
    targets = [(org, f"h{i}.{org.primary_domain}") for org in orgs for i in range(3)]
    run = start_run(session, {"orgs": [o.orgnr for o in orgs]}, "2026.1", T0)
    for org, target in targets[:4]:
        write_target_result(session, run, result(org, target, "ok"), T0)
    finish_run(session, run, T0 + timedelta(minutes=5), status="interrupted")

    done = resume_run(session, run)  # as after a restart
    assert done == {(org.orgnr, "domain", target) for org, target in targets[:4]}
    assert run.status == "running"
    for org, target in targets:
        if (org.orgnr, "domain", target) not in done:
            write_target_result(session, run, result(org, target, "ok"), T0)
    finish_run(session, run, T0 + timedelta(minutes=9), stats={"targets": len(targets)})

    assert completed_targets(session, run) == {(o.orgnr, "domain", t) for o, t in targets}
    assert _stored(session) == (6, 6)
    with pytest.raises(ConfigError, match="is done"):
        resume_run(session, run)


def test_latest_results_take_each_target_from_its_latest_run(session: Session) -> None:
    [org] = add_orgs(session, 1)
    first = start_run(session, {}, "2026.1", T0)
    write_target_result(session, first, result(org, "a.org0.test", "old"), T0)
    write_target_result(session, first, result(org, "b.org0.test", "only"), T0)
    second = start_run(session, {}, "2026.1", T0 + timedelta(days=1))
    write_target_result(session, second, result(org, "a.org0.test", "new"), T0)
    latest = {r.target: r.observations[0].value for r in latest_results(session, org)}
    assert latest == {"a.org0.test": "new", "b.org0.test": "only"}


def test_a_zone_and_a_host_of_one_name_are_both_kept(session: Session) -> None:
    """`org0.test` has MX, SPF and DMARC (a zone) and serves the web site (a host): neither
    result may overwrite the other, in a run or across runs."""
    [org] = add_orgs(session, 1)
    zone = result(org, "org0.test", "v=spf1 -all")
    host = replace(result(org, "org0.test", 443), kind="host", via="")
    mx = replace(result(org, "mx.provider.test", 25), kind="host", via="mx:org0.test")
    run = start_run(session, {}, "2026.1", T0)
    for written in (zone, host, mx):
        write_target_result(session, run, written, T0)
    assert sorted(latest_results(session, org), key=lambda r: (r.target, r.kind)) == [
        mx,
        zone,
        host,
    ]
    again = start_run(session, {}, "2026.1", T0 + timedelta(days=1))
    newer_host = replace(host, observations=result(org, "org0.test", 8443).observations)
    write_target_result(session, again, newer_host, T0)
    latest = {(r.target, r.kind): r for r in latest_results(session, org)}
    assert latest[("org0.test", "domain")] == zone
    assert latest[("org0.test", "host")] == newer_host
    assert completed_targets(session, run) == {
        (org.orgnr, "domain", "org0.test"),
        (org.orgnr, "host", "org0.test"),
        (org.orgnr, "host", "mx.provider.test"),
    }


def test_results_of_an_unknown_organisation_are_refused(session: Session) -> None:
    [org] = add_orgs(session, 1)
    run = start_run(session, {}, "2026.1", T0)
    stranger = TargetResult("974760673", "x.test", "domain", ())
    with pytest.raises(ConfigError, match="import it first"):
        write_target_result(session, run, stranger, T0)
    assert _stored(session) == (0, 0)
    assert org.id
