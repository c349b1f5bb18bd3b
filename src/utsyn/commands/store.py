"""Database sessions for commands: migrate on open, and the lab's organisations on demand."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING

from sqlalchemy import select
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import Session

from utsyn.errors import ConfigError
from utsyn.store.db import DatabaseError, make_engine, session_factory, upgrade
from utsyn.store.models import ScanRun

if TYPE_CHECKING:
    from utsyn.rating.service import Rated


@contextmanager
def open_session() -> Iterator[Session]:
    """A session on the configured database, migrated to the newest schema first."""
    try:
        upgrade()
        engine = make_engine()
    except OperationalError as exc:
        raise DatabaseError(f"cannot reach the database: {exc.orig}") from exc
    try:
        with session_factory(engine)() as session:
            yield session
    finally:
        engine.dispose()


def prepare_scenario_orgs(session: Session, source: str) -> None:
    """Upsert a lab scenario's organisations, so their scans and ratings can be stored."""
    from utsyn.lab.sources import load_source
    from utsyn.pipeline import now_utc, records_from_manifest
    from utsyn.store.orgs import upsert_organisations

    manifest = load_source(source)
    upsert_organisations(session, records_from_manifest(manifest), f"lab:{source}", now_utc())


def resumable_run(session: Session) -> ScanRun:
    run = session.scalars(
        select(ScanRun)
        .where(ScanRun.status.in_(("interrupted", "running")))
        .order_by(ScanRun.id.desc())
    ).first()
    if run is None:
        raise ConfigError("no interrupted scan to resume")
    return run


# The findings whose fixing speed is the patching cadence (high and critical CVEs).
PATCHED_RULES = frozenset({"vuln.cve.kev", "vuln.cve.critical", "vuln.cve.high"})


def stored_rated(session: Session, orgnr: str | None) -> list[Rated]:
    """Each stored organisation's saved rating and the assessment behind it."""
    from utsyn.rating.lifecycle import patching_cadence
    from utsyn.rating.service import Rated
    from utsyn.store import findings
    from utsyn.store.assessments import shown_rating
    from utsyn.store.models import Organisation
    from utsyn.store.orgs import organisation

    if orgnr is not None:
        orgs = [organisation(session, orgnr)]
    else:
        orgs = list(session.scalars(select(Organisation).order_by(Organisation.orgnr)))
    rated = []
    for org in orgs:
        shown = shown_rating(session, org)
        if shown is None:
            continue
        states = findings.finding_states(session, org).values()
        cadence = patching_cadence(s for s in states if s.rule in PATCHED_RULES)
        rated.append(Rated(org.orgnr, shown.assessment, shown.rating, cadence))
    if not rated:
        raise ConfigError("no scan results stored yet: run `utsyn scan --scenario demo` first")
    return rated
