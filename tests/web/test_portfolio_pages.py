"""Portfolios (/portefoljer) and the overview's portfolio picker and filters (/oversikt)."""

from __future__ import annotations

import re

from fastapi.testclient import TestClient
from sqlalchemy.orm import Session

from utsyn.orgnr import make_orgnr
from utsyn.store import reads

from .conftest import (
    A_ADMIN,
    A_VIEWER,
    ADMIN,
    ANALYST,
    ORG_A,
    ORG_B,
    audit_actions,
    csrf_of,
    log_in,
)


def _text_of(html: str, element_id: str) -> str:
    found = re.search(rf'id="{element_id}"[^>]*>([^<]*)<', html)
    assert found is not None, element_id
    return found.group(1).strip()


def _make(client: TestClient, name: str, *orgnrs: str) -> int:
    """A portfolio made through the page, with members added by organisation number."""
    token = csrf_of(client.get("/portefoljer").text)
    made = client.post("/portefoljer", data={"name": name, "csrf_token": token})
    assert made.status_code == 200, made.text
    found = re.findall(r'id="portfolio-(\d+)"', made.text)
    portfolio_id = max(int(i) for i in found)
    for orgnr in orgnrs:
        added = client.post(
            f"/portefoljer/{portfolio_id}/medlemmer", data={"orgnr": orgnr, "csrf_token": token}
        )
        assert added.status_code == 200, added.text
    return portfolio_id


def test_make_a_portfolio_add_and_remove_members(client: TestClient, session: Session) -> None:
    log_in(client, ADMIN)
    portfolio_id = _make(client, "Tilsyn", ORG_A, ORG_B)
    page = client.get("/portefoljer")
    assert "Tilsyn" in page.text
    assert f'href="/org/{ORG_A}"' in page.text and f'href="/org/{ORG_B}"' in page.text
    assert f'href="/oversikt?portfolio={portfolio_id}"' in page.text
    token = csrf_of(page.text)
    removed = client.post(
        f"/portefoljer/{portfolio_id}/medlemmer/{ORG_A}/fjern",
        data={"csrf_token": token},
        follow_redirects=False,
    )
    assert removed.status_code == 303
    members = client.get(f"/api/v1/portfolio/{portfolio_id}").json()["summary"]["orgs"]
    assert members == 1
    again = client.post(
        f"/portefoljer/{portfolio_id}/medlemmer/{ORG_A}/fjern", data={"csrf_token": token}
    )
    assert again.status_code == 404
    deleted = client.post(f"/portefoljer/{portfolio_id}/slett", data={"csrf_token": token})
    assert deleted.status_code == 200 and "Tilsyn" not in deleted.text
    actions = [(actor, action) for actor, action, _ in audit_actions(session)]
    for action in ("create", "add", "remove", "delete"):
        assert (ADMIN, f"portfolio:{action}") in actions


def test_bad_members_and_names(client: TestClient) -> None:
    log_in(client, ANALYST)  # analysts keep portfolios too: they read across organisations
    portfolio_id = _make(client, "Kommuner")
    token = csrf_of(client.get("/portefoljer").text)
    url = f"/portefoljer/{portfolio_id}/medlemmer"
    assert client.post(url, data={"orgnr": "123", "csrf_token": token}).status_code == 400
    assert client.post(url, data={"orgnr": "123456789", "csrf_token": token}).status_code == 400
    unknown = make_orgnr(424242)
    assert client.post(url, data={"orgnr": unknown, "csrf_token": token}).status_code == 404
    spaced = client.post(url, data={"orgnr": "311 239 848", "csrf_token": token})
    assert spaced.status_code == 200  # as people write it
    twin = client.post("/portefoljer", data={"name": "Kommuner", "csrf_token": token})
    assert twin.status_code == 409
    blank = client.post("/portefoljer", data={"name": "   ", "csrf_token": token})
    assert blank.status_code == 400
    assert client.post("/portefoljer", data={"name": "Uten token"}).status_code == 403


def test_another_users_portfolio_is_404(client: TestClient, session: Session) -> None:
    log_in(client, ANALYST)
    theirs = _make(client, "Analytikerens", ORG_A)
    log_in(client, ADMIN)
    token = csrf_of(client.get("/portefoljer").text)
    assert "Analytikerens" not in client.get("/portefoljer").text
    assert client.get("/oversikt", params={"portfolio": theirs}).status_code == 404
    for url in (
        f"/portefoljer/{theirs}/medlemmer",
        f"/portefoljer/{theirs}/medlemmer/{ORG_A}/fjern",
        f"/portefoljer/{theirs}/slett",
    ):
        answer = client.post(url, data={"orgnr": ORG_B, "csrf_token": token})
        assert answer.status_code == 404, url
    analyst = reads.portfolios(session, _user_id(session, ANALYST))
    assert [p.name for p in analyst] == ["Analytikerens"]


def _user_id(session: Session, email: str) -> int:
    from utsyn.store import users

    user = users.user_by_email(session, email)
    assert user is not None
    return user.id


def test_organisation_roles_have_no_portfolios(client: TestClient) -> None:
    for email in (A_ADMIN, A_VIEWER):
        log_in(client, email)
        assert client.get("/portefoljer").status_code == 403
        token = csrf_of(client.get(f"/org/{ORG_A}").text)
        assert (
            client.post("/portefoljer", data={"name": "x", "csrf_token": token}).status_code == 403
        )


def test_the_overview_follows_the_portfolio_and_filters(client: TestClient) -> None:
    log_in(client, ADMIN)
    portfolio_id = _make(client, "Tilsyn", ORG_A, ORG_B)
    chosen = client.get("/oversikt", params={"portfolio": portfolio_id, "lang": "en"})
    assert chosen.status_code == 200
    assert "Portfolio: Tilsyn" in chosen.text
    assert f'<option value="{portfolio_id}" selected>' in chosen.text
    api = client.get(f"/api/v1/portfolio/{portfolio_id}").json()
    assert _text_of(chosen.text, "orgs") == str(api["summary"]["orgs"]) == "2"
    assert _text_of(chosen.text, "average-score") == f"{api['summary']['average']:.1f}"
    assert _text_of(chosen.text, "average-grade") == api["summary"]["grade"]
    for element_id in ("active", "inactive", "grade-table", "worst", "common"):
        assert f'id="{element_id}"' in chosen.text

    state = client.get("/oversikt", params={"portfolio": portfolio_id, "sector": "state"})
    assert _text_of(state.text, "orgs") == "1"  # Statens arkivtilsyn; Østmark is a county
    assert f'href="/org/{ORG_B}"' in state.text and f'href="/org/{ORG_A}"' not in state.text

    county = client.get("/oversikt", params={"county": "31", "sector": ""})
    national = client.get("/api/v1/national", params={"county": "31"}).json()
    assert _text_of(county.text, "orgs") == str(national["summary"]["orgs"])
    assert "National overview" in county.text  # ?lang=en is remembered
    assert '<option value="31" selected>' in county.text


def test_invalid_choices_are_400(client: TestClient) -> None:
    log_in(client, ANALYST)
    for params, words in (
        ({"portfolio": "abc"}, "portfolio"),
        ({"portfolio": "-1"}, "portfolio"),
        ({"sector": "banks"}, "sector"),
        ({"county": "99"}, "county"),
    ):
        answer = client.get("/oversikt", params={**params, "lang": "en"})
        assert answer.status_code == 400, params
        assert f"Choose a {words} from the list." in answer.text
    assert client.get("/oversikt", params={"portfolio": "999999"}).status_code == 404
