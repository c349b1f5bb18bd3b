"""Scan runs spread over workers: each run's plan, what is done, and who finishes it.

A distributed run keeps its plan (each organisation's zones and hosts) in `scope["plan"]`
and its progress in `stats`: `rated` lists the organisations rated so far, and the run is
done when every planned organisation is. The plan is the database's record of what the
broker should carry, so whatever a broker loses can be sent again (`missing_work`).
Queries here load runs without their (large) scope unless they need the plan.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import exists, func, select
from sqlalchemy.orm import Session, load_only

from utsyn.store.db import atomic
from utsyn.store.models import Organisation, ScanRun, TargetScan
from utsyn.store.scans import completed_targets, finish_run, start_run

Plan = dict[str, list[tuple[str, str]]]  # orgnr → [(kind, name)] in scan order


@dataclass(frozen=True)
class MissingWork:
    """What a run still needs: targets not stored, and organisations complete but unrated."""

    targets: Plan
    ratings: list[str]


def start_planned_run(
    session: Session,
    plan: Plan,
    scope: dict[str, Any],
    rulebook_version: str,
    label: str,
    now: datetime,
) -> ScanRun:
    units = sum(len(targets) for targets in plan.values())
    run = start_run(
        session, scope | {"label": label, "plan": _plan_json(plan)}, rulebook_version, now
    )
    with atomic(session):
        run.stats = {"label": label, "orgs": len(plan), "units": units, "rated": []}
    return run


def _plan_json(plan: Plan) -> dict[str, list[list[str]]]:
    return {org: [[kind, name] for kind, name in targets] for org, targets in plan.items()}


def run_plan(run: ScanRun) -> Plan:
    plan = run.scope.get("plan", {})
    return {org: [(kind, name) for kind, name in targets] for org, targets in plan.items()}


def light_run(session: Session, run_id: int, *, for_update: bool = False) -> ScanRun:
    """The run without its scope (the plan can be large); locked with `for_update`."""
    query = (
        select(ScanRun)
        .options(load_only(ScanRun.id, ScanRun.status, ScanRun.stats, ScanRun.finished))
        .where(ScanRun.id == run_id)
        .execution_options(populate_existing=True)
    )
    if for_update:
        query = query.with_for_update()
    return session.scalars(query).one()


def is_stored(session: Session, run_id: int, orgnr: str, kind: str, target: str) -> bool:
    return bool(
        session.scalar(
            select(
                exists()
                .where(TargetScan.run_id == run_id, TargetScan.target == target)
                .where(TargetScan.kind == kind, TargetScan.org_id == _org_id(orgnr))
            )
        )
    )


def targets_stored(session: Session, run_id: int, orgnr: str) -> int:
    """How many of the organisation's planned targets the run has stored (a mail exchanger
    followed from one of its domains is not in the plan, so it is not counted)."""
    return int(
        session.scalar(
            select(func.count())
            .select_from(TargetScan)
            .where(TargetScan.run_id == run_id, TargetScan.org_id == _org_id(orgnr))
            .where(TargetScan.via == "")
        )
        or 0
    )


def planned_hosts(session: Session, run_id: int, orgnr: str) -> set[str]:
    """The host names planned for the organisation in this run."""
    run = session.get_one(ScanRun, run_id)
    return {name for kind, name in run_plan(run).get(orgnr, []) if kind == "host"}


def _org_id(orgnr: str) -> Any:
    return select(Organisation.id).where(Organisation.orgnr == orgnr).scalar_subquery()


def lock_organisation(session: Session, orgnr: str) -> None:
    """Serialise ratings of one organisation (PostgreSQL; SQLite has one writer anyway)."""
    session.execute(
        select(Organisation.id).where(Organisation.orgnr == orgnr).with_for_update()
    ).one()


def is_rated(session: Session, run_id: int, orgnr: str) -> bool:
    return orgnr in light_run(session, run_id).stats.get("rated", [])


def mark_rated(session: Session, run_id: int, orgnr: str, now: datetime) -> bool:
    """Record that `orgnr` is rated for the run; True when that finished the run.

    The run's row is locked, so two workers marking their organisations at once both count.
    """
    with atomic(session):
        run = light_run(session, run_id, for_update=True)
        stats = dict(run.stats)
        stats["rated"] = sorted({*stats.get("rated", []), orgnr})
        stats["progress"] = now.isoformat()
        finished = run.status == "running" and len(stats["rated"]) >= stats.get("orgs", 0)
        if not finished:
            run.stats = stats
            return False
        stats["targets"] = _targets_of_run(session, run_id)
        finish_run(session, run, now, stats=stats)
        return True


def _targets_of_run(session: Session, run_id: int) -> int:
    count = session.scalar(
        select(func.count()).select_from(TargetScan).where(TargetScan.run_id == run_id)
    )
    return int(count or 0)


def missing_work(session: Session, run: ScanRun) -> MissingWork:
    done = completed_targets(session, run)
    rated = set(run.stats.get("rated", []))
    targets: Plan = {}
    ratings: list[str] = []
    for org, planned in run_plan(run).items():
        left = [(kind, name) for kind, name in planned if (org, kind, name) not in done]
        if left:
            targets[org] = left
        elif org not in rated:
            ratings.append(org)
    return MissingWork(targets, ratings)


def running_planned_runs(session: Session) -> list[int]:
    """Distributed runs still running (in-process runs, without a plan, are not touched)."""
    rows = session.execute(
        select(ScanRun.id, ScanRun.stats).where(ScanRun.status == "running").order_by(ScanRun.id)
    )
    return [run_id for run_id, stats in rows if "units" in (stats or {})]


def last_progress(session: Session, run_id: int) -> datetime:
    """When the run last stored a target or rated an organisation (or started)."""
    run = session.scalars(
        select(ScanRun)
        .options(load_only(ScanRun.id, ScanRun.started, ScanRun.stats))
        .where(ScanRun.id == run_id)
    ).one()
    written = session.scalar(
        select(func.max(TargetScan.written)).where(TargetScan.run_id == run_id)
    )
    moments = [run.started, *([written] if written else [])]
    if "progress" in run.stats:
        moments.append(datetime.fromisoformat(run.stats["progress"]))
    return max(moments)


def labels_since(session: Session, since: datetime) -> set[str]:
    """The labels of runs started since `since` (the scheduler's record of what it planned)."""
    rows = session.scalars(select(ScanRun.stats).where(ScanRun.started >= since))
    return {str(stats["label"]) for stats in rows if stats and "label" in stats}


def all_orgnrs(session: Session) -> list[str]:
    return list(session.scalars(select(Organisation.orgnr).order_by(Organisation.orgnr)))
