"""Paged reads of alerts (`alerts` writes them), always through a `reads.Scope`.

An alert belongs to one organisation (`org_id`); one without (none are made today) is
seen by the national roles only, since the scope's filter is on the organisation.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Select, func, select
from sqlalchemy.orm import Session

from utsyn.store.models import Alert, AlertDelivery, Organisation
from utsyn.store.reads import Paged, Scope

DELIVERED, FAILED, PENDING = "delivered", "failed", "pending"


@dataclass(frozen=True)
class AlertRow:
    """An alert with its organisation and its delivery on each channel."""

    alert: Alert
    orgnr: str | None
    org_name: str | None
    deliveries: tuple[AlertDelivery, ...]

    @property
    def status(self) -> str:
        """'delivered' on every channel, 'failed' (given up on some channel) or 'pending'."""
        if self.alert.delivered is not None:
            return DELIVERED
        return FAILED if any(d.failed is not None for d in self.deliveries) else PENDING


def _query(scope: Scope, kind: str | None) -> Select[Alert, str, str]:
    query = (
        select(Alert, Organisation.orgnr, Organisation.name)
        .outerjoin(Organisation, Organisation.id == Alert.org_id)
        .where(scope.where())
    )
    return query if kind is None else query.where(Alert.kind == kind)


def alerts(
    session: Session, scope: Scope, kind: str | None, limit: int, offset: int
) -> Paged[AlertRow]:
    """Alerts in scope (of one kind, when given), newest first."""
    query = _query(scope, kind)
    ordered = query.order_by(Alert.created.desc(), Alert.id.desc()).limit(limit).offset(offset)
    rows = list(session.execute(ordered))
    found = _deliveries(session, [alert.id for alert, _, _ in rows])
    items = [AlertRow(a, orgnr, name, found.get(a.id, ())) for a, orgnr, name in rows]
    total = session.scalar(select(func.count()).select_from(query.subquery())) or 0
    return Paged(items, total)


def organisation_alerts(
    session: Session, scope: Scope, org: Organisation, limit: int, offset: int
) -> Paged[AlertRow]:
    """One organisation's alerts, newest first (none when `org` is outside `scope`)."""
    if not scope.allows(org.id):
        return Paged([], 0)
    return alerts(session, Scope.organisation(org.id), None, limit, offset)


def kinds(session: Session, scope: Scope) -> list[str]:
    """The kinds of alert there are in scope (for a filter)."""
    query = _query(scope, None).with_only_columns(Alert.kind).distinct().order_by(Alert.kind)
    return list(session.scalars(query))


def _deliveries(session: Session, ids: list[int]) -> dict[int, tuple[AlertDelivery, ...]]:
    if not ids:
        return {}
    rows = session.scalars(
        select(AlertDelivery)
        .where(AlertDelivery.alert_id.in_(ids))
        .order_by(AlertDelivery.alert_id, AlertDelivery.channel)
    )
    by_alert: dict[int, list[AlertDelivery]] = defaultdict(list)
    for row in rows:
        by_alert[row.alert_id].append(row)
    return {alert_id: tuple(found) for alert_id, found in by_alert.items()}


def payload_text(payload: dict[str, Any], *path: str) -> str | None:
    """A value deep in a payload as text, or None when the path is not there (payloads
    hold what scanned servers said: any shape may come, nothing is assumed)."""
    value: Any = payload
    for key in path:
        if not isinstance(value, dict) or key not in value:
            return None
        value = value[key]
    if value is None or isinstance(value, dict):
        return None
    if isinstance(value, list):
        return ", ".join(str(v) for v in value)
    return str(value)
