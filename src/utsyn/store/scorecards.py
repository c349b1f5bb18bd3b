"""Custom scorecards: a named subset of one organisation's assets, scored on its own.

A scorecard holds footprint assets (`Asset` rows) of one organisation, say one department's
domains. What belongs to it is decided on the rating's asset ids ("host:port" or a zone
name, as `Finding.asset` and `rating.model.Asset.id` write them):

- a domain covers the name itself and every host name under it (www.x.no:443 is under x.no);
- a host name or an IP address covers that host on any port;
- a service ("host:port") covers exactly that id.

Its score is the organisation's own rating model (`rating.model.rate`) on the
organisation's assessment now (`pipeline.assessment_now`) restricted to the covered
assets and findings: no second scoring model. The last score is kept on the row (for
lists), refreshed whenever the organisation is re-rated (`pipeline.rate_organisation`).

Creations and deletions are audited in the same transaction as the change.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from utsyn.errors import ConfigError
from utsyn.rating.model import Rating, rate
from utsyn.rules.model import Assessment
from utsyn.rules.rulebook import Rulebook
from utsyn.store.db import atomic
from utsyn.store.fields import check_text
from utsyn.store.models import Asset, Organisation, Scorecard, ScorecardAsset
from utsyn.store.users import add_audit

NAME_LENGTH = 100
MAX_ASSETS = 500


@dataclass(frozen=True)
class Covered:
    """The names a scorecard covers, by how they match an asset id."""

    domains: frozenset[str]  # the name and every name under it
    hosts: frozenset[str]  # host names and IP addresses, any port
    services: frozenset[str]  # exact "host:port"

    @classmethod
    def of(cls, assets: Iterable[Asset]) -> Covered:
        listed = list(assets)

        def values(*kinds: str) -> frozenset[str]:
            return frozenset(_name(a.value) for a in listed if a.kind in kinds)

        return cls(values("domain"), values("hostname", "ip"), values("service"))

    def covers(self, asset_id: str) -> bool:
        """Whether a finding or rated asset with this id belongs to the scorecard."""
        if _name(asset_id) in self.services:
            return True
        host = _host(asset_id)
        if host in self.hosts or host in self.domains:
            return True
        return any(host.endswith(f".{domain}") for domain in self.domains)


def _name(value: str) -> str:
    return value.strip().lower().rstrip(".")


def _host(asset_id: str) -> str:
    """The host of "host:port", "[v6]:port", a bare host or a bare IPv6 address."""
    value = _name(asset_id)
    if value.startswith("["):
        return value[1 : value.find("]")] if "]" in value else value[1:]
    if value.count(":") == 1:
        return value.split(":", 1)[0]
    return value  # a zone name, a host name or a bare IPv6 address


def restrict(assessment: Assessment, covered: Covered) -> Assessment:
    """The organisation's assessment reduced to what the scorecard covers."""
    return Assessment(
        assessment.org,
        tuple(a for a in assessment.assets if covered.covers(a.id)),
        tuple(f for f in assessment.findings if covered.covers(f.asset)),
    )


def rating(session: Session, card: Scorecard, assessment: Assessment, book: Rulebook) -> Rating:
    """The scorecard's rating: the rating model on its part of the organisation's assessment."""
    return rate(restrict(assessment, Covered.of(assets_of(session, card))), book)


# ------------------------------------------------------------------ reads


def scorecards(session: Session, org: Organisation) -> list[Scorecard]:
    """The organisation's scorecards by name."""
    query = select(Scorecard).where(Scorecard.org_id == org.id).order_by(Scorecard.name)
    return list(session.scalars(query))


def scorecard(session: Session, org: Organisation, card_id: int) -> Scorecard | None:
    """The scorecard if it is this organisation's (another's is None, as if absent)."""
    return session.scalar(
        select(Scorecard).where(Scorecard.id == card_id, Scorecard.org_id == org.id)
    )


def assets_of(session: Session, card: Scorecard) -> list[Asset]:
    query = (
        select(Asset)
        .join(ScorecardAsset, ScorecardAsset.asset_id == Asset.id)
        .where(ScorecardAsset.scorecard_id == card.id, Asset.org_id == card.org_id)
        .order_by(Asset.kind, Asset.value)
    )
    return list(session.scalars(query))


def eligible_assets(session: Session, org: Organisation) -> list[Asset]:
    """The assets a scorecard of the organisation may hold: its footprint, not rejected."""
    query = select(Asset).where(Asset.org_id == org.id, Asset.state != "rejected")
    return list(session.scalars(query.order_by(Asset.kind, Asset.value)))


# ------------------------------------------------------------------ changes


def create(
    session: Session,
    org: Organisation,
    name: str,
    asset_ids: Sequence[int],
    actor: str,
    now: datetime,
) -> Scorecard:
    """A new scorecard of `org` holding `asset_ids`, which must all be the organisation's."""
    check_text(name, Scorecard.name)
    name = name.strip()
    if not name or len(name) > NAME_LENGTH:
        raise ConfigError("a scorecard's name has 1 to %(length)s characters", length=NAME_LENGTH)
    wanted = set(asset_ids)
    if not wanted or len(wanted) > MAX_ASSETS:
        raise ConfigError("a scorecard holds 1 to %(most)s assets", most=MAX_ASSETS)
    with atomic(session):
        _require_own_assets(session, org, wanted)
        if session.scalar(
            select(Scorecard.id).where(Scorecard.org_id == org.id, Scorecard.name == name)
        ):
            raise ConfigError(
                "%(orgnr)s has a scorecard named %(name)r already", orgnr=org.orgnr, name=name
            )
        card = Scorecard(org_id=org.id, name=name)
        session.add(card)
        session.flush()
        session.add_all(ScorecardAsset(scorecard_id=card.id, asset_id=i) for i in sorted(wanted))
        add_audit(session, actor, "scorecard:create", f"{org.orgnr}/scorecard/{card.id}", now)
    return card


def _require_own_assets(session: Session, org: Organisation, wanted: set[int]) -> None:
    own = set(
        session.scalars(
            select(Asset.id).where(
                Asset.id.in_(wanted), Asset.org_id == org.id, Asset.state != "rejected"
            )
        )
    )
    if own != wanted:
        strangers = ", ".join(str(i) for i in sorted(wanted - own))
        raise ConfigError(
            "assets %(ids)s are not in the footprint of %(orgnr)s", ids=strangers, orgnr=org.orgnr
        )


def delete(session: Session, org: Organisation, card: Scorecard, actor: str, now: datetime) -> None:
    if card.org_id != org.id:
        raise ConfigError("scorecard %(id)s is not %(orgnr)s's", id=card.id, orgnr=org.orgnr)
    with atomic(session):
        subject = f"{org.orgnr}/scorecard/{card.id}"
        session.delete(card)  # its ScorecardAsset rows go with it (ON DELETE CASCADE)
        session.flush()
        add_audit(session, actor, "scorecard:delete", subject, now)


def save_score(session: Session, card: Scorecard, rated: Rating, now: datetime) -> None:
    """Keep the scorecard's latest score on its row (what lists show)."""
    with atomic(session):
        card.score, card.grade = rated.score, rated.grade
        card.rulebook_version, card.scored = rated.rulebook_version, now


def rescore(
    session: Session, org: Organisation, assessment: Assessment, book: Rulebook, now: datetime
) -> dict[int, Rating]:
    """Every scorecard of the organisation rated on `assessment` (the organisation's now)."""
    rated = {}
    for card in scorecards(session, org):
        rated[card.id] = rating(session, card, assessment, book)
        save_score(session, card, rated[card.id], now)
    return rated
