"""Each organisation's assessment and latest rating, as the rating model produced them.

Written when the organisation is scanned (its assets) and each time it is rated (the
rating whole); read by every view, so that a page, the board summary, the API and the
score snapshot give one answer (design: `store.models.OrgAssessment`).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace
from datetime import datetime

from sqlalchemy import insert, select, update
from sqlalchemy.orm import Session

from utsyn.rating.codec import assets_from_json, assets_to_json, rating_from_json, rating_to_json
from utsyn.rating.model import Rating
from utsyn.rules.model import Assessment, Asset
from utsyn.store.dialect import upsert
from utsyn.store.models import Finding, Organisation, OrgAssessment


@dataclass(frozen=True)
class Stored:
    assets: tuple[Asset, ...]
    assessed: datetime
    rating: Rating | None
    rated: datetime | None


def save_assets(
    session: Session, org: Organisation, assets: Iterable[Asset], now: datetime
) -> None:
    """The assets the organisation's latest scans evaluated (the rating's denominator)."""
    values = {"org_id": org.id, "assets": assets_to_json(assets), "assessed": now}
    upsert(
        session, OrgAssessment, values, ["org_id"], {"assets": values["assets"], "assessed": now}
    )


def save_ratings(session: Session, rated: Sequence[tuple[int, Rating]], now: datetime) -> None:
    """The latest rating of each (organisation id, rating); its assets were saved before."""
    rows = [{"org_id": org_id, "rating": rating_to_json(r), "rated": now} for org_id, r in rated]
    known = set(
        session.scalars(
            select(OrgAssessment.org_id).where(
                OrgAssessment.org_id.in_([r["org_id"] for r in rows])
            )
        )
    )
    missing = [r for r in rows if r["org_id"] not in known]
    if missing:  # rated before assets were kept (a database from before revision 0005)
        session.execute(
            insert(OrgAssessment), [{**r, "assets": [], "assessed": now} for r in missing]
        )
    found = [r for r in rows if r["org_id"] in known]
    if found:
        session.execute(update(OrgAssessment), found)  # by primary key, one executemany


@dataclass(frozen=True)
class Shown:
    """The organisation's latest rating as it was saved, and the assessment behind it."""

    rating: Rating
    assessment: Assessment
    rated: datetime


def shown_rating(session: Session, org: Organisation) -> Shown | None:
    """What every view shows: the saved rating (None: not rated yet). Never recomputed, so
    the scorecard, the board summary, the API and the snapshot agree."""
    stored = load(session, org)
    if stored is None or stored.rating is None or stored.rated is None:
        return None
    assessment = Assessment(org.orgnr, stored.assets, stored.rating.findings)
    return Shown(stored.rating, assessment, stored.rated)


def with_evidence(session: Session, org: Organisation, assessment: Assessment) -> Assessment:
    """The assessment with each finding's evidence from its row (a saved rating keeps none):
    the action plan reads the CVEs of potential vulnerabilities from it."""
    rows = session.execute(
        select(Finding.key, Finding.evidence).where(Finding.org_id == org.id)
    ).all()
    evidence = {key: text for key, text in rows}
    findings = tuple(
        replace(f, evidence=evidence.get(f.key, f.evidence)) for f in assessment.findings
    )
    return Assessment(assessment.org, assessment.assets, findings)


def load(session: Session, org: Organisation) -> Stored | None:
    row = session.get(OrgAssessment, org.id)
    if row is None:
        return None
    rating = rating_from_json(row.rating) if row.rating is not None else None
    return Stored(assets_from_json(row.assets), row.assessed, rating, row.rated)
