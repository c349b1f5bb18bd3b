"""Role scoping: one organisation's data is never visible to another's users.

The API answers 404 outside the scope; pages answer 403 (see `utsyn.web.deps`).
"""

from __future__ import annotations

from datetime import timedelta

from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session

from utsyn.clock import now_utc
from utsyn.web.pages import PageOrganisation, PagePrincipal

from .conftest import A_ADMIN, A_VIEWER, ADMIN, ANALYST, B_VIEWER, ORG_A, ORG_B, bearer, log_in

B_PATHS = (
    f"/api/v1/organisations/{ORG_B}",
    f"/api/v1/organisations/{ORG_B}/rating",
    f"/api/v1/organisations/{ORG_B}/findings",
    f"/api/v1/organisations/{ORG_B}/history",
    f"/api/v1/organisations/{ORG_B}/assets",
)


def test_an_org_viewer_sees_only_their_organisation(client: TestClient, session: Session) -> None:
    headers = bearer(session, A_VIEWER)
    listed = client.get("/api/v1/organisations", headers=headers).json()
    assert [o["orgnr"] for o in listed["items"]] == [ORG_A] and listed["total"] == 1
    for path in B_PATHS:
        answer = client.get(path, headers=headers)
        assert answer.status_code == 404, path
        assert answer.headers["content-type"] == "application/problem+json"
    own = client.get(f"/api/v1/organisations/{ORG_A}/findings", headers=headers).json()
    assert own["total"] > 0
    assert all(f["explanation"] is None or f["explanation"]["orgnr"] == ORG_A for f in own["items"])
    assert not any(ORG_B in str(f) for f in own["items"])


def test_an_org_viewer_cannot_change_even_their_own_organisation(
    client: TestClient, session: Session
) -> None:
    headers = bearer(session, A_VIEWER)
    key = client.get(f"/api/v1/organisations/{ORG_A}/findings", headers=headers).json()["items"][0]
    body = _explanation(key["key"])
    answer = client.post(f"/api/v1/organisations/{ORG_A}/explanations", json=body, headers=headers)
    assert answer.status_code == 403
    claim = {"kind": "domain", "value": "ny.ostmarkfk.test"}
    assert (
        client.post(
            f"/api/v1/organisations/{ORG_A}/assets", json=claim, headers=headers
        ).status_code
        == 403
    )


def test_an_org_admin_cannot_touch_another_organisation(
    client: TestClient, session: Session
) -> None:
    headers = bearer(session, A_ADMIN)
    b_key = client.get(
        f"/api/v1/organisations/{ORG_B}/findings", headers=bearer(session, ADMIN)
    ).json()["items"][0]["key"]
    answer = client.post(
        f"/api/v1/organisations/{ORG_B}/explanations", json=_explanation(b_key), headers=headers
    )
    assert answer.status_code == 404
    assert (
        client.post(
            f"/api/v1/organisations/{ORG_B}/plan", json={"fix": [b_key]}, headers=headers
        ).status_code
        == 404
    )


def test_disputes_are_listed_within_scope_only(client: TestClient, session: Session) -> None:
    admin = bearer(session, ADMIN)
    b_key = client.get(f"/api/v1/organisations/{ORG_B}/findings", headers=admin).json()["items"][0]
    claim = _explanation(b_key["key"], "false_positive")
    made = client.post(f"/api/v1/organisations/{ORG_B}/explanations", json=claim, headers=admin)
    assert made.status_code == 201
    assert client.get("/api/v1/disputes", headers=admin).json()["total"] == 1
    assert client.get("/api/v1/disputes", headers=bearer(session, A_VIEWER)).json()["total"] == 0
    assert client.get("/api/v1/disputes", headers=bearer(session, B_VIEWER)).json()["total"] == 1


def test_national_roles_read_everything_and_only_the_admin_changes(
    client: TestClient, session: Session
) -> None:
    analyst = bearer(session, ANALYST)
    assert client.get("/api/v1/organisations", headers=analyst).json()["total"] == 40
    for path in B_PATHS:
        assert client.get(path, headers=analyst).status_code == 200, path
    key = client.get(B_PATHS[2], headers=analyst).json()["items"][0]["key"]
    answer = client.post(
        f"/api/v1/organisations/{ORG_B}/explanations", json=_explanation(key), headers=analyst
    )
    assert answer.status_code == 403


def test_pages_answer_403_outside_the_scope(app: FastAPI, client: TestClient) -> None:
    """`page_organisation` as the dashboard's pages will use it."""

    @app.get("/test/organisations/{orgnr}")
    def page(orgnr: str, principal: PagePrincipal, org: PageOrganisation) -> dict[str, str]:
        return {"name": org.name}

    anonymous = client.get(f"/test/organisations/{ORG_A}", follow_redirects=False)
    assert anonymous.status_code == 303
    assert anonymous.headers["location"] == f"/login?next=/test/organisations/{ORG_A}"
    log_in(client, A_VIEWER)
    assert client.get(f"/test/organisations/{ORG_A}").status_code == 200
    refused = client.get(f"/test/organisations/{ORG_B}", headers={"Accept": "text/html"})
    assert refused.status_code == 403
    assert "text/html" in refused.headers["content-type"]
    assert "Ingen tilgang" in refused.text
    assert client.get("/test/organisations/999999999").status_code == 404


def _explanation(key: str, kind: str = "accepted_risk") -> dict[str, str]:
    expires = (now_utc() + timedelta(days=90)).isoformat()
    return {"key": key, "kind": kind, "reason": "Handled by our own WAF rules.", "expires": expires}
