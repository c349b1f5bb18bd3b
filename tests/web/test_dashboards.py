"""/api/v1/national and /api/v1/portfolio: the rollups' figures, for national roles."""

from __future__ import annotations

from fastapi.testclient import TestClient
from sqlalchemy.orm import Session

from utsyn.clock import now_utc
from utsyn.portfolio import aggregate
from utsyn.rules.rulebook import load_rulebook
from utsyn.store import users
from utsyn.store.models import Portfolio, PortfolioMember
from utsyn.store.orgs import organisation

from .conftest import A_ADMIN, ADMIN, ANALYST, ORG_A, ORG_B, bearer


def _portfolio(session: Session, owner: str, orgnrs: list[str]) -> int:
    user = users.user_by_email(session, owner)
    assert user is not None
    made = Portfolio(owner_id=user.id, name="Tilsyn", created=now_utc())
    session.add(made)
    session.flush()
    for orgnr in orgnrs:
        session.add(PortfolioMember(portfolio_id=made.id, org_id=organisation(session, orgnr).id))
    session.commit()
    return made.id


def test_the_national_dashboard_is_the_aggregates(client: TestClient, session: Session) -> None:
    body = client.get("/api/v1/national", headers=bearer(session, ANALYST)).json()
    expected = aggregate.summary(session)
    assert body["summary"]["orgs"] == expected.orgs == 40
    assert body["summary"]["average"] == expected.average
    assert len(body["worst"]) == 10
    assert [w["score"] for w in body["worst"]] == sorted(w["score"] for w in body["worst"])
    book = load_rulebook()
    assert all(i["title"] == book.rule(i["rule"]).title.nb for i in body["common"])
    counties = client.get(
        "/api/v1/national/breakdown", headers=bearer(session, ADMIN), params={"by": "county"}
    ).json()
    assert sum(area["summary"]["orgs"] for area in counties) == 40


def test_organisation_roles_see_no_cross_organisation_figures(
    client: TestClient, session: Session
) -> None:
    headers = bearer(session, A_ADMIN)
    assert client.get("/api/v1/national", headers=headers).status_code == 403
    assert client.get("/api/v1/portfolio", headers=headers).status_code == 403


def test_a_portfolio_is_its_owners(client: TestClient, session: Session) -> None:
    portfolio_id = _portfolio(session, ANALYST, [ORG_A, ORG_B])
    analyst = bearer(session, ANALYST)
    listed = client.get("/api/v1/portfolio", headers=analyst).json()
    assert [p["id"] for p in listed] == [portfolio_id]
    body = client.get(f"/api/v1/portfolio/{portfolio_id}", headers=analyst).json()
    assert body["summary"]["orgs"] == 2
    assert {w["orgnr"] for w in body["worst"]} == {ORG_A, ORG_B}
    other = client.get(f"/api/v1/portfolio/{portfolio_id}", headers=bearer(session, ADMIN))
    assert other.status_code == 404
