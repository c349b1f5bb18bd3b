"""Footprint changes made by people (the web service): claims, DNS tokens, verification.

Each change and its audit row are written in one transaction, so the audit log never
misses a change that happened nor records one that did not.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from utsyn.errors import ConfigError
from utsyn.store.db import atomic
from utsyn.store.fields import check_text
from utsyn.store.models import ASSET_KINDS, Asset, Organisation
from utsyn.store.orgs import set_asset_state
from utsyn.store.users import add_audit


def claim_asset(
    session: Session,
    org: Organisation,
    kind: str,
    value: str,
    token: str,
    actor: str,
    now: datetime,
) -> Asset:
    """The organisation says `value` is theirs: a claimed asset awaiting verification."""
    check_text(value, Asset.value)
    if kind not in ASSET_KINDS:
        raise ConfigError(
            "unknown asset kind %(kind)r; one of %(choices)s",
            kind=kind,
            choices=", ".join(ASSET_KINDS),
        )
    with atomic(session):
        taken = session.scalar(
            select(Asset).where(Asset.org_id == org.id, Asset.kind == kind, Asset.value == value)
        )
        if taken is not None:
            raise ConfigError(
                "%(name)s is already in the footprint of %(orgnr)s", name=value, orgnr=org.orgnr
            )
        asset = Asset(
            org_id=org.id,
            kind=kind,
            value=value,
            state="claimed",
            verification_token=token,
            source=f"web:{actor}",
            created=now,
        )
        session.add(asset)
        add_audit(session, actor, "footprint:claim", f"{org.orgnr}/{kind}:{value}", now)
    return asset


def set_verification_token(session: Session, asset: Asset, token: str) -> None:
    """Give an asset (imported without one) the token its DNS TXT record must carry."""
    with atomic(session):
        asset.verification_token = token


def mark_verified(
    session: Session, org: Organisation, asset: Asset, actor: str, now: datetime
) -> None:
    """The TXT record proved control: the asset is verified (and the rollups follow)."""
    with atomic(session):
        set_asset_state(session, asset, "verified", now)
        add_audit(session, actor, "footprint:verify", audit_subject(org, asset), now)


def remove_asset(
    session: Session, org: Organisation, asset: Asset, actor: str, now: datetime
) -> None:
    """Not theirs after all: rejected (kept, so an import does not bring it back)."""
    with atomic(session):
        set_asset_state(session, asset, "rejected", now)
        add_audit(session, actor, "footprint:reject", audit_subject(org, asset), now)


def confirm_candidate(
    session: Session,
    org: Organisation,
    asset: Asset,
    token: str | None,
    actor: str,
    now: datetime,
) -> None:
    """A discovered candidate is the organisation's after all: claimed, awaiting its DNS
    proof (`token`: the TXT record's, for names; None for what DNS cannot prove)."""
    if asset.state != "discovered":
        raise ConfigError(
            "%(name)s is %(state)s, not a discovered candidate", name=asset.value, state=asset.state
        )
    with atomic(session):
        if token is not None and asset.verification_token is None:
            asset.verification_token = token
        set_asset_state(session, asset, "claimed", now)
        add_audit(session, actor, "footprint:confirm", audit_subject(org, asset), now)


def audit_subject(org: Organisation, asset: Asset) -> str:
    """How footprint audit rows name an asset: `<orgnr>/<kind>:<value>`."""
    return f"{org.orgnr}/{asset.kind}:{asset.value}"
