"""The overview (/oversikt) and the scorecard (/org/{orgnr}) pages, without a browser."""

from __future__ import annotations

import html
import re

from fastapi.testclient import TestClient

from utsyn.web.pages_dashboard import grade_bars, number

from .conftest import A_ADMIN, A_VIEWER, ADMIN, ANALYST, B_VIEWER, ORG_A, ORG_B, csrf_of, log_in


def _text_of(html: str, element_id: str) -> str:
    found = re.search(rf'id="{element_id}"[^>]*>([^<]*)<', html)
    assert found is not None, element_id
    return found.group(1).strip()


def test_the_overview_shows_the_national_figures(client: TestClient) -> None:
    log_in(client, ANALYST)
    page = client.get("/oversikt", params={"lang": "en"})
    assert page.status_code == 200
    api = client.get("/api/v1/national").json()
    assert _text_of(page.text, "orgs") == str(api["summary"]["orgs"])
    assert _text_of(page.text, "average-score") == f"{api['summary']['average']:.1f}"
    assert _text_of(page.text, "average-grade") == api["summary"]["grade"]
    for worst in api["worst"]:
        assert f'href="/org/{worst["orgnr"]}"' in page.text
    assert "<svg" in page.text and 'id="grade-table"' in page.text
    assert "style=" not in page.text and "<script>" not in page.text  # only <script src=...>
    trend = re.findall(r'<tr><th scope="row">(\d{4}-\d\d-\d\d)</th>', page.text)
    assert trend == sorted({t["day"] for t in api["trend"]}, reverse=True)
    assert 'id="trend-chart"' in page.text


def test_the_overview_is_in_bokmal_with_decimal_commas(client: TestClient) -> None:
    log_in(client, ADMIN)
    page = client.get("/oversikt")
    assert "Nasjonal oversikt" in page.text
    assert "," in _text_of(page.text, "average-score")


def test_organisation_roles_are_sent_to_their_scorecard(client: TestClient) -> None:
    log_in(client, A_VIEWER)
    answer = client.get("/oversikt", follow_redirects=False)
    assert answer.status_code == 303 and answer.headers["location"] == f"/org/{ORG_A}"


def test_anonymous_visitors_log_in_first(client: TestClient) -> None:
    answer = client.get(f"/org/{ORG_A}", follow_redirects=False)
    assert answer.status_code == 303 and answer.headers["location"].startswith("/login?next=")


def test_the_scorecard_and_scope(client: TestClient) -> None:
    log_in(client, B_VIEWER)
    own = client.get(f"/org/{ORG_B}", params={"lang": "en"})
    assert own.status_code == 200
    rating = client.get(f"/api/v1/organisations/{ORG_B}/rating").json()
    assert _text_of(own.text, "grade") == rating["grade"]
    assert _text_of(own.text, "score") == f"{rating['score']:.1f}"
    assert "What to fix first" in own.text and "How to fix it" in own.text
    assert f'action="/org/{ORG_B}/explain"' not in own.text  # a viewer may not explain
    assert client.get(f"/org/{ORG_A}").status_code == 403
    assert client.get("/org/999999999").status_code == 404


def test_an_org_admin_explains_a_finding(client: TestClient) -> None:
    log_in(client, A_ADMIN)
    before = client.get(f"/api/v1/organisations/{ORG_A}/rating").json()
    page = client.get(f"/org/{ORG_A}")
    key = re.search(r'name="key" value="([^"]+)"', page.text)
    assert key is not None
    form = {
        "csrf_token": csrf_of(page.text),
        "key": html.unescape(key.group(1)),
        "kind": "accepted_risk",
        "reason": "Risikoen er akseptert av ledelsen.",
        "days": "90",
    }
    answer = client.post(f"/org/{ORG_A}/explain", data=form, follow_redirects=False)
    assert answer.status_code == 303, answer.text
    after = client.get(f"/api/v1/organisations/{ORG_A}/rating").json()
    assert after["score"] > before["score"]
    shown = client.get(answer.headers["location"])
    assert _text_of(shown.text, "score") == number("nb")(after["score"], 1)
    short = {**form, "reason": "kort"}
    assert client.post(f"/org/{ORG_A}/explain", data=short).status_code == 400
    no_csrf = {k: v for k, v in form.items() if k != "csrf_token"}
    assert client.post(f"/org/{ORG_A}/explain", data=no_csrf).status_code == 403


def test_viewers_and_other_organisations_may_not_explain(client: TestClient) -> None:
    log_in(client, A_VIEWER)
    page = client.get(f"/org/{ORG_A}")
    form = {"csrf_token": csrf_of(page.text), "key": "x", "kind": "accepted_risk",
            "reason": "a reason long enough"}  # fmt: skip
    assert client.post(f"/org/{ORG_A}/explain", data=form).status_code == 403
    assert client.post(f"/org/{ORG_B}/explain", data=form).status_code == 403


def test_chart_geometry() -> None:
    assert number("en")(None, 1) == "–" and number("nb")(72.25, 1) in ("72,2", "72,3")
    assert grade_bars(()) == ()


def test_the_issue_type_page_lists_the_organisations_in_scope(client: TestClient) -> None:
    log_in(client, ANALYST)
    api = client.get("/api/v1/national").json()
    rule = api["common"][0]["rule"]
    overview = client.get("/oversikt")
    assert f'href="/issue/{rule}"' in overview.text
    page = client.get(f"/issue/{rule}", params={"lang": "en"})
    assert page.status_code == 200 and "How to fix it" in page.text
    listed = re.findall(r'href="/org/(\d{9})"', page.text)
    assert len(listed) == api["common"][0]["orgs"]
    assert client.get("/issue/no.such.rule").status_code == 404
    client.post("/logout", data={"csrf_token": csrf_of(client.get("/oversikt").text)})
    log_in(client, B_VIEWER)
    own = client.get(f"/issue/{rule}")
    assert set(re.findall(r'href="/org/(\d{9})"', own.text)) <= {ORG_B}
