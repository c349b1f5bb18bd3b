"""Alerts: the pages (/org/{orgnr}/varsler, /varsler) and the API, scoped and escaped."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session

from utsyn.clock import now_utc
from utsyn.store.alerts import insert_alert
from utsyn.store.db import atomic
from utsyn.store.models import AlertDelivery
from utsyn.store.orgs import organisation
from utsyn.vuln.alerts import KIND_GRADE, KIND_KEV, grade_drop_alerts

from .conftest import A_ADMIN, A_VIEWER, ANALYST, ORG_A, ORG_B, bearer, log_in

HOSTILE = '<script>alert("x")</script><img src=x onerror=alert(1)>'


def _kev_payload(orgnr: str, name: str) -> dict[str, Any]:
    return {
        "org": {"orgnr": orgnr, "name": name},
        "cve": {"id": "CVE-2024-0001", "product": "nginx", "cvss": 9.8, "epss": 0.97,
                "summary": HOSTILE},
        "observed": f"nginx 1.2.3 {HOSTILE}",
        "targets": [f"https://www.{orgnr}.test:443", HOSTILE],
        "kev": {"date_added": "2024-05-01", "due_date": "2024-05-22", "name": "nginx RCE",
                "required_action": "Apply the vendor's update.", "ransomware": "Known"},
        "generation": "test",
    }  # fmt: skip


@pytest.fixture
def alerts(session: Session) -> dict[str, int]:
    """A grade drop and a hostile KEV alert for A (the KEV one delivered), a KEV for B."""
    a, b = organisation(session, ORG_A), organisation(session, ORG_B)
    now = now_utc()
    drop = grade_drop_alerts(session, a, "B", "D", now - timedelta(days=2), (85.0, 64.5))
    with atomic(session):
        kev_a = insert_alert(
            session, f"kev:{ORG_A}:x", KIND_KEV, a.id, _kev_payload(ORG_A, a.name), now
        )
        kev_b = insert_alert(
            session, f"kev:{ORG_B}:x", KIND_KEV, b.id, _kev_payload(ORG_B, b.name), now
        )
    assert drop is not None and kev_a is not None and kev_b is not None
    with atomic(session):
        kev_a.delivered = now
        kev_a.attempts = 1
        drop.attempts = 3
        drop.last_error = "webhook: cannot reach relay.internal.example"
        session.add(AlertDelivery(alert_id=drop.id, channel="webhook", attempts=3,
                                  last_error="HTTP 500", failed=now))  # fmt: skip
    ids = {"drop": drop.id, "kev_a": kev_a.id, "kev_b": kev_b.id}
    session.rollback()
    return ids


def test_an_organisation_sees_its_own_alerts_newest_first(
    client: TestClient, alerts: dict[str, int]
) -> None:
    log_in(client, A_VIEWER)
    page = client.get(f"/org/{ORG_A}/varsler", params={"lang": "en"})
    assert page.status_code == 200
    text = page.text
    assert text.index("Known exploited vulnerability") < text.index("Grade dropped")
    assert "CVE-2024-0001" in text and "Apply the vendor&#39;s update." in text
    assert "Delivered" in text and "Delivery failed" in text
    assert "relay.internal.example" not in text  # delivery errors are for the national roles
    assert f"www.{ORG_B}.test" not in text
    assert client.get(f"/org/{ORG_B}/varsler").status_code == 403
    national = client.get("/varsler", follow_redirects=False)
    assert national.status_code == 303 and national.headers["location"] == f"/org/{ORG_A}/varsler"


def test_payloads_from_scanned_servers_are_escaped(
    client: TestClient, alerts: dict[str, int]
) -> None:
    log_in(client, A_ADMIN)
    text = client.get(f"/org/{ORG_A}/varsler").text
    assert "<script>alert" not in text and "<img src=x" not in text
    assert "&lt;script&gt;alert(&#34;x&#34;)&lt;/script&gt;" in text
    assert "Kjent utnyttet sårbarhet" in text  # bokmål by default


def test_the_national_list_filters_by_kind(client: TestClient, alerts: dict[str, int]) -> None:
    log_in(client, ANALYST)
    every = client.get("/varsler", params={"lang": "en"}).text
    assert every.count('class="alert kind-') == 3
    assert f'href="/org/{ORG_B}/varsler"' in every and f'href="/org/{ORG_A}/varsler"' in every
    assert "relay.internal.example" in every
    drops = client.get("/varsler", params={"kind": KIND_GRADE}).text
    assert drops.count('class="alert kind-') == 1 and "kind-grade.drop" in drops
    none = client.get("/varsler", params={"kind": "nothing.such"}).text
    assert 'id="no-alerts"' in none


def test_the_api_is_scoped(client: TestClient, session: Session, alerts: dict[str, int]) -> None:
    viewer = bearer(session, A_VIEWER)
    own = client.get(f"/api/v1/organisations/{ORG_A}/alerts", headers=viewer)
    assert own.status_code == 200
    body = own.json()
    assert body["total"] == 2
    assert [a["id"] for a in body["items"]] == [alerts["kev_a"], alerts["drop"]]
    first, second = body["items"]
    assert first["status"] == "delivered" and first["payload"]["observed"].endswith(HOSTILE)
    assert second["status"] == "failed" and second["last_error"] is None
    assert second["deliveries"][0]["channel"] == "webhook"
    assert client.get(f"/api/v1/organisations/{ORG_B}/alerts", headers=viewer).status_code == 404
    assert client.get("/api/v1/alerts", headers=viewer).status_code == 403

    analyst = bearer(session, ANALYST)
    every = client.get("/api/v1/alerts", headers=analyst).json()
    assert every["total"] == 3
    assert {a["orgnr"] for a in every["items"]} == {ORG_A, ORG_B}
    drops = client.get("/api/v1/alerts", params={"kind": KIND_GRADE}, headers=analyst).json()
    assert [a["id"] for a in drops["items"]] == [alerts["drop"]]
    assert drops["items"][0]["last_error"].startswith("webhook:")
