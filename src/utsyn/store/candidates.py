"""Footprint candidates (from `scan.footprint`), kept as 'discovered' assets until decided."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from utsyn.scan.footprint import Candidate
from utsyn.store.db import atomic
from utsyn.store.models import Asset, Organisation


def add_candidates(
    session: Session, org: Organisation, candidates: Iterable[Candidate], now: datetime
) -> int:
    """New candidates become discovered assets; known ones (in any state) are left alone,
    so a rejected name is never proposed again by the next discovery."""
    with atomic(session):
        known = {
            (a.kind, a.value) for a in session.scalars(select(Asset).where(Asset.org_id == org.id))
        }
        added = 0
        for c in candidates:
            if (c.kind, c.value) in known:
                continue
            session.add(
                Asset(
                    org_id=org.id, kind=c.kind, value=c.value, state="discovered",
                    source=c.source, shared=c.shared, created=now,
                )
            )  # fmt: skip
            known.add((c.kind, c.value))
            added += 1
    return added


def candidates(session: Session, org: Organisation) -> list[Asset]:
    return list(
        session.scalars(
            select(Asset)
            .where(Asset.org_id == org.id, Asset.state == "discovered")
            .order_by(Asset.value)
        )
    )
