"""The footprint page (/org/{orgnr}/fotavtrykk): claims, candidates, DNS verification."""

from __future__ import annotations

import html
from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient
from httpx import Response
from sqlalchemy import Engine, func, select
from sqlalchemy.orm import Session

from utsyn.clock import now_utc
from utsyn.scan.footprint import Candidate
from utsyn.store import users
from utsyn.store.candidates import add_candidates
from utsyn.store.models import Asset
from utsyn.store.orgs import organisation
from utsyn.web.app import create_app
from utsyn.web.security import hash_password
from utsyn.web.settings import WebSettings

from .conftest import (
    A_ADMIN,
    A_VIEWER,
    ADMIN,
    ORG_A,
    ORG_B,
    PASSWORD,
    audit_actions,
    csrf_of,
    log_in,
)
from .dnsstub import dns_stub

PAGE = f"/org/{ORG_A}/fotavtrykk"
B_ADMIN = "admin@arkivtilsyn.test"
Records = dict[str, list[str]]


@pytest.fixture
def records() -> Iterator[tuple[Records, str, int]]:
    published: Records = {}
    with dns_stub(published) as (ip, port):
        yield published, ip, port


@pytest.fixture
def dns_client(
    settings: WebSettings, engine: Engine, records: tuple[Records, str, int]
) -> Iterator[TestClient]:
    _, ip, port = records
    configured = settings.model_copy(update={"dns_servers": (ip,), "dns_port": port})
    with TestClient(create_app(configured, engine), base_url="https://testserver") as made:
        yield made


def _asset(session: Session, value: str) -> Asset | None:
    session.rollback()  # end the read transaction: SQLite's WAL would keep its old snapshot
    org = organisation(session, ORG_A)
    return session.scalar(select(Asset).where(Asset.org_id == org.id, Asset.value == value))


def _count(session: Session) -> int:
    session.rollback()
    return session.scalar(select(func.count()).select_from(Asset)) or 0


def _post(client: TestClient, path: str, data: dict[str, str] | None = None) -> Response:
    token = csrf_of(client.get(PAGE).text)
    return client.post(path, data={**(data or {}), "csrf_token": token}, follow_redirects=False)


def _claim(client: TestClient, value: str, kind: str = "domain") -> Response:
    return _post(client, f"{PAGE}/claim", {"kind": kind, "value": value})


def _candidates(session: Session) -> None:
    org = organisation(session, ORG_A)
    found = [
        Candidate("hostname", "mx.ostmarkfk.test", "discovery:mx", "ostmarkfk.test", False),
        Candidate("hostname", "gammel.ostmarkfk.test", "discovery:ct", "ostmarkfk.test", False),
    ]
    assert add_candidates(session, org, found, now_utc()) == 2


def test_claim_then_verify_through_a_real_dns_server(
    dns_client: TestClient, session: Session, records: tuple[Records, str, int]
) -> None:
    log_in(dns_client, A_ADMIN)
    answer = _claim(dns_client, "Ny.Ostmarkfk.test")
    assert answer.status_code == 303
    assert answer.headers["location"].startswith(f"{PAGE}?done=claimed")
    asset = _asset(session, "ny.ostmarkfk.test")
    assert asset is not None and asset.state == "claimed" and asset.verification_token
    page = dns_client.get(f"{PAGE}?done=claimed").text
    assert 'id="notice"' in page
    assert "_utsyn-verify.ny.ostmarkfk.test" in page
    assert f"utsyn-verify={asset.verification_token}" in page

    verify = f"{PAGE}/{asset.id}/verify"
    not_yet = _post(dns_client, verify)
    assert "done=unverified" in not_yet.headers["location"]
    records[0]["_utsyn-verify.ny.ostmarkfk.test"] = [f"utsyn-verify={asset.verification_token}"]
    done = _post(dns_client, verify)
    assert "done=verified" in done.headers["location"]
    verified = _asset(session, "ny.ostmarkfk.test")
    assert verified is not None and verified.state == "verified" and verified.verified_at
    shown = dns_client.get(PAGE).text
    section = shown[shown.index('id="state-verified"') : shown.index('id="state-claimed"')]
    assert "ny.ostmarkfk.test" in section
    mine = [a[1:] for a in audit_actions(session) if a[0] == A_ADMIN and "footprint" in a[1]]
    subject = f"{ORG_A}/domain:ny.ostmarkfk.test"
    assert mine == [
        ("footprint:claim", subject),
        ("footprint:verify_failed", subject),
        ("footprint:verify", subject),
    ]


def test_confirm_and_reject_candidates(client: TestClient, session: Session) -> None:
    _candidates(session)
    log_in(client, ADMIN)  # a national admin may change any footprint
    page = client.get(PAGE).text
    section = page[page.index('id="state-discovered"') :]
    assert "mx.ostmarkfk.test" in section and "gammel.ostmarkfk.test" in section
    mx, old = _asset(session, "mx.ostmarkfk.test"), _asset(session, "gammel.ostmarkfk.test")
    assert mx is not None and old is not None
    assert _post(client, f"{PAGE}/{mx.id}/confirm").status_code == 303
    assert _post(client, f"{PAGE}/{old.id}/reject").status_code == 303
    mx, old = _asset(session, "mx.ostmarkfk.test"), _asset(session, "gammel.ostmarkfk.test")
    assert mx is not None and mx.state == "claimed" and mx.verification_token
    assert old is not None and old.state == "rejected"
    again = _post(client, f"{PAGE}/{old.id}/confirm")
    assert again.status_code == 409
    mine = [a[1:] for a in audit_actions(session) if a[0] == ADMIN and "footprint" in a[1]]
    assert mine == [
        ("footprint:confirm", f"{ORG_A}/hostname:mx.ostmarkfk.test"),
        ("footprint:reject", f"{ORG_A}/hostname:gammel.ostmarkfk.test"),
    ]


def test_bad_names_are_refused_with_a_message_and_nothing_stored(
    client: TestClient, session: Session
) -> None:
    log_in(client, A_ADMIN)
    before = _count(session)
    bad = _claim(client, "not a <b>name</b>")
    assert bad.status_code == 400
    text = bad.text
    assert "er ikke et gyldig domene- eller vertsnavn" in text
    assert "&lt;b&gt;name&lt;/b&gt;" in text and "<b>name</b>" not in text
    assert _claim(client, "").status_code == 400
    taken = _claim(client, "ostmarkfk.test")  # imported from the register
    assert taken.status_code == 409
    assert "ostmarkfk.test er allerede i fotavtrykket" in html.unescape(taken.text)
    assert _count(session) == before
    assert not [a for a in audit_actions(session) if a[1] == "footprint:claim"]


def test_viewers_and_other_organisations_may_not_change_it(
    client: TestClient, session: Session
) -> None:
    _candidates(session)
    candidate = _asset(session, "mx.ostmarkfk.test")
    assert candidate is not None
    log_in(client, A_VIEWER)
    page = client.get(PAGE)
    assert page.status_code == 200 and "mx.ostmarkfk.test" in page.text
    assert 'id="claim-form"' not in page.text and "utsyn-verify=" not in page.text
    assert _claim(client, "ny.ostmarkfk.test").status_code == 403
    assert _post(client, f"{PAGE}/{candidate.id}/confirm").status_code == 403

    session.rollback()
    org_b = organisation(session, ORG_B)
    users.add_user(session, B_ADMIN, hash_password(PASSWORD), "org_admin", org_b.id, now_utc())
    client.cookies.clear()
    log_in(client, B_ADMIN)
    assert client.get(PAGE).status_code == 403
    token = csrf_of(client.get(f"/org/{ORG_B}/fotavtrykk").text)
    answer = client.post(
        f"{PAGE}/claim", data={"kind": "domain", "value": "x.ostmarkfk.test", "csrf_token": token}
    )
    assert answer.status_code == 403
    assert _asset(session, "x.ostmarkfk.test") is None
    refreshed = _asset(session, "mx.ostmarkfk.test")
    assert refreshed is not None and refreshed.state == "discovered"


def test_a_form_without_the_csrf_token_is_refused(client: TestClient, session: Session) -> None:
    log_in(client, A_ADMIN)
    answer = client.post(f"{PAGE}/claim", data={"kind": "domain", "value": "y.ostmarkfk.test"})
    assert answer.status_code == 403
    assert _asset(session, "y.ostmarkfk.test") is None


def test_without_name_servers_the_page_says_why(client: TestClient, session: Session) -> None:
    log_in(client, A_ADMIN)
    _claim(client, "z.ostmarkfk.test")
    asset = _asset(session, "z.ostmarkfk.test")
    assert asset is not None
    answer = _post(client, f"{PAGE}/{asset.id}/verify")
    assert answer.status_code == 503
    assert 'id="error"' in answer.text
    assert "ingen navnetjenere er satt opp (UTSYN_DNS_SERVERS)" in answer.text
    still = _asset(session, "z.ostmarkfk.test")
    assert still is not None and still.state == "claimed"
