"""An organisation cannot explain its own serious findings away: an accepted risk (or a
compensating control) of a high or critical finding waits for a national administrator, as
a false-positive claim does; lower ones apply at once, until they expire."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from fastapi.testclient import TestClient
from sqlalchemy import select
from sqlalchemy.orm import Session

from utsyn.clock import now_utc
from utsyn.store import users
from utsyn.store.models import Organisation, OrgLatest
from utsyn.web.security import hash_password

from .conftest import ADMIN, ANALYST, PASSWORD, bearer, log_in

WORST_ADMIN = "admin@worst.test"
REVIEWED = {"high", "critical"}


def _worst(session: Session) -> Organisation:
    """The demo's lowest-rated organisation, with an org_admin of its own."""
    latest = session.scalars(select(OrgLatest).order_by(OrgLatest.score)).first()
    assert latest is not None
    org = session.get_one(Organisation, latest.org_id)
    users.add_user(session, WORST_ADMIN, hash_password(PASSWORD), "org_admin", org.id, now_utc())
    return org


def _rating(client: TestClient, orgnr: str, headers: dict[str, str]) -> tuple[float, str]:
    rating = client.get(f"/api/v1/organisations/{orgnr}/rating", headers=headers).json()
    return rating["score"], rating["grade"]


def _open(client: TestClient, orgnr: str, headers: dict[str, str]) -> list[dict[str, Any]]:
    url = f"/api/v1/organisations/{orgnr}/findings"
    found = client.get(url, headers=headers, params={"status": "open", "limit": 500}).json()
    assert found["total"] == len(found["items"])
    items: list[dict[str, Any]] = found["items"]
    return items


def _explain(key: str, kind: str = "accepted_risk") -> dict[str, str]:
    expires = (now_utc() + timedelta(days=90)).isoformat()
    return {"key": key, "kind": kind, "reason": "The board accepts this risk.", "expires": expires}


def test_an_organisation_cannot_accept_its_own_serious_findings(
    client: TestClient, session: Session
) -> None:
    org = _worst(session)
    own, admin = bearer(session, WORST_ADMIN), bearer(session, ADMIN)
    before = _rating(client, org.orgnr, own)
    assert before[1] == "F"
    findings = _open(client, org.orgnr, own)
    serious = {f["key"] for f in findings if f["severity"] in REVIEWED}
    assert serious and len(serious) < len(findings)  # some of each
    url = f"/api/v1/organisations/{org.orgnr}/explanations"
    reviews = {}
    for finding in findings:
        made = client.post(url, json=_explain(finding["key"]), headers=own)
        assert made.status_code == 201, made.text
        reviews[finding["key"]] = made.json()["explanation"]["review"]
    assert {k for k, review in reviews.items() if review == "pending"} == serious
    assert {k for k, review in reviews.items() if review == "accepted"} == {
        f["key"] for f in findings
    } - serious
    # The serious findings still count: the organisation stays where its findings put it.
    explained_itself = _rating(client, org.orgnr, own)
    assert explained_itself[1] == "F"
    still = _open(client, org.orgnr, own)
    disputed = client.get(
        f"/api/v1/organisations/{org.orgnr}/findings",
        headers=own,
        params={"status": "disputed", "limit": 500},
    ).json()
    assert still == [] and {f["key"] for f in disputed["items"]} == serious
    # The national reviewers' queue holds them; the organisation may not decide them.
    queue = client.get("/api/v1/disputes", headers=admin, params={"limit": 200}).json()
    pending = [d for d in queue["items"] if d["kind"] == "accepted_risk"]
    assert {d["finding_key"] for d in pending} == serious
    review = f"/api/v1/disputes/{pending[0]['id']}/review"
    assert client.post(review, json={"accept": True}, headers=own).status_code == 403
    analyst = bearer(session, ANALYST)
    assert client.post(review, json={"accept": True}, headers=analyst).status_code == 403
    # A national administrator's acceptance makes each one count as explained.
    for dispute in pending:
        decided = client.post(
            f"/api/v1/disputes/{dispute['id']}/review", json={"accept": True}, headers=admin
        )
        assert decided.status_code == 200, decided.text
        assert decided.json()["review"] == "accepted"
    reviewed = _rating(client, org.orgnr, own)
    assert reviewed[0] > explained_itself[0] and reviewed[1] != "F"
    assert client.get("/api/v1/disputes", headers=admin).json()["total"] == 0
    # A decided one is not decided again, nor is a self-service one reviewable at all.
    again = client.post(review, json={"accept": False}, headers=admin)
    assert again.status_code == 409
    queue = client.get("/api/v1/disputes", headers=admin, params={"review": "accepted"}).json()
    assert {d["finding_key"] for d in queue["items"]} == serious


def test_a_compensating_control_of_a_serious_finding_is_reviewed_too(
    client: TestClient, session: Session
) -> None:
    org = _worst(session)
    own = bearer(session, WORST_ADMIN)
    findings = _open(client, org.orgnr, own)
    serious = next(f for f in findings if f["severity"] in REVIEWED)
    minor = next(f for f in findings if f["severity"] not in REVIEWED)
    url = f"/api/v1/organisations/{org.orgnr}/explanations"
    control = client.post(url, json=_explain(serious["key"], "compensating_control"), headers=own)
    assert control.json()["explanation"]["review"] == "pending"
    assert control.json()["score"] == control.json()["score_before"]
    lower = client.post(url, json=_explain(minor["key"], "compensating_control"), headers=own)
    assert lower.json()["explanation"]["review"] == "accepted"


def test_the_pages_say_it_waits_and_the_queue_shows_its_kind(
    client: TestClient, session: Session
) -> None:
    org = _worst(session)
    findings = _open(client, org.orgnr, bearer(session, WORST_ADMIN))
    serious = next(f for f in findings if f["severity"] in REVIEWED)
    log_in(client, WORST_ADMIN)
    page = client.get(f"/org/{org.orgnr}")
    csrf = page.text.split('name="csrf_token" value="')[1].split('"')[0]
    form = {"csrf_token": csrf, "key": serious["key"], "kind": "accepted_risk",
            "reason": "Styret aksepterer risikoen.", "days": "90"}  # fmt: skip
    answer = client.post(f"/org/{org.orgnr}/explain", data=form, follow_redirects=False)
    assert answer.status_code == 303
    assert answer.headers["location"] == f"/org/{org.orgnr}?explained=review#plan"
    shown = client.get(answer.headers["location"])
    assert "Den venter på en nasjonal administrator" in shown.text
    client.cookies.clear()
    log_in(client, ADMIN)
    queue = client.get("/tvister")
    assert "forklaringer av funn med høy eller kritisk alvorlighet" in queue.text
    assert '<dd class="kind">Akseptert risiko</dd>' in queue.text
