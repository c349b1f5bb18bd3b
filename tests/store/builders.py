"""Small builders for store tests: organisations and scan results."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy.orm import Session

from utsyn.orgnr import make_orgnr
from utsyn.scan.model import Observation, TargetResult
from utsyn.store.models import Organisation
from utsyn.store.orgs import OrgRecord, organisation, upsert_organisations

from .conftest import T0


def add_orgs(session: Session, n: int, now: datetime = T0, **fields: Any) -> list[Organisation]:
    records = [
        OrgRecord(orgnr=make_orgnr(i), name=f"Testkommune {i}", domains=(f"org{i}.test",), **fields)
        for i in range(n)
    ]
    upsert_organisations(session, records, "test", now)
    return [organisation(session, r.orgnr) for r in records]


def result(org: Organisation, target: str, *values: Any) -> TargetResult:
    """One target's result: one observation per value (check names numbered)."""
    observations = tuple(
        Observation(target, f"test.check{i}", value, ip="127.20.1.1", probe="p", evidence="e")
        for i, value in enumerate(values)
    )
    return TargetResult(org.orgnr, target, "domain", observations, 0.25)
