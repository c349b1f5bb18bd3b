"""An organisation's NIST CSF 2.0 profile: its real findings under the subcategories their
rules map to, only for those who may see the organisation, and as CSV and JSON."""

from __future__ import annotations

import csv
import io

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select
from sqlalchemy.orm import Session

from utsyn.rules.rulebook import load_rulebook
from utsyn.store.models import Finding, Organisation

from .conftest import A_VIEWER, B_VIEWER, ORG_A, log_in


def _unresolved(session: Session, orgnr: str) -> set[tuple[str, str]]:
    org = session.scalars(select(Organisation).where(Organisation.orgnr == orgnr)).one()
    rows = session.scalars(select(Finding).where(Finding.org_id == org.id)).all()
    return {(r.rule, r.asset) for r in rows if r.resolved is None}


def test_the_profile_shows_the_organisations_findings_under_their_subcategories(
    client: TestClient, session: Session
) -> None:
    log_in(client, A_VIEWER)
    data = client.get(f"/org/{ORG_A}/csf?format=json").json()
    book = load_rulebook()
    observable = {c for rule in book.rules for c in rule.csf}
    lines = data["subcategories"]
    assert data["orgnr"] == ORG_A and len(lines) == 106
    gaps = [line for line in lines if line["state"] == "gap"]
    assert gaps, "the demo organisation has open findings"
    stored = _unresolved(session, ORG_A)
    listed = {(f["rule"], f["asset"]) for line in gaps for f in line["findings"]}
    assert listed and listed <= stored
    mapped = {c for rule, _ in listed for c in book.rule(rule).csf}
    assert {line["ref_id"] for line in gaps} == mapped
    for line in lines:
        assert (line["state"] == "not_observable") == (line["ref_id"] not in observable)
        total = sum(f["points"] for f in line["findings"])  # each rounded to 0.01
        assert line["points"] == pytest.approx(total, abs=0.01 * len(line["findings"]))
        assert all(f["status"] in ("open", "disputed") for f in line["findings"])

    page = client.get(f"/org/{ORG_A}/csf?lang=nb")
    assert page.status_code == 200
    for line in gaps:
        assert f'<tr id="{line["ref_id"]}">' in page.text
    assert "Mangel observert" in page.text

    exported = client.get(f"/org/{ORG_A}/csf?format=csv&lang=en")
    assert exported.headers["content-type"].startswith("text/csv")
    rows = list(csv.DictReader(io.StringIO(exported.text)))
    assert len(rows) == sum(max(1, len(line["findings"])) for line in lines)
    assert {(r["rule"], r["asset"]) for r in rows if r["rule"]} == listed


def test_the_profile_is_only_for_those_who_may_see_the_organisation(client: TestClient) -> None:
    anonymous = client.get(f"/org/{ORG_A}/csf", follow_redirects=False)
    assert anonymous.status_code == 303 and anonymous.headers["location"].startswith("/login")
    log_in(client, B_VIEWER)
    assert client.get(f"/org/{ORG_A}/csf", headers={"accept": "text/html"}).status_code == 403
    assert client.get(f"/org/{ORG_A}/csf?format=json").status_code == 403
