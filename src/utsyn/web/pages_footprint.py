"""The footprint page (/org/{orgnr}/fotavtrykk): an organisation's assets by state.

Verified, claimed (with the DNS TXT record to publish), discovered candidates and rejected
assets. Editors (`Principal.may_edit`: the organisation's admin, a national admin) claim a
name, confirm or reject a candidate, and verify a name now. Claims and checks go through
`web.verify` (the same code as the API's POST .../assets and .../verify), and every change
is audited in the transaction that makes it.

Every form is a plain POST answered with a 303 back to the page (htmx, when it has loaded,
only boosts them: nothing depends on it). Bad input re-renders the page with the problem
named and the status (400, 409, 503) set; nothing is written then.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Annotated

from fastapi import APIRouter, Form, Path, Request
from pydantic import ValidationError
from sqlalchemy.orm import Session
from starlette.responses import RedirectResponse, Response

from utsyn.clock import now_utc
from utsyn.errors import ConfigError
from utsyn.store import footprint, reads
from utsyn.store.models import ASSET_STATES, Asset, Organisation
from utsyn.web import verify
from utsyn.web.deps import DbSession, Principal, context
from utsyn.web.i18n import N_, Translator, error_text, request_language
from utsyn.web.pages import PageOrganisation, PagePrincipal
from utsyn.web.problems import Problem
from utsyn.web.schemas import AssetIn
from utsyn.web.security import new_secret
from utsyn.web.templates import render

router = APIRouter(include_in_schema=False)

MAX_ASSETS = 5000  # one page holds a whole footprint; the largest bodies have a few hundred
NAME_KINDS = ("domain", "hostname")  # what a DNS TXT record can prove
# Shown in this order: what counts first, then what awaits a decision.
STATE_ORDER = ("verified", "claimed", "discovered", "rejected")
STATE_NAMES = {
    "verified": N_("Verified"),
    "claimed": N_("Claimed, awaiting verification"),
    "discovered": N_("Discovered candidates"),
    "rejected": N_("Rejected"),
}
KIND_NAMES = {
    "domain": N_("Domain"),
    "hostname": N_("Host name"),
    "ip": N_("IP address"),
    "service": N_("Service"),
}
# ?done=<what> after a change: the notice shown on the page it redirects to.
DONE = {
    "claimed": N_("The name is claimed. Publish the TXT record below, then verify it."),
    "confirmed": N_("The candidate is confirmed as the organisation's."),
    "rejected": N_("The candidate is rejected and will not be proposed again."),
    "verified": N_("The asset is verified."),
    "unverified": N_("The TXT record was not found: publish it, then verify again."),
}
AssetId = Annotated[int, Path(ge=1, le=2**53)]


def _groups(assets: list[Asset]) -> dict[str, list[Asset]]:
    groups: dict[str, list[Asset]] = {state: [] for state in STATE_ORDER}
    for asset in assets:
        groups[asset.state].append(asset)
    return groups


def _page(
    request: Request,
    principal: Principal,
    org: Organisation,
    session: Session,
    status_code: int = 200,
    error: str | None = None,
    form: Mapping[str, str] | None = None,
) -> Response:
    assets = reads.assets(session, org, MAX_ASSETS, 0).items
    may_edit = principal.may_edit(org)
    if may_edit:  # the record to publish is shown before the first check, not after it
        for asset in assets:
            if asset.state == "claimed" and asset.kind in NAME_KINDS:
                verify.token_of(session, asset)
    done = request.query_params.get("done", "")
    ctx = {
        "principal": principal,
        "org": org,
        "groups": _groups(assets),
        "may_edit": may_edit,
        "state_names": STATE_NAMES,
        "kind_names": KIND_NAMES,
        "name_kinds": NAME_KINDS,
        "record_name": verify.record_name,
        "record_value": verify.record_value,
        "notice": DONE.get(done) if status_code == 200 else None,
        "error": error,
        "form": form or {"kind": "domain", "value": ""},
    }
    return render(request, "footprint.html", ctx, status_code)


def _back(org: Organisation, done: str, asset: Asset | None = None) -> Response:
    anchor = f"#asset-{asset.id}" if asset is not None else ""
    return RedirectResponse(f"/org/{org.orgnr}/fotavtrykk?done={done}{anchor}", status_code=303)


def _editor(principal: Principal, org: Organisation) -> None:
    if not principal.may_edit(org):
        raise Problem(403, N_("Forbidden"), N_("Your role may not change this organisation."))


def _asset(session: Session, org: Organisation, asset_id: int) -> Asset:
    asset = reads.asset(session, org, asset_id)
    if asset is None:
        raise Problem(404, N_("Not found"), N_("The organisation has no such asset."))
    return asset


@router.get("/org/{orgnr}/fotavtrykk")
def footprint_page(
    request: Request, principal: PagePrincipal, org: PageOrganisation, session: DbSession
) -> Response:
    return _page(request, principal, org, session)


@router.post("/org/{orgnr}/fotavtrykk/claim")
def claim(
    request: Request,
    principal: PagePrincipal,
    org: PageOrganisation,
    session: DbSession,
    kind: Annotated[str, Form(max_length=16)] = "domain",
    value: Annotated[str, Form(max_length=1000)] = "",
) -> Response:
    """The same checks and store call as POST /api/v1/organisations/{orgnr}/assets."""
    _editor(principal, org)
    form = {"kind": kind, "value": value}
    if not value.strip():
        error = _translated(request, N_("Enter a domain or host name."))
        return _page(request, principal, org, session, 400, error, form)
    try:
        wanted = AssetIn.model_validate({"kind": kind, "value": value.strip()})
    except ValidationError:
        error = _translated(
            request, N_("%(value)s is not a valid domain or host name."), value=value.strip()
        )
        return _page(request, principal, org, session, 400, error, form)
    try:
        asset = verify.claim(session, org, wanted.kind, wanted.value, principal.email, now_utc())
    except verify.AlreadyInFootprint as exc:
        error = _translated(request, N_("%(value)s is in the footprint already."), value=exc)
        return _page(request, principal, org, session, 409, error, form)
    return _back(org, "claimed", asset)


@router.post("/org/{orgnr}/fotavtrykk/{asset_id}/confirm")
def confirm(
    asset_id: AssetId, principal: PagePrincipal, org: PageOrganisation, session: DbSession
) -> Response:
    _editor(principal, org)
    asset = _asset(session, org, asset_id)
    token = new_secret(24) if asset.kind in NAME_KINDS else None
    try:
        footprint.confirm_candidate(session, org, asset, token, principal.email, now_utc())
    except ConfigError as exc:
        raise Problem(
            409, N_("Conflict"), N_("Only a discovered candidate can be confirmed.")
        ) from exc
    return _back(org, "confirmed", asset)


@router.post("/org/{orgnr}/fotavtrykk/{asset_id}/reject")
def reject(
    asset_id: AssetId, principal: PagePrincipal, org: PageOrganisation, session: DbSession
) -> Response:
    _editor(principal, org)
    asset = _asset(session, org, asset_id)
    if asset.state != "discovered":
        raise Problem(409, N_("Conflict"), N_("Only a discovered candidate can be rejected."))
    footprint.remove_asset(session, org, asset, principal.email, now_utc())
    return _back(org, "rejected", asset)


@router.post("/org/{orgnr}/fotavtrykk/{asset_id}/verify")
def verify_now(
    request: Request,
    asset_id: AssetId,
    principal: PagePrincipal,
    org: PageOrganisation,
    session: DbSession,
) -> Response:
    """The same check as POST /api/v1/organisations/{orgnr}/assets/{id}/verify."""
    _editor(principal, org)
    asset = _asset(session, org, asset_id)
    if asset.kind not in NAME_KINDS or asset.state not in ("claimed", "verified"):
        raise Problem(409, N_("Conflict"), N_("Only a claimed name can be verified by DNS."))
    settings = context(request).settings
    try:
        verified = verify.check(session, org, asset, principal.email, settings, now_utc())
    except verify.VerificationUnavailable as exc:
        reason = error_text(exc, request_language(request))
        error = _translated(request, N_("DNS lookup failed: %(reason)s"), reason=reason)
        return _page(request, principal, org, session, 503, error)
    return _back(org, "verified" if verified else "unverified", asset)


def _translated(request: Request, message: str, **variables: object) -> str:
    return Translator(request_language(request)).gettext(message, **variables)


assert set(STATE_ORDER) == set(ASSET_STATES)  # a new state needs a place on the page
