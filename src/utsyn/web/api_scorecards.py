"""REST API v1: an organisation's custom scorecards (a named subset of its assets).

Scope as everywhere (`api.organisation_in_scope`: outside it, 404); making and deleting
need `Principal.may_edit` (403). The rating is the organisation's own model on the
scorecard's part of its assessment (`web.custom_scorecards`); null before a first rating.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Request
from pydantic import BaseModel, Field

from utsyn.web import custom_scorecards
from utsyn.web.api import PROBLEMS, RowId, ScopedOrg
from utsyn.web.custom_scorecards import Rated
from utsyn.web.deps import CurrentPrincipal, DbSession, context
from utsyn.web.schemas import CapOut, FreeText, Grade, PenaltyOut

router = APIRouter(prefix="/api/v1", responses=PROBLEMS)


class ScorecardIn(BaseModel):
    name: Annotated[FreeText, Field(min_length=1, max_length=100)]
    assets: list[Annotated[int, Field(ge=1, le=2**53)]] = Field(
        min_length=1, max_length=500, description="Asset ids of the organisation's footprint."
    )


class ScorecardAssetOut(BaseModel):
    id: int
    kind: str
    value: str


class ScorecardOut(BaseModel):
    id: int
    orgnr: str
    name: str
    assets: list[ScorecardAssetOut]
    score: float | None = Field(description="Now; null before the organisation's first rating.")
    grade: Grade | None
    score_grade: Grade | None
    factors: dict[str, float]
    caps: list[CapOut]
    penalties: list[PenaltyOut]
    findings: list[str] = Field(description="The keys of the findings that count in it now.")
    rulebook_version: str | None


def _out(orgnr: str, rated: Rated) -> ScorecardOut:
    rating = rated.rating
    return ScorecardOut(
        id=rated.card.id,
        orgnr=orgnr,
        name=rated.card.name,
        assets=[ScorecardAssetOut(id=a.id, kind=a.kind, value=a.value) for a in rated.assets],
        score=rating.score if rating else None,
        grade=rating.grade if rating else None,
        score_grade=rating.score_grade if rating else None,
        factors=dict(rating.factors) if rating else {},
        caps=CapOut.of(rating) if rating else [],
        penalties=[
            PenaltyOut(rule=p.rule, factor=str(p.factor), points=round(p.points, 2))
            for p in rating.penalties
        ]
        if rating
        else [],
        findings=[f.key for f in rating.findings] if rating else [],
        rulebook_version=rating.rulebook_version if rating else None,
    )


@router.get(
    "/organisations/{orgnr}/scorecards",
    response_model=list[ScorecardOut],
    summary="The organisation's custom scorecards, each rated now",
)
def list_scorecards(org: ScopedOrg, session: DbSession, request: Request) -> list[ScorecardOut]:
    book = context(request).book
    return [_out(org.orgnr, r) for r in custom_scorecards.rated_all(session, org, book)]


@router.post(
    "/organisations/{orgnr}/scorecards",
    response_model=ScorecardOut,
    status_code=201,
    summary="Make a custom scorecard from assets of the organisation's footprint",
)
def post_scorecard(
    body: ScorecardIn,
    org: ScopedOrg,
    principal: CurrentPrincipal,
    session: DbSession,
    request: Request,
) -> ScorecardOut:
    book = context(request).book
    card = custom_scorecards.make(session, principal, org, body.name, body.assets, book)
    return _out(org.orgnr, custom_scorecards.rated_one(session, org, card, book))


@router.get(
    "/organisations/{orgnr}/scorecards/{scorecard_id}",
    response_model=ScorecardOut,
    summary="One custom scorecard, rated now",
)
def get_scorecard(
    scorecard_id: RowId, org: ScopedOrg, session: DbSession, request: Request
) -> ScorecardOut:
    card = custom_scorecards.card_in(session, org, scorecard_id)
    return _out(org.orgnr, custom_scorecards.rated_one(session, org, card, context(request).book))


@router.delete(
    "/organisations/{orgnr}/scorecards/{scorecard_id}",
    status_code=204,
    summary="Delete a custom scorecard",
)
def delete_scorecard(
    scorecard_id: RowId, org: ScopedOrg, principal: CurrentPrincipal, session: DbSession
) -> None:
    card = custom_scorecards.card_in(session, org, scorecard_id)
    custom_scorecards.remove(session, principal, org, card)
