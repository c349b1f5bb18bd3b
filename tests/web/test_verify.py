"""Footprint changes: claiming a name and verifying it by its DNS TXT record."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import Engine
from sqlalchemy.orm import Session

from utsyn.web.app import create_app
from utsyn.web.settings import WebSettings

from .conftest import A_ADMIN, A_VIEWER, ORG_A, audit_actions, bearer
from .dnsstub import dns_stub

ASSETS = f"/api/v1/organisations/{ORG_A}/assets"


@pytest.fixture
def published() -> Iterator[tuple[dict[str, list[str]], str, int]]:
    records: dict[str, list[str]] = {}
    with dns_stub(records) as (ip, port):
        yield records, ip, port


@pytest.fixture
def dns_client(
    settings: WebSettings, engine: Engine, published: tuple[dict[str, list[str]], str, int]
) -> Iterator[TestClient]:
    _, ip, port = published
    configured = settings.model_copy(update={"dns_servers": (ip,), "dns_port": port})
    with TestClient(create_app(configured, engine), base_url="https://testserver") as made:
        yield made


def test_a_claimed_name_is_verified_by_its_txt_record(
    dns_client: TestClient,
    session: Session,
    published: tuple[dict[str, list[str]], str, int],
) -> None:
    records = published[0]
    headers = bearer(session, A_ADMIN)
    claimed = dns_client.post(
        ASSETS, json={"kind": "domain", "value": "Ny.Ostmarkfk.test"}, headers=headers
    )
    assert claimed.status_code == 201, claimed.text
    asset = claimed.json()
    assert asset["value"] == "ny.ostmarkfk.test" and asset["state"] == "claimed"
    record = asset["verification"]
    assert record["name"] == "_utsyn-verify.ny.ostmarkfk.test"
    assert record["value"].startswith("utsyn-verify=")
    verify = f"{ASSETS}/{asset['id']}/verify"
    before = dns_client.post(verify, headers=headers).json()
    assert before["verified"] is False and before["state"] == "claimed"
    records[record["name"]] = ["v=spf1 -all", "utsyn-verify=someone-elses-token"]
    assert dns_client.post(verify, headers=headers).json()["verified"] is False
    records[record["name"]].append(record["value"])
    after = dns_client.post(verify, headers=headers).json()
    assert after["verified"] is True and after["state"] == "verified"
    listed = {a["value"]: a for a in dns_client.get(ASSETS, headers=headers).json()["items"]}
    assert listed["ny.ostmarkfk.test"]["state"] == "verified"
    actions = [a[1] for a in audit_actions(session) if a[0] == A_ADMIN]
    assert actions == [
        "footprint:claim",
        "footprint:verify_failed",
        "footprint:verify_failed",
        "footprint:verify",
    ]


def test_viewers_see_the_footprint_but_not_the_tokens(
    dns_client: TestClient, session: Session
) -> None:
    admin = bearer(session, A_ADMIN)
    dns_client.post(ASSETS, json={"kind": "domain", "value": "ny.ostmarkfk.test"}, headers=admin)
    seen = dns_client.get(ASSETS, headers=bearer(session, A_VIEWER)).json()["items"]
    assert "ny.ostmarkfk.test" in {a["value"] for a in seen}
    assert all(a["verification"] is None for a in seen)


def test_a_name_claimed_twice_is_a_conflict(dns_client: TestClient, session: Session) -> None:
    admin = bearer(session, A_ADMIN)
    body = {"kind": "domain", "value": "ostmarkfk.test"}  # imported from the register
    assert dns_client.post(ASSETS, json=body, headers=admin).status_code == 409


def test_without_name_servers_verification_is_unavailable(
    app: FastAPI, client: TestClient, session: Session
) -> None:
    admin = bearer(session, A_ADMIN)
    asset = client.post(ASSETS, json={"kind": "domain", "value": "x.ostmarkfk.test"}, headers=admin)
    answer = client.post(f"{ASSETS}/{asset.json()['id']}/verify", headers=admin)
    assert answer.status_code == 503
    # The cause is translated inside the message that wraps it.
    nb = "DNS-oppslaget mislyktes: ingen navnetjenere er satt opp (UTSYN_DNS_SERVERS)"
    assert answer.json()["detail"] == nb
    english = {**admin, "Accept-Language": "en"}
    answer = client.post(f"{ASSETS}/{asset.json()['id']}/verify", headers=english)
    en = "DNS lookup failed: no name servers configured (UTSYN_DNS_SERVERS)"
    assert answer.status_code == 503 and answer.json()["detail"] == en


def test_dns_servers_come_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("UTSYN_DNS_SERVERS", "127.53.0.1, 127.0.0.1")
    assert WebSettings().dns_servers == ("127.53.0.1", "127.0.0.1")
