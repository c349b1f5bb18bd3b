"""Custom scorecards for the pages and the API: one path to make, rate and show them.

A custom scorecard's rating is `store.scorecards.rating`: the assessment behind the
organisation's saved rating (`store.assessments.shown_rating`) restricted to the scorecard's assets,
rated by `rating.model.rate`. Nothing is scored here.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy.orm import Session

from utsyn.clock import now_utc
from utsyn.errors import ConfigError
from utsyn.rating.model import Rating
from utsyn.rules.model import Assessment
from utsyn.rules.rulebook import Rulebook
from utsyn.store import scorecards
from utsyn.store.assessments import shown_rating
from utsyn.store.models import Asset, Organisation, Scorecard
from utsyn.web.deps import Principal
from utsyn.web.i18n import N_
from utsyn.web.problems import Problem, not_found
from utsyn.web.ratings import ShownFinding, shown_findings


@dataclass(frozen=True)
class Rated:
    card: Scorecard
    assets: list[Asset]
    rating: Rating | None  # None before the organisation's first rating


def _assessment(session: Session, org: Organisation) -> Assessment | None:
    # Never rated means no findings, not a perfect score (as GET .../rating says).
    shown = shown_rating(session, org)
    return shown.assessment if shown is not None else None


def rated_all(session: Session, org: Organisation, book: Rulebook) -> list[Rated]:
    """Every scorecard of the organisation with its rating now."""
    cards = scorecards.scorecards(session, org)
    if not cards:
        return []
    assessment = _assessment(session, org)
    return [_rated(session, card, assessment, book) for card in cards]


def rated_one(session: Session, org: Organisation, card: Scorecard, book: Rulebook) -> Rated:
    return _rated(session, card, _assessment(session, org), book)


def _rated(
    session: Session, card: Scorecard, assessment: Assessment | None, book: Rulebook
) -> Rated:
    rating = None if assessment is None else scorecards.rating(session, card, assessment, book)
    return Rated(card, scorecards.assets_of(session, card), rating)


def findings_of(
    session: Session, org: Organisation, rated: Rated, book: Rulebook
) -> list[ShownFinding]:
    """The organisation's findings on the scorecard's assets, with their points in it."""
    if rated.rating is None:
        return []
    covered = scorecards.Covered.of(rated.assets)
    shown = shown_findings(session, org, rated.rating, book, now_utc())
    return [f for f in shown if covered.covers(f.row.asset)]


def card_in(session: Session, org: Organisation, card_id: int) -> Scorecard:
    card = scorecards.scorecard(session, org, card_id)
    if card is None:
        raise not_found()
    return card


def require_editor(principal: Principal, org: Organisation) -> None:
    if not principal.may_edit(org):
        raise Problem(403, N_("Forbidden"), N_("Your role may not change this organisation."))


def make(
    session: Session,
    principal: Principal,
    org: Organisation,
    name: str,
    asset_ids: Sequence[int],
    book: Rulebook,
) -> Scorecard:
    """Create (audited) and score it; 403 for a reader, 409 for a name taken, 422 otherwise."""
    require_editor(principal, org)
    name = name.strip()
    if any(card.name == name for card in scorecards.scorecards(session, org)):
        raise Problem(409, N_("Conflict"), N_("The organisation has a scorecard of that name."))
    if not name or not asset_ids or "\x00" in name:
        raise Problem(422, N_("Invalid request"), N_("Give a name and choose at least one asset."))
    try:
        card = scorecards.create(session, org, name, asset_ids, principal.email, now_utc())
    except ConfigError as exc:
        raise Problem(
            422, N_("Invalid request"), N_("Choose assets of this organisation's footprint.")
        ) from exc
    rated = rated_one(session, org, card, book)
    if rated.rating is not None:
        scorecards.save_score(session, card, rated.rating, now_utc())
    return card


def remove(session: Session, principal: Principal, org: Organisation, card: Scorecard) -> None:
    require_editor(principal, org)
    scorecards.delete(session, org, card, principal.email, now_utc())
