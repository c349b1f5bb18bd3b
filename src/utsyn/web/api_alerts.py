"""REST API v1: alerts (grade drops, newly known-exploited or new CVEs on a footprint).

GET /organisations/{orgnr}/alerts for anyone who may see the organisation (404 outside the
scope); GET /alerts across organisations for the national roles (403 for others). The
payload is the alert's as stored (what the webhook sent); the last delivery error, which
names the relays, is given to the national roles only.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Query
from pydantic import BaseModel, Field

from utsyn.store import alert_reads
from utsyn.store.alert_reads import AlertRow
from utsyn.store.models import AlertDelivery
from utsyn.web.api import PROBLEMS, Limit, Offset, ScopedOrg
from utsyn.web.api_dashboards import National
from utsyn.web.deps import CurrentPrincipal, DbSession
from utsyn.web.schemas import Paged

router = APIRouter(prefix="/api/v1", responses=PROBLEMS)


class DeliveryOut(BaseModel):
    channel: str
    attempts: int
    delivered: datetime | None
    failed: datetime | None = Field(description="When the channel was given up, if it was.")


class AlertOut(BaseModel):
    id: int
    kind: str = Field(description="grade.drop, vuln.kev or vuln.new.")
    orgnr: str | None
    org_name: str | None
    created: datetime
    status: str = Field(description="delivered, failed or pending: over every channel.")
    delivered: datetime | None
    attempts: int
    last_error: str | None = Field(description="National roles only.")
    deliveries: list[DeliveryOut]
    payload: dict[str, Any] = Field(description="As sent to the webhook.")


def _delivery(row: AlertDelivery) -> DeliveryOut:
    return DeliveryOut(
        channel=row.channel, attempts=row.attempts, delivered=row.delivered, failed=row.failed
    )


def _alert(row: AlertRow, national: bool) -> AlertOut:
    alert = row.alert
    return AlertOut(
        id=alert.id,
        kind=alert.kind,
        orgnr=row.orgnr,
        org_name=row.org_name,
        created=alert.created,
        status=row.status,
        delivered=alert.delivered,
        attempts=alert.attempts,
        last_error=alert.last_error if national else None,
        deliveries=[_delivery(d) for d in row.deliveries],
        payload=alert.payload if isinstance(alert.payload, dict) else {},
    )


@router.get(
    "/organisations/{orgnr}/alerts",
    response_model=Paged[AlertOut],
    summary="The organisation's alerts, newest first, with delivery status",
)
def organisation_alerts(
    org: ScopedOrg,
    principal: CurrentPrincipal,
    session: DbSession,
    limit: Limit = 50,
    offset: Offset = 0,
) -> Paged[AlertOut]:
    page = alert_reads.organisation_alerts(session, principal.scope, org, limit, offset)
    items = [_alert(row, principal.national) for row in page.items]
    return Paged(items=items, total=page.total, limit=limit, offset=offset)


@router.get(
    "/alerts",
    response_model=Paged[AlertOut],
    summary="Every organisation's alerts, newest first (national roles)",
)
def all_alerts(
    principal: National,
    session: DbSession,
    kind: Annotated[str | None, Query(max_length=64, description="Only this kind.")] = None,
    limit: Limit = 50,
    offset: Offset = 0,
) -> Paged[AlertOut]:
    page = alert_reads.alerts(session, principal.scope, kind, limit, offset)
    items = [_alert(row, True) for row in page.items]
    return Paged(items=items, total=page.total, limit=limit, offset=offset)
