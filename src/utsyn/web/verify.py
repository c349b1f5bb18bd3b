"""Footprint verification by DNS: the organisation publishes a TXT record we ask for.

The record is `_utsyn-verify.<domain>  TXT  "utsyn-verify=<token>"` (a label of its own,
not the apex: the apex TXT set is shared with SPF and others' verifications, and a label
can be removed without touching them). It is looked up through the scanner's guard and
resolver (`scan.txt`), against the name servers of `UTSYN_DNS_SERVERS` only.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from sqlalchemy.orm import Session

from utsyn.scan.txt import LookupUnavailable
from utsyn.scan.txt import txt_values as txt_values  # the CLI verifies with the same lookup
from utsyn.store import footprint, reads, users
from utsyn.store.models import Asset, Organisation
from utsyn.web.security import new_secret
from utsyn.web.settings import WebSettings

RECORD_LABEL = "_utsyn-verify"
RECORD_PREFIX = "utsyn-verify="


VerificationUnavailable = LookupUnavailable  # the name the views catch


def record_name(name: str) -> str:
    return f"{RECORD_LABEL}.{name.rstrip('.')}"


def record_value(token: str) -> str:
    return f"{RECORD_PREFIX}{token}"


def is_verified(values: Sequence[str], token: str) -> bool:
    return record_value(token) in (value.strip() for value in values)


# ------------------------------------------------------------------ claims and checks
# What POST /api/v1/organisations/{orgnr}/assets[/{id}/verify] and the footprint page
# (/org/{orgnr}/fotavtrykk) both do: one implementation, so both audit alike.


class AlreadyInFootprint(Exception):
    """The organisation has this asset already (in any state, rejected included)."""


def normalised(name: str) -> str:
    return name.strip().lower().rstrip(".")


def claim(
    session: Session, org: Organisation, kind: str, value: str, actor: str, now: datetime
) -> Asset:
    """A claimed asset with a fresh token for its TXT record (audited `footprint:claim`)."""
    value = normalised(value)
    if reads.asset_named(session, org, kind, value) is not None:
        raise AlreadyInFootprint(value)
    return footprint.claim_asset(session, org, kind, value, new_secret(24), actor, now)


def token_of(session: Session, asset: Asset) -> str:
    """The asset's token, issuing one first when it was imported without."""
    if asset.verification_token is None:
        footprint.set_verification_token(session, asset, new_secret(24))
    assert asset.verification_token is not None
    return asset.verification_token


def check(
    session: Session,
    org: Organisation,
    asset: Asset,
    actor: str,
    settings: WebSettings,
    now: datetime,
) -> bool:
    """Look the record up: verified (`footprint:verify`) when the token is there, else the
    attempt is audited (`footprint:verify_failed`). An asset verified already stays so.
    Raises `VerificationUnavailable` when no configured server answers (nothing audited)."""
    token = token_of(session, asset)
    if asset.state == "verified":
        return True
    name = record_name(asset.value)
    values = txt_values(name, settings.dns_servers, settings.dns_port, settings.dns_timeout)
    if is_verified(values, token):
        footprint.mark_verified(session, org, asset, actor, now)
        return True
    subject = footprint.audit_subject(org, asset)
    users.audit(session, actor, "footprint:verify_failed", subject, now)
    return False
