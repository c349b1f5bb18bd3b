"""Retention of scan results: keep the newest few of each target, delete the rest.

Scan results are the bulk of the database (35 KiB per target scanned, docs/scaling.md): at
national scale, keeping every weekly scan is not affordable. What the product reads of them
is each target's latest result (re-rating without a rescan: `scans.latest_results`) and the
results of the run being stored (`scans.run_results`); findings keep their own lifecycle
(first and last seen, explanations) and score snapshots their own history, neither of which
refers to a scan result. So every target scan but the newest `keep` of each organisation
and target can go, its observations with it (ON DELETE CASCADE). Runs stay: they are small
and say what was scanned when.
"""

from __future__ import annotations

from sqlalchemy import Select, delete, func, select
from sqlalchemy.orm import Session

from utsyn.errors import ConfigError
from utsyn.store.db import atomic
from utsyn.store.models import TargetScan

BATCH = 5000  # target scans per transaction: short locks, bounded memory


def prune_scans(session: Session, keep: int = 2, batch: int = BATCH) -> int:
    """Delete all but the newest `keep` scans of each organisation's target; returns how many
    went. Each batch is one transaction: an interruption leaves only whole scans deleted."""
    if keep < 1:
        raise ConfigError("keep at least the latest scan of each target (--keep 1 or more)")
    deleted = 0
    while True:
        ids = list(session.scalars(_older_than_kept(keep).limit(batch)))
        if not ids:
            return deleted
        with atomic(session):
            session.execute(delete(TargetScan).where(TargetScan.id.in_(ids)))
        deleted += len(ids)


def _older_than_kept(keep: int) -> Select[tuple[int]]:
    rank = (
        func.row_number()
        .over(
            partition_by=(TargetScan.org_id, TargetScan.kind, TargetScan.target),
            order_by=TargetScan.id.desc(),
        )
        .label("rank")
    )
    ranked = select(TargetScan.id, rank).subquery()
    return select(ranked.c.id).where(ranked.c.rank > keep).order_by(ranked.c.id)
