"""REST API v1 (`/api/v1`, schema at `/api/v1/openapi.json`).

Authentication: `Authorization: Bearer <token>` (tokens from `utsyn users token` or
POST /api/v1/tokens), or a logged-in session cookie plus the `X-CSRF-Token` header on
changes. Scope (see `web.deps`): organisations outside the caller's scope are 404. Lists
take `limit` and `offset` and say the `total`. Texts follow `?lang=` or Accept-Language
(bokmål by default). Errors are problem details (`application/problem+json`).
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

from fastapi import APIRouter, Depends, Path, Query, Request
from sqlalchemy.orm import Session

from utsyn.clock import now_utc
from utsyn.pipeline import rate_organisation
from utsyn.rating import lifecycle
from utsyn.rating.explain import area_losses, plan
from utsyn.rating.model import Rating
from utsyn.rules.rulebook import Rule
from utsyn.store import findings, reads, users
from utsyn.store.assessments import Shown, shown_rating
from utsyn.store.models import ApiToken, Asset, Explanation, Organisation, OrgLatest, User
from utsyn.web import accounts, disputes, verify
from utsyn.web.deps import Admin, CurrentPrincipal, DbSession, Gettext, Lang, Principal, context
from utsyn.web.i18n import N_, Language, error_text
from utsyn.web.problems import Problem, ProblemDetails, not_found
from utsyn.web.ratings import ShownFinding, shown_findings
from utsyn.web.schemas import (
    AssetIn,
    AssetOut,
    CapOut,
    ExplainedOut,
    ExplanationIn,
    ExplanationOut,
    FindingOut,
    FindingStatus,
    Me,
    OrganisationOut,
    Paged,
    PenaltyOut,
    PlanIn,
    PlanOut,
    RatingOut,
    ReviewIn,
    RuleOut,
    SnapshotOut,
    TokenCreated,
    TokenIn,
    TokenOut,
    VerificationRecord,
    VerifyOut,
)

PROBLEMS: dict[int | str, dict[str, object]] = {
    status: {"model": ProblemDetails, "content": {"application/problem+json": {}}}
    for status in (400, 401, 403, 404, 409, 422, 503)
}
router = APIRouter(prefix="/api/v1", responses=PROBLEMS)

OrgNr = Annotated[str, Path(pattern=r"^[0-9]{9}$", description="Organisation number.")]
RowId = Annotated[int, Path(ge=1, le=2**53)]
Limit = Annotated[int, Query(ge=1, le=500)]
Offset = Annotated[int, Query(ge=0, le=1_000_000)]


# ------------------------------------------------------------------ scope


def organisation_in_scope(
    orgnr: OrgNr, principal: CurrentPrincipal, session: DbSession
) -> Organisation:
    """The organisation if the caller may see it; 404 otherwise (even when it exists)."""
    org = reads.organisation(session, principal.scope, orgnr)
    if org is None:
        raise not_found()
    return org


ScopedOrg = Annotated[Organisation, Depends(organisation_in_scope)]


def require_editor(org: Organisation, principal: Principal) -> None:
    if not principal.may_edit(org):
        raise Problem(403, N_("Forbidden"), N_("Your role may not change this organisation."))


# ------------------------------------------------------------------ who am I


@router.get("/me", response_model=Me, summary="The caller's account")
def me(principal: CurrentPrincipal, session: DbSession) -> Me:
    org = reads.organisation_by_id(session, principal.scope, principal.org_id)
    return Me(email=principal.email, role=principal.role, orgnr=org.orgnr if org else None)


# ------------------------------------------------------------------ organisations


def _organisation(org: Organisation, latest: OrgLatest | None) -> OrganisationOut:
    return OrganisationOut(
        orgnr=org.orgnr,
        name=org.name,
        sector=org.sector,
        county=org.county,
        municipality=org.municipality,
        primary_domain=org.primary_domain,
        score=latest.score if latest else None,
        grade=latest.grade if latest else None,
        rulebook_version=latest.rulebook_version if latest else None,
        rated_on=latest.day if latest else None,
    )


@router.get(
    "/organisations", response_model=Paged[OrganisationOut], summary="Organisations in scope"
)
def list_organisations(
    principal: CurrentPrincipal, session: DbSession, limit: Limit = 50, offset: Offset = 0
) -> Paged[OrganisationOut]:
    page = reads.organisations(session, principal.scope, limit, offset)
    items = [_organisation(org, latest) for org, latest in page.items]
    return Paged(items=items, total=page.total, limit=limit, offset=offset)


@router.get("/organisations/{orgnr}", response_model=OrganisationOut, summary="One organisation")
def get_organisation(org: ScopedOrg, session: DbSession) -> OrganisationOut:
    return _organisation(org, reads.latest(session, org))


# ------------------------------------------------------------------ rating


def _rating(org: Organisation, rating: Rating, at: datetime) -> RatingOut:
    return RatingOut(
        orgnr=org.orgnr,
        score=rating.score,
        grade=rating.grade,
        score_grade=rating.score_grade,
        factors=rating.factors,
        lost_by_area=area_losses(rating).parts,
        caps=CapOut.of(rating),
        penalties=[
            PenaltyOut(rule=p.rule, factor=str(p.factor), points=round(p.points, 2))
            for p in rating.penalties
        ],
        rulebook_version=rating.rulebook_version,
        rated_at=at,
    )


@router.get("/organisations/{orgnr}/rating", response_model=RatingOut, summary="The rating now")
def get_rating(org: ScopedOrg, session: DbSession, request: Request) -> RatingOut:
    """The rating saved when it was last rated (the snapshot's); 404 before a first
    rating, since an organisation never scanned has no findings, not a perfect score."""
    shown = _shown(session, org)
    return _rating(org, shown.rating, shown.rated)


def _shown(session: DbSession, org: ScopedOrg) -> Shown:
    shown = shown_rating(session, org)
    if shown is None:
        raise Problem(404, N_("Not found"), N_("This organisation has not been rated yet."))
    return shown


@router.get(
    "/organisations/{orgnr}/history",
    response_model=Paged[SnapshotOut],
    summary="Score history (daily snapshots, newest first)",
)
def get_history(
    org: ScopedOrg, session: DbSession, limit: Limit = 100, offset: Offset = 0
) -> Paged[SnapshotOut]:
    page = reads.snapshots(session, org, limit, offset)
    items = [
        SnapshotOut(
            day=s.day,
            score=s.score,
            grade=s.grade,
            rulebook_version=s.rulebook_version,
            factors=s.factors,
        )
        for s in page.items
    ]
    return Paged(items=items, total=page.total, limit=limit, offset=offset)


@router.post(
    "/organisations/{orgnr}/plan",
    response_model=PlanOut,
    summary="Score planner: the projected score if these findings were fixed",
)
def post_plan(body: PlanIn, org: ScopedOrg, session: DbSession, request: Request) -> PlanOut:
    book = context(request).book
    projected = plan(_shown(session, org).assessment, book, body.fix)
    return PlanOut(
        current=projected.current,
        projected=projected.projected,
        grade_now=projected.grade_now,
        grade_projected=projected.grade_projected,
        fixed=list(projected.fixed),
        unknown=list(projected.unknown),
    )


# ------------------------------------------------------------------ findings


def _explanation(e: Explanation, orgnr: str, key: str) -> ExplanationOut:
    return ExplanationOut(
        id=e.id,
        orgnr=orgnr,
        finding_key=key,
        kind=e.kind,
        reason=e.reason,
        author=e.author,
        created=e.created,
        expires=e.expires,
        review=e.review,
        reviewer=e.reviewer,
        reviewed_at=e.reviewed_at,
    )


def _explained(row: reads.ExplainedFinding) -> ExplanationOut:
    return _explanation(row.explanation, row.organisation.orgnr, row.finding.key)


def _finding(
    org: Organisation, shown: ShownFinding, rule: Rule | None, lang: Language, now: datetime
) -> FindingOut:
    row = shown.row
    explained = shown.explanation
    return FindingOut(
        id=row.id,
        key=row.key,
        rule=row.rule,
        title=rule.title.get(lang) if rule else row.rule,
        description=rule.description.get(lang) if rule else "",
        remediation=rule.remediation.get(lang) if rule else "",
        severity=str(rule.severity) if rule else "info",
        factor=str(rule.factor) if rule else "",
        references=list(rule.references) if rule else [],
        asset=row.asset,
        detail=row.detail,
        evidence=row.evidence,
        first_seen=row.first_seen,
        last_seen=row.last_seen,
        resolved=row.resolved,
        age_days=max(0, (now - row.first_seen).days),
        status=shown.status.value,
        points=round(shown.impact.points, 2) if shown.impact else 0.0,
        recover=round(shown.impact.recover, 2) if shown.impact else 0.0,
        explanation=None if explained is None else _explanation(explained, org.orgnr, row.key),
    )


@router.get(
    "/organisations/{orgnr}/findings",
    response_model=Paged[FindingOut],
    summary="Findings with evidence, age, points and remediation",
)
def list_findings(
    org: ScopedOrg,
    session: DbSession,
    request: Request,
    lang: Lang,
    status: Annotated[FindingStatus | None, Query()] = None,
    limit: Limit = 100,
    offset: Offset = 0,
) -> Paged[FindingOut]:
    book, now = context(request).book, now_utc()
    saved = shown_rating(session, org)
    rating = saved.rating if saved is not None else None
    shown = shown_findings(session, org, rating, book, now)
    if status is not None:
        shown = [f for f in shown if f.status == status]
    items = [
        _finding(org, f, book.rule(f.row.rule) if book.has(f.row.rule) else None, lang, now)
        for f in shown[offset : offset + limit]
    ]
    return Paged(items=items, total=len(shown), limit=limit, offset=offset)


@router.post(
    "/organisations/{orgnr}/explanations",
    response_model=ExplainedOut,
    status_code=201,
    summary="Explain a finding (accepted risk, false positive, compensating control)",
)
def post_explanation(
    body: ExplanationIn,
    org: ScopedOrg,
    principal: CurrentPrincipal,
    session: DbSession,
    request: Request,
) -> ExplainedOut:
    """A false-positive claim is a dispute: it counts until a national admin accepts it. So
    is an accepted risk or a compensating control of a high or critical finding; of a
    lower one it applies at once, until it expires."""
    require_editor(org, principal)
    if body.key not in reads.finding_rows(session, org):
        raise Problem(404, N_("Not found"), N_("The organisation has no such finding."))
    latest = reads.latest(session, org)
    # Read now: re-rating updates this very row (the session's identity map).
    before = (latest.score, latest.grade) if latest else (None, None)
    kind = lifecycle.ExplanationKind(body.kind)
    now = now_utc()
    book = context(request).book
    row = findings.explain(
        session, org, body.key, kind, body.reason, principal.email, now, body.expires, book
    )
    rating = rate_organisation(session, org.orgnr, book)
    return ExplainedOut(
        explanation=_explanation(row, org.orgnr, body.key),
        score_before=before[0],
        grade_before=before[1],
        score=rating.score,
        grade=rating.grade,
    )


# ------------------------------------------------------------------ disputes


@router.get(
    "/disputes",
    response_model=Paged[ExplanationOut],
    summary="Explanations for national review in scope (the reviewers' queue)",
)
def list_disputes(
    principal: CurrentPrincipal,
    session: DbSession,
    review: Literal["pending", "accepted", "rejected"] | None = "pending",
    limit: Limit = 50,
    offset: Offset = 0,
) -> Paged[ExplanationOut]:
    page = reads.disputes(session, principal.scope, review, limit, offset)
    items = [_explained(row) for row in page.items]
    return Paged(items=items, total=page.total, limit=limit, offset=offset)


@router.post(
    "/disputes/{explanation_id}/review",
    response_model=ExplanationOut,
    summary="Accept or reject a dispute (national admin)",
)
def review_dispute(
    explanation_id: RowId, body: ReviewIn, principal: Admin, session: DbSession, request: Request
) -> ExplanationOut:
    book = context(request).book
    found = disputes.decide(session, principal, explanation_id, body.accept, book, body.note)
    return _explained(found)


# ------------------------------------------------------------------ footprint


def _asset(asset: Asset, show_record: bool) -> AssetOut:
    record = None
    if show_record and asset.verification_token and asset.kind in ("domain", "hostname"):
        record = _record(asset, asset.verification_token)
    return AssetOut(
        id=asset.id,
        kind=asset.kind,
        value=asset.value,
        state=asset.state,
        shared=asset.shared,
        source=asset.source,
        created=asset.created,
        verified_at=asset.verified_at,
        verification=record,
    )


def _record(asset: Asset, token: str) -> VerificationRecord:
    return VerificationRecord(
        name=verify.record_name(asset.value), value=verify.record_value(token)
    )


@router.get(
    "/organisations/{orgnr}/assets",
    response_model=Paged[AssetOut],
    summary="The footprint: assets with their validation state",
)
def list_assets(
    org: ScopedOrg,
    principal: CurrentPrincipal,
    session: DbSession,
    limit: Limit = 100,
    offset: Offset = 0,
) -> Paged[AssetOut]:
    page = reads.assets(session, org, limit, offset)
    items = [_asset(a, principal.may_edit(org)) for a in page.items]
    return Paged(items=items, total=page.total, limit=limit, offset=offset)


@router.post(
    "/organisations/{orgnr}/assets",
    response_model=AssetOut,
    status_code=201,
    summary="Claim a domain or host name; verify it with a DNS TXT record",
)
def post_asset(
    body: AssetIn, org: ScopedOrg, principal: CurrentPrincipal, session: DbSession
) -> AssetOut:
    require_editor(org, principal)
    try:
        asset = verify.claim(session, org, body.kind, body.value, principal.email, now_utc())
    except verify.AlreadyInFootprint as exc:
        raise Problem(409, N_("Conflict"), N_("This asset is in the footprint already.")) from exc
    return _asset(asset, True)


@router.post(
    "/organisations/{orgnr}/assets/{asset_id}/verify",
    response_model=VerifyOut,
    summary="Look up the asset's TXT record and verify it when the token is there",
)
def verify_asset(
    asset_id: RowId,
    org: ScopedOrg,
    principal: CurrentPrincipal,
    session: DbSession,
    request: Request,
    translate: Gettext,
) -> VerifyOut:
    require_editor(org, principal)
    asset = reads.asset(session, org, asset_id)
    if asset is None:
        raise not_found()
    if asset.kind not in ("domain", "hostname"):
        raise Problem(422, N_("Invalid request"), N_("Only names can be verified by DNS."))
    settings = context(request).settings
    try:
        verified = verify.check(session, org, asset, principal.email, settings, now_utc())
    except verify.VerificationUnavailable as exc:
        reason = error_text(exc, translate.lang)
        raise Problem(
            503, N_("Service unavailable"), N_("DNS lookup failed: %(reason)s"), reason=reason
        ) from exc
    return VerifyOut(
        verified=verified,
        state=asset.state,
        record=_record(asset, verify.token_of(session, asset)),
        detail=translate.gettext(_verify_detail(verified)),
    )


def _verify_detail(verified: bool) -> str:
    if verified:
        return N_("The asset is verified.")
    return N_("The TXT record was not found: publish it, then verify again.")


# ------------------------------------------------------------------ rules


def _rule(rule: Rule, lang: Language) -> RuleOut:
    return RuleOut(
        id=rule.id,
        factor=str(rule.factor),
        severity=str(rule.severity),
        points=rule.points,
        decay_days=rule.decay_days,
        cap=rule.cap.grade if rule.cap else None,
        title=rule.title.get(lang),
        description=rule.description.get(lang),
        remediation=rule.remediation.get(lang),
        references=list(rule.references),
        csf=list(rule.csf),
    )


@router.get("/rules", response_model=Paged[RuleOut], summary="The rule catalogue")
def list_rules(
    principal: CurrentPrincipal,
    request: Request,
    lang: Lang,
    factor: str | None = Query(default=None, max_length=32),
    limit: Limit = 500,
    offset: Offset = 0,
) -> Paged[RuleOut]:
    book = context(request).book
    rules = [r for r in book.rules if factor is None or str(r.factor) == factor]
    items = [_rule(r, lang) for r in rules[offset : offset + limit]]
    return Paged(items=items, total=len(rules), limit=limit, offset=offset)


@router.get("/rules/{rule_id}", response_model=RuleOut, summary="One rule")
def get_rule(
    rule_id: Annotated[str, Path(max_length=120)],
    principal: CurrentPrincipal,
    request: Request,
    lang: Lang,
) -> RuleOut:
    book = context(request).book
    if not book.has(rule_id):
        raise not_found()
    return _rule(book.rule(rule_id), lang)


# ------------------------------------------------------------------ tokens


def token_out(token: ApiToken) -> TokenOut:
    return TokenOut(
        id=token.id,
        name=token.name,
        created=token.created,
        expires=token.expires,
        last_used=token.last_used,
    )


@router.get("/tokens", response_model=list[TokenOut], summary="The caller's API tokens")
def list_tokens(principal: CurrentPrincipal, session: DbSession) -> list[TokenOut]:
    user = _user(session, principal)
    return [token_out(t) for t in users.tokens_of(session, user)]


@router.post(
    "/tokens",
    response_model=TokenCreated,
    status_code=201,
    summary="Make an API token (with a password session only: a token cannot make tokens)",
)
def post_token(
    body: TokenIn, principal: CurrentPrincipal, session: DbSession, request: Request
) -> TokenCreated:
    """The token is in this answer only; Utsyn keeps its SHA-256. Every token expires."""
    require_password_session(principal)
    settings = context(request).settings
    user = _user(session, principal)
    token, row = accounts.make_token(
        session, settings, user, body.name, body.days, principal.email, now_utc()
    )
    return TokenCreated(**token_out(row).model_dump(), token=token)


@router.delete(
    "/tokens/{token_id}",
    status_code=204,
    summary="Revoke an API token (one's own; a national admin any)",
)
def delete_token(token_id: RowId, principal: CurrentPrincipal, session: DbSession) -> None:
    owner = None if principal.is_admin else _user(session, principal)
    if not users.revoke_token(session, token_id, owner, principal.email, now_utc()):
        raise not_found()


def require_password_session(principal: Principal) -> None:
    if principal.via != "session":
        raise Problem(
            403,
            N_("Forbidden"),
            N_("An API token cannot do this: log in with your password."),
        )


def _user(session: Session, principal: Principal) -> User:
    user = users.user_by_id(session, principal.user_id)
    if user is None:
        raise Problem(401, N_("Not authenticated"))
    return user
