"""The dispute review page (/tvister): the queue, decisions, audit, re-rating and scope."""

from __future__ import annotations

import re
from datetime import timedelta
from typing import Any

from fastapi.testclient import TestClient
from sqlalchemy import select
from sqlalchemy.orm import Session

from utsyn.clock import now_utc
from utsyn.store.models import AuditLog, Explanation, Finding

from .conftest import A_ADMIN, A_VIEWER, ADMIN, ANALYST, B_VIEWER, ORG_A, bearer, csrf_of, log_in

HOSTILE = "<script>alert('x')</script><img src=x onerror=alert(1)>"
REASON = "The scanner read a decoy page, not ours."


def _dispute(client: TestClient, session: Session, author: str = A_ADMIN) -> dict[str, Any]:
    """A false-positive claim on ORG_A's costliest finding, whose evidence is hostile."""
    headers = bearer(session, author)
    findings = client.get(
        f"/api/v1/organisations/{ORG_A}/findings", headers=headers, params={"status": "open"}
    ).json()["items"]
    top = max(findings, key=lambda f: f["points"])
    row = session.scalar(select(Finding).where(Finding.key == top["key"]))
    assert row is not None
    row.evidence = HOSTILE
    session.commit()
    body = {
        "key": top["key"],
        "kind": "false_positive",
        "reason": REASON,
        "expires": (now_utc() + timedelta(days=90)).isoformat(),
    }
    filed = client.post(f"/api/v1/organisations/{ORG_A}/explanations", json=body, headers=headers)
    assert filed.status_code == 201, filed.text
    return {"id": filed.json()["explanation"]["id"], "finding": top, "score": filed.json()["score"]}


def _score(client: TestClient, session: Session) -> float:
    answer = client.get(f"/api/v1/organisations/{ORG_A}/rating", headers=bearer(session, ADMIN))
    score: float = answer.json()["score"]
    return score


def test_the_queue_shows_the_claim_with_escaped_evidence(
    client: TestClient, session: Session
) -> None:
    dispute = _dispute(client, session)
    log_in(client, ADMIN)
    page = client.get("/tvister")
    assert page.status_code == 200
    text = page.text
    assert f'id="dispute-{dispute["id"]}"' in text
    assert "Østmark fylkeskommune" in text and ORG_A in text
    assert dispute["finding"]["title"] in text and dispute["finding"]["rule"] in text
    assert REASON in text and A_ADMIN in text
    assert HOSTILE not in text and "&lt;script&gt;" in text  # scanned text stays text
    assert f'action="/tvister/{dispute["id"]}"' in text
    assert re.search(r'id="dispute-count">[^<]*\b1\b', text)


def test_an_analyst_reads_but_cannot_decide(client: TestClient, session: Session) -> None:
    dispute = _dispute(client, session)
    log_in(client, ANALYST)
    page = client.get("/tvister")
    assert page.status_code == 200 and REASON in page.text
    assert f'action="/tvister/{dispute["id"]}"' not in page.text
    answer = client.post(
        f"/tvister/{dispute['id']}",
        data={"decision": "accept", "csrf_token": csrf_of(page.text)},
        follow_redirects=False,
    )
    assert answer.status_code == 403
    assert session.get_one(Explanation, dispute["id"]).review == "pending"


def test_organisation_roles_get_403(client: TestClient, session: Session) -> None:
    dispute = _dispute(client, session)
    for email in (A_ADMIN, A_VIEWER, B_VIEWER):
        log_in(client, email)
        assert client.get("/tvister").status_code == 403
        own = client.get(f"/org/{ORG_A}" if email != B_VIEWER else "/oversikt")
        answer = client.post(
            f"/tvister/{dispute['id']}",
            data={"decision": "accept", "csrf_token": csrf_of(own.text)},
            follow_redirects=False,
        )
        assert answer.status_code == 403
    assert "/tvister" not in client.get("/oversikt").text  # no nav link either


def test_accepting_audits_the_note_and_re_rates(client: TestClient, session: Session) -> None:
    dispute = _dispute(client, session)
    before = _score(client, session)
    log_in(client, ADMIN)
    page = client.get("/tvister")
    assert 'href="/tvister"' in page.text  # the nav link
    answer = client.post(
        f"/tvister/{dispute['id']}",
        data={"decision": "accept", "note": "Decoy confirmed.", "csrf_token": csrf_of(page.text)},
        follow_redirects=False,
    )
    assert answer.status_code == 303 and answer.headers["location"] == "/tvister?decided=accepted"
    session.expire_all()
    row = session.get_one(Explanation, dispute["id"])
    assert (row.review, row.reviewer) == ("accepted", ADMIN)
    audit = session.scalars(
        select(AuditLog).where(AuditLog.subject == f"explanation/{dispute['id']}")
    ).all()
    assert [(a.actor, a.action, a.detail) for a in audit] == [
        (ADMIN, "review:accepted", {"note": "Decoy confirmed."})
    ]
    assert _score(client, session) > before  # re-rated: the finding no longer counts
    after = client.get(answer.headers["location"])
    assert f'id="dispute-{dispute["id"]}"' not in after.text and 'role="status"' in after.text
    again = client.post(
        f"/tvister/{dispute['id']}",
        data={"decision": "reject", "csrf_token": csrf_of(after.text)},
        follow_redirects=False,
    )
    assert again.status_code == 409


def test_rejecting_keeps_it_counting(client: TestClient, session: Session) -> None:
    dispute = _dispute(client, session)
    before = _score(client, session)
    log_in(client, ADMIN)
    token = csrf_of(client.get("/tvister").text)
    answer = client.post(
        f"/tvister/{dispute['id']}",
        data={"decision": "reject", "csrf_token": token},
        follow_redirects=False,
    )
    assert answer.status_code == 303
    session.expire_all()
    assert session.get_one(Explanation, dispute["id"]).review == "rejected"
    assert _score(client, session) == before


def test_bad_requests(client: TestClient, session: Session) -> None:
    dispute = _dispute(client, session)
    log_in(client, ADMIN)
    token = csrf_of(client.get("/tvister").text)
    url = f"/tvister/{dispute['id']}"
    assert client.post(url, data={"decision": "accept"}).status_code == 403  # no CSRF token
    assert client.post(url, data={"decision": "maybe", "csrf_token": token}).status_code == 422
    missing = client.post("/tvister/999999", data={"decision": "accept", "csrf_token": token})
    assert missing.status_code == 404
    long_note = {"decision": "accept", "note": "x" * 2001, "csrf_token": token}
    assert client.post(url, data=long_note).status_code == 422
    session.expire_all()
    assert session.get_one(Explanation, dispute["id"]).review == "pending"


def test_nobody_reviews_their_own_claim(client: TestClient, session: Session) -> None:
    dispute = _dispute(client, session, author=ADMIN)
    log_in(client, ADMIN)
    page = client.get("/tvister")
    assert f'action="/tvister/{dispute["id"]}"' not in page.text
    answer = client.post(
        f"/tvister/{dispute['id']}", data={"decision": "accept", "csrf_token": csrf_of(page.text)}
    )
    assert answer.status_code == 409
    api = client.post(
        f"/api/v1/disputes/{dispute['id']}/review",
        json={"accept": True},
        headers=bearer(session, ADMIN),
    )
    assert api.status_code == 409


def test_the_api_review_takes_a_note_too(client: TestClient, session: Session) -> None:
    dispute = _dispute(client, session)
    answer = client.post(
        f"/api/v1/disputes/{dispute['id']}/review",
        json={"accept": False, "note": "Seen from two vantage points."},
        headers=bearer(session, ADMIN),
    )
    assert answer.status_code == 200 and answer.json()["review"] == "rejected"
    session.expire_all()
    audit = session.scalar(
        select(AuditLog).where(AuditLog.subject == f"explanation/{dispute['id']}")
    )
    assert audit is not None and audit.detail == {"note": "Seen from two vantage points."}
