"""The REST API v1 on the stored demo: ratings, findings, planner, explanations, disputes."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session

from tests.reads import rating_now
from utsyn.clock import now_utc
from utsyn.rules.rulebook import load_rulebook
from utsyn.store.orgs import OrgRecord, organisation, upsert_organisations

from .conftest import A_ADMIN, ADMIN, ORG_A, ORG_B, audit_actions, bearer

FINDINGS = f"/api/v1/organisations/{ORG_A}/findings"


def _explain(key: str, kind: str, days: int = 90) -> dict[str, Any]:
    expires = (now_utc() + timedelta(days=days)).isoformat()
    return {
        "key": key,
        "kind": kind,
        "reason": "Mitigated by the county's WAF.",
        "expires": expires,
    }


def _costliest(client: TestClient, headers: dict[str, str]) -> dict[str, Any]:
    items = client.get(FINDINGS, headers=headers, params={"status": "open"}).json()["items"]
    return max(items, key=lambda f: f["points"])


def test_organisations_are_paged(client: TestClient, session: Session) -> None:
    headers = bearer(session, ADMIN)
    first = client.get("/api/v1/organisations", headers=headers, params={"limit": 15}).json()
    rest = client.get(
        "/api/v1/organisations", headers=headers, params={"limit": 50, "offset": 15}
    ).json()
    assert first["total"] == rest["total"] == 40
    assert len(first["items"]) == 15 and len(rest["items"]) == 25
    orgnrs = [o["orgnr"] for o in first["items"] + rest["items"]]
    assert orgnrs == sorted(set(orgnrs))
    one = client.get(f"/api/v1/organisations/{ORG_B}", headers=headers).json()
    assert one["name"] == "Statens arkivtilsyn" and one["grade"] == "B"


def test_the_rating_now_is_the_rating_models(client: TestClient, session: Session) -> None:
    shown = client.get(f"/api/v1/organisations/{ORG_B}/rating", headers=bearer(session, ADMIN))
    book = load_rulebook()
    expected = rating_now(session, organisation(session, ORG_B), book, now_utc())
    body = shown.json()
    assert (body["score"], body["grade"]) == (expected.score, expected.grade)
    assert body["factors"] == expected.factors
    assert body["rulebook_version"] == book.version
    assert {p["rule"] for p in body["penalties"]} == {p.rule for p in expected.penalties}


def test_findings_carry_evidence_age_and_remediation_in_the_language(
    client: TestClient, session: Session
) -> None:
    headers = bearer(session, ADMIN)
    book = load_rulebook()
    nb = client.get(FINDINGS, headers=headers).json()["items"]
    en = client.get(FINDINGS, headers={**headers, "Accept-Language": "en-GB,en;q=0.8"}).json()
    by_query = client.get(FINDINGS, headers=headers, params={"lang": "en"}).json()["items"]
    first = nb[0]
    rule = book.rule(first["rule"])
    assert first["title"] == rule.title.nb and first["remediation"] == rule.remediation.nb
    assert en["items"][0]["remediation"] == rule.remediation.en == by_query[0]["remediation"]
    assert first["age_days"] == 0 and first["status"] == "open"
    assert all(f["evidence"] for f in nb)
    assert [f["points"] for f in nb] == sorted((f["points"] for f in nb), reverse=True)
    assert sum(f["points"] for f in nb) == pytest.approx(100 - _score(client, headers), abs=0.1)


def _score(client: TestClient, headers: dict[str, str], orgnr: str = ORG_A) -> float:
    score: float = client.get(f"/api/v1/organisations/{orgnr}/rating", headers=headers).json()[
        "score"
    ]
    return score


def test_an_organisation_never_rated_has_no_rating(client: TestClient, session: Session) -> None:
    upsert_organisations(session, [OrgRecord("974760673", "Ny etat")], "test", now_utc())
    answer = client.get("/api/v1/organisations/974760673/rating", headers=bearer(session, ADMIN))
    assert answer.status_code == 404
    assert answer.json()["detail"] == "Denne virksomheten har ikke fått karakter ennå."


def test_history_has_the_stored_snapshot(client: TestClient, session: Session) -> None:
    headers = bearer(session, ADMIN)
    history = client.get(f"/api/v1/organisations/{ORG_A}/history", headers=headers).json()
    assert history["total"] == 1
    assert history["items"][0]["score"] == _score(client, headers)


def test_the_planner_projects_fixes(client: TestClient, session: Session) -> None:
    headers = bearer(session, ADMIN)
    top = _costliest(client, headers)
    plan = client.post(
        f"/api/v1/organisations/{ORG_A}/plan",
        json={"fix": [top["key"], "no.such.rule"]},
        headers=headers,
    ).json()
    assert plan["current"] == _score(client, headers)
    assert plan["projected"] == pytest.approx(plan["current"] + top["recover"], abs=0.11)
    assert plan["fixed"] == [top["key"]] and plan["unknown"] == ["no.such.rule"]


def test_an_explanation_improves_the_score_and_is_audited(
    client: TestClient, session: Session
) -> None:
    headers = bearer(session, A_ADMIN)
    before = _score(client, headers)
    top = _costliest(client, headers)
    made = client.post(
        f"/api/v1/organisations/{ORG_A}/explanations",
        json=_explain(top["key"], "accepted_risk"),
        headers=headers,
    )
    assert made.status_code == 201, made.text
    body = made.json()
    assert body["score_before"] == before
    assert body["score"] > before and body["score"] == _score(client, headers)
    assert body["explanation"]["review"] == "accepted"
    explained = client.get(FINDINGS, headers=headers, params={"status": "explained"}).json()
    assert [f["key"] for f in explained["items"]] == [top["key"]]
    assert explained["items"][0]["points"] == 0.0
    assert (A_ADMIN, "explain:accepted_risk", f"{ORG_A}/{top['key']}") in audit_actions(session)


def test_explanations_are_validated(client: TestClient, session: Session) -> None:
    headers = bearer(session, A_ADMIN)
    top = _costliest(client, headers)
    url = f"/api/v1/organisations/{ORG_A}/explanations"
    too_long = client.post(url, json=_explain(top["key"], "accepted_risk", 400), headers=headers)
    assert too_long.status_code == 422
    assert "365" in too_long.json()["detail"]
    unknown = client.post(url, json=_explain("no|such|finding", "accepted_risk"), headers=headers)
    assert unknown.status_code == 404
    naive = {**_explain(top["key"], "accepted_risk"), "expires": "2030-01-01T00:00:00"}
    assert client.post(url, json=naive, headers=headers).status_code == 422


def test_a_dispute_counts_until_a_national_admin_accepts_it(
    client: TestClient, session: Session
) -> None:
    org_admin, admin = bearer(session, A_ADMIN), bearer(session, ADMIN)
    before = _score(client, org_admin)
    top = _costliest(client, org_admin)
    filed = client.post(
        f"/api/v1/organisations/{ORG_A}/explanations",
        json=_explain(top["key"], "false_positive"),
        headers=org_admin,
    ).json()
    assert filed["score"] == before  # a pending dispute still counts
    disputed = client.get(FINDINGS, headers=org_admin, params={"status": "disputed"}).json()
    assert [f["key"] for f in disputed["items"]] == [top["key"]]
    queue = client.get("/api/v1/disputes", headers=admin).json()["items"]
    dispute_id = filed["explanation"]["id"]
    assert [d["id"] for d in queue] == [dispute_id]
    review = f"/api/v1/disputes/{dispute_id}/review"
    assert client.post(review, json={"accept": True}, headers=org_admin).status_code == 403
    accepted = client.post(review, json={"accept": True}, headers=admin)
    assert accepted.status_code == 200 and accepted.json()["review"] == "accepted"
    assert _score(client, admin) > before
    assert client.post(review, json={"accept": False}, headers=admin).status_code == 409
    assert client.get("/api/v1/disputes", headers=admin).json()["total"] == 0
    assert (ADMIN, "review:accepted", f"explanation/{dispute_id}") in audit_actions(session)


def test_a_rejected_dispute_keeps_counting(client: TestClient, session: Session) -> None:
    org_admin, admin = bearer(session, A_ADMIN), bearer(session, ADMIN)
    before = _score(client, org_admin)
    top = _costliest(client, org_admin)
    filed = client.post(
        f"/api/v1/organisations/{ORG_A}/explanations",
        json=_explain(top["key"], "false_positive"),
        headers=org_admin,
    ).json()
    review = f"/api/v1/disputes/{filed['explanation']['id']}/review"
    assert client.post(review, json={"accept": False}, headers=admin).json()["review"] == "rejected"
    assert _score(client, admin) == before
    assert client.get(FINDINGS, headers=admin, params={"status": "open"}).json()["total"] > 0


def test_the_rule_catalogue_in_both_languages(client: TestClient, session: Session) -> None:
    headers = bearer(session, A_ADMIN)
    book = load_rulebook()
    nb = client.get("/api/v1/rules", headers=headers).json()
    en = client.get("/api/v1/rules", headers=headers, params={"lang": "en"}).json()
    assert nb["total"] == len(book.rules)
    assert [r["title"] for r in nb["items"]] == [r.title.nb for r in book.rules]
    assert [r["title"] for r in en["items"]] == [r.title.en for r in book.rules]
    rule = book.rules[0]
    one = client.get(f"/api/v1/rules/{rule.id}", headers=headers, params={"lang": "en"}).json()
    assert one["remediation"] == rule.remediation.en
    assert client.get("/api/v1/rules/no.such", headers=headers).status_code == 404


def test_errors_are_problem_details(client: TestClient, session: Session) -> None:
    headers = bearer(session, ADMIN)
    missing = client.get("/api/v1/nothing-here", headers=headers)
    assert missing.status_code == 404
    assert missing.headers["content-type"] == "application/problem+json"
    assert missing.json() == {"type": "about:blank", "title": "Ikke funnet", "status": 404}
    invalid = client.get("/api/v1/organisations", headers=headers, params={"limit": 0})
    assert invalid.status_code == 422 and invalid.json()["errors"][0]["loc"] == ["query", "limit"]
    english = client.get("/api/v1/organisations/12", headers={**headers, "Accept-Language": "en"})
    assert english.json()["title"] == "Invalid request"
    anonymous = client.get("/api/v1/organisations")
    assert anonymous.status_code == 401 and anonymous.json()["title"] == "Ikke innlogget"


def test_the_openapi_document(client: TestClient) -> None:
    schema = client.get("/api/v1/openapi.json").json()
    assert schema["info"]["title"] == "Utsyn"
    assert all(path.startswith("/api/v1/") for path in schema["paths"])
    assert "HTTPBearer" in schema["components"]["securitySchemes"]
    assert client.get("/docs").status_code == 404  # no Swagger UI: it needs inline scripts
