"""Scan runs and their results: each target written whole or not at all, resumable."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import ColumnElement, delete, func, insert, select
from sqlalchemy.orm import Session

from utsyn.errors import ConfigError
from utsyn.scan import model as scan
from utsyn.store.db import atomic
from utsyn.store.dialect import upsert
from utsyn.store.models import RUN_STATUSES, Observation, Organisation, ScanRun, TargetScan
from utsyn.store.orgs import organisation


def start_run(
    session: Session, scope: dict[str, Any], rulebook_version: str, now: datetime
) -> ScanRun:
    with atomic(session):
        run = ScanRun(
            started=now, scope=scope, status="running", rulebook_version=rulebook_version, stats={}
        )
        session.add(run)
    return run


def finish_run(
    session: Session,
    run: ScanRun,
    now: datetime,
    status: str = "done",
    stats: dict[str, Any] | None = None,
) -> None:
    """Close a run as done, or as interrupted (to be resumed with `resume_run`)."""
    if status not in RUN_STATUSES or status == "running":
        raise ConfigError(
            "a run finishes as 'done' or 'interrupted', not %(status)r", status=status
        )
    with atomic(session):
        run.status = status
        run.finished = now
        if stats is not None:
            run.stats = stats


def resume_run(session: Session, run: ScanRun) -> set[tuple[str, str, str]]:
    """Mark an interrupted run running again; returns the targets it need not scan again."""
    if run.status == "done":
        raise ConfigError("scan run %(id)s is done; start a new run instead", id=run.id)
    with atomic(session):
        run.status = "running"
        run.finished = None
    return completed_targets(session, run)


def completed_targets(session: Session, run: ScanRun) -> set[tuple[str, str, str]]:
    """(orgnr, kind, target) of the results this run has stored."""
    rows = session.execute(
        select(Organisation.orgnr, TargetScan.kind, TargetScan.target)
        .join(Organisation, Organisation.id == TargetScan.org_id)
        .where(TargetScan.run_id == run.id)
    )
    return {(orgnr, kind, target) for orgnr, kind, target in rows}


def write_target_result(
    session: Session, run: ScanRun, result: scan.TargetResult, now: datetime | None = None
) -> int:
    """Store one target's result in one transaction; a re-delivery replaces it.

    Returns the TargetScan id. On any failure nothing of this target is left behind.
    """
    with atomic(session):
        org = organisation(session, result.org)
        values = {
            "run_id": run.id,
            "org_id": org.id,
            "target": result.target,
            "kind": result.kind,
            "via": result.via,
            "seconds": result.seconds,
            "written": now or datetime.now(UTC),
        }
        # One statement claims the (run, org, kind, target) row, so two workers delivering
        # the same target cannot both insert it.
        update = {k: values[k] for k in ("via", "seconds", "written")}
        keys = ["run_id", "org_id", "kind", "target"]
        scan_id: int = upsert(session, TargetScan, values, keys, update, "id")
        session.execute(delete(Observation).where(Observation.target_scan_id == scan_id))
        rows = [_observation_row(scan_id, o) for o in result.observations]
        if rows:
            session.execute(insert(Observation), rows)
    return scan_id


def _observation_row(scan_id: int, o: scan.Observation) -> dict[str, Any]:
    return {
        "target_scan_id": scan_id,
        "check": o.check,
        "target": o.target,
        "value": o.value,
        "ip": o.ip,
        "probe": o.probe,
        "evidence": o.evidence,
        "error": o.error,
        "time": o.time,
        "carried": o.carried,
    }


def latest_results(session: Session, org: Organisation) -> list[scan.TargetResult]:
    """The latest stored result of each of the organisation's zones and hosts."""
    newest = (
        select(func.max(TargetScan.id))
        .where(TargetScan.org_id == org.id)
        .group_by(TargetScan.kind, TargetScan.target)
    )
    return _results(session, org, TargetScan.id.in_(newest))


def previous_result(
    session: Session, run: ScanRun, org: Organisation, kind: str, target: str
) -> scan.TargetResult | None:
    """The target's latest result stored by another (earlier) run, if any."""
    newest = (
        select(func.max(TargetScan.id))
        .where(TargetScan.org_id == org.id, TargetScan.kind == kind)
        .where(TargetScan.target == target, TargetScan.run_id != run.id)
    )
    found = _results(session, org, TargetScan.id == newest.scalar_subquery())
    return found[0] if found else None


def run_results(session: Session, run: ScanRun, org: Organisation) -> list[scan.TargetResult]:
    """What one run stored for one organisation: the findings that run actually saw."""
    return _results(session, org, (TargetScan.run_id == run.id) & (TargetScan.org_id == org.id))


def _results(
    session: Session, org: Organisation, where: ColumnElement[bool]
) -> list[scan.TargetResult]:
    scans = session.scalars(
        select(TargetScan).where(where).order_by(TargetScan.target, TargetScan.kind)
    ).all()
    observations = session.scalars(
        select(Observation)
        .where(Observation.target_scan_id.in_([s.id for s in scans]))
        .order_by(Observation.id)
    ).all()
    by_scan: dict[int, list[scan.Observation]] = {s.id: [] for s in scans}
    for o in observations:
        by_scan[o.target_scan_id].append(
            scan.Observation(
                o.target, o.check, o.value, o.ip, o.probe, o.evidence, o.error, o.time, o.carried
            )
        )
    return [
        scan.TargetResult(
            org.orgnr,
            s.target,
            "domain" if s.kind == "domain" else "host",
            tuple(by_scan[s.id]),
            s.seconds,
            s.via,
        )
        for s in scans
    ]


def resumable_run(session: Session) -> ScanRun:
    """The newest run that did not finish, to resume; an error when there is none."""
    run = session.scalars(
        select(ScanRun)
        .where(ScanRun.status.in_(("interrupted", "running")))
        .order_by(ScanRun.id.desc())
    ).first()
    if run is None:
        raise ConfigError("no interrupted scan to resume")
    return run
