"""The alert pages: one organisation's (/org/{orgnr}/varsler) and every one's (/varsler).

Alerts are made by `vuln.alerts` (a grade drop, a CVE newly known exploited or newly
published on a product seen on the footprint) and read through `store.alert_reads`.
Payload values come partly from scanned servers (product banners, host names): they reach
the page as plain strings, escaped by autoescaping, never marked safe.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated

from fastapi import APIRouter, Query, Request
from starlette.responses import Response

from utsyn.store import alert_reads, reads
from utsyn.store.alert_reads import AlertRow, payload_text
from utsyn.vuln.alerts import KIND_CVE, KIND_GRADE, KIND_KEV
from utsyn.web.deps import DbSession
from utsyn.web.i18n import N_
from utsyn.web.pages import PageOrganisation, PagePrincipal, to_own_organisation
from utsyn.web.templates import render

router = APIRouter(include_in_schema=False)

PAGE_SIZE = 50
KIND_NAMES = {
    KIND_GRADE: N_("Grade dropped"),
    KIND_KEV: N_("Known exploited vulnerability"),
    KIND_CVE: N_("New vulnerability"),
}
STATUS_NAMES = {
    alert_reads.DELIVERED: N_("Delivered"),
    alert_reads.FAILED: N_("Delivery failed"),
    alert_reads.PENDING: N_("Not delivered yet"),
}
# (label, path in the payload) shown for each kind, in this order.
GRADE_FACTS = (
    (N_("Grade before"), ("before",)),
    (N_("Grade after"), ("after",)),
    (N_("Score before"), ("score_before",)),
    (N_("Score after"), ("score_after",)),
    (N_("Day"), ("day",)),
)
VULN_FACTS = (
    (N_("Vulnerability"), ("cve", "id")),
    (N_("Product seen"), ("observed",)),
    (N_("Services"), ("targets",)),
    (N_("CVSS"), ("cve", "cvss")),
    (N_("EPSS"), ("cve", "epss")),
    (N_("In CISA KEV since"), ("kev", "date_added")),
    (N_("Due date (CISA)"), ("kev", "due_date")),
    (N_("Required action (CISA)"), ("kev", "required_action")),
    (N_("Summary"), ("cve", "summary")),
)
Offset = Annotated[int, Query(ge=0, le=1_000_000)]
Kind = Annotated[str | None, Query(max_length=64)]


@dataclass(frozen=True)
class ShownAlert:
    row: AlertRow
    kind_name: str | None  # a message id; None for a kind this page does not know
    facts: tuple[tuple[str, str], ...]  # (label message id, value from the payload)


def shown(row: AlertRow) -> ShownAlert:
    kind = row.alert.kind
    wanted = GRADE_FACTS if kind == KIND_GRADE else VULN_FACTS
    payload = row.alert.payload if isinstance(row.alert.payload, dict) else {}
    facts = tuple(
        (label, value)
        for label, path in wanted
        if (value := payload_text(payload, *path)) is not None
    )
    return ShownAlert(row, KIND_NAMES.get(kind), facts)


def _context(principal: object, page: reads.Paged[AlertRow], offset: int) -> dict[str, object]:
    return {
        "principal": principal,
        "alerts": [shown(row) for row in page.items],
        "total": page.total,
        "offset": offset,
        "page_size": PAGE_SIZE,
        "status_names": STATUS_NAMES,
    }


@router.get("/org/{orgnr}/varsler")
def organisation_alerts(
    request: Request,
    principal: PagePrincipal,
    org: PageOrganisation,
    session: DbSession,
    offset: Offset = 0,
) -> Response:
    page = alert_reads.organisation_alerts(session, principal.scope, org, PAGE_SIZE, offset)
    ctx = {
        **_context(principal, page, offset),
        "org": org,
        "national": principal.national,
        "kind": None,
    }
    return render(request, "alerts.html", ctx)


@router.get("/varsler")
def all_alerts(
    request: Request,
    principal: PagePrincipal,
    session: DbSession,
    kind: Kind = None,
    offset: Offset = 0,
) -> Response:
    """Every organisation's alerts: for the national roles; others go to their own."""
    if not principal.national:
        return to_own_organisation(session, principal, "/varsler")
    kind = kind or None
    page = alert_reads.alerts(session, principal.scope, kind, PAGE_SIZE, offset)
    ctx = {
        **_context(principal, page, offset),
        "org": None,
        "national": True,
        "kind": kind,
        "kinds": alert_reads.kinds(session, principal.scope),
        "kind_names": KIND_NAMES,
    }
    return render(request, "alerts.html", ctx)
