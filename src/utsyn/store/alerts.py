"""Alert rows and their delivery per channel (`vuln.alerts` decides what to alert on, builds
the payloads and sends them; `alert_reads` pages through them for the web).

An alert is created in one statement (INSERT … ON CONFLICT DO NOTHING on its dedupe key), so
two processes cannot both create it. Each delivery attempt is committed at once, so a crash
loses no count.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from utsyn.store.db import atomic
from utsyn.store.models import Alert, AlertDelivery, Observation, Organisation, TargetScan


@dataclass(frozen=True, slots=True)
class Exposure:
    """A product one organisation's latest scan of one target saw."""

    org_id: int
    orgnr: str
    org_name: str
    target: str
    value: dict[str, Any]  # the `service.product` observation's value


_EXPOSURE_COLUMNS = (
    Organisation.id,
    Organisation.orgnr,
    Organisation.name,
    Observation.target,
    Observation.value,
)


def exposures(session: Session) -> list[Exposure]:
    """Every `service.product` of each organisation's latest result per target."""
    latest = select(func.max(TargetScan.id)).group_by(
        TargetScan.org_id, TargetScan.kind, TargetScan.target
    )
    rows = session.execute(
        select(*_EXPOSURE_COLUMNS)
        .join(TargetScan, TargetScan.id == Observation.target_scan_id)
        .join(Organisation, Organisation.id == TargetScan.org_id)
        .where(
            TargetScan.id.in_(latest),
            Observation.check == "service.product",
            Observation.error.is_(None),
        )
        .order_by(Observation.id)
    )
    return [Exposure(*row) for row in rows if isinstance(row[4], dict)]


# ------------------------------------------------------------------ creating alerts


def insert_alert(
    session: Session,
    key: str,
    kind: str,
    org_id: int | None,
    payload: dict[str, Any],
    now: datetime,
) -> Alert | None:
    """The new alert, or None when one with this dedupe key exists (in one statement, so
    two processes cannot both create it). Part of the caller's unit of work."""
    dialect = session.get_bind().dialect.name
    insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
    values = {"dedupe_key": key, "kind": kind, "org_id": org_id, "payload": payload,
              "created": now, "attempts": 0}  # fmt: skip
    stmt = insert(Alert).values(values).on_conflict_do_nothing(index_elements=["dedupe_key"])
    alert_id = session.execute(stmt.returning(Alert.id)).scalar_one_or_none()
    return None if alert_id is None else session.get(Alert, alert_id)


def add_alert(
    session: Session,
    key: str,
    kind: str,
    org_id: int | None,
    payload: dict[str, Any],
    now: datetime,
) -> Alert | None:
    """`insert_alert` as a unit of work of its own."""
    with atomic(session):
        return insert_alert(session, key, kind, org_id, payload, now)


# ------------------------------------------------------------------ delivery bookkeeping


def undelivered_ids(session: Session) -> list[int]:
    """The alerts not yet delivered on every channel, oldest first."""
    query = select(Alert.id).where(Alert.delivered.is_(None)).order_by(Alert.id)
    return list(session.scalars(query))


def get_alert(session: Session, alert_id: int) -> Alert | None:
    return session.get(Alert, alert_id)


def delivery_state(session: Session, alert: Alert, channel: str) -> AlertDelivery:
    """The alert's delivery on `channel`, created (no attempts yet) when there is none."""
    state = session.get(AlertDelivery, (alert.id, channel))
    if state is None:
        with atomic(session):
            state = AlertDelivery(alert_id=alert.id, channel=channel, attempts=0)
            session.add(state)
    return state


def record_attempt(
    session: Session, alert: Alert, state: AlertDelivery, error: str | None, give_up: bool
) -> None:
    """Count one attempt on `state`'s channel: delivered (`error` None), or failed with
    `error` and, when `give_up`, given up on that channel."""
    with atomic(session):
        state.attempts += 1
        alert.attempts += 1
        if error is None:
            state.delivered = datetime.now(UTC)
            return
        state.last_error = error
        alert.last_error = f"{state.channel}: {error}"
        if give_up:
            state.failed = datetime.now(UTC)


def settle_alert(session: Session, alert: Alert, states: Sequence[AlertDelivery]) -> bool:
    """Mark the alert delivered when it is on every channel in `states`; whether it is."""
    with atomic(session):
        if all(s.delivered is not None for s in states):
            alert.delivered = datetime.now(UTC)
            return True
    return False
