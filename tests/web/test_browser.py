"""The dashboard pages in a real browser (Debian's chromium through Playwright).

Checked: login, the overview's figures against /api/v1/national (same session),
drilling into a scorecard, the language switch, explaining a finding, scope (403), and
axe-core on every page (no serious or critical violations). Screenshots go to artifacts/.

Without /usr/bin/chromium the tests skip, or fail when UTSYN_REQUIRE_SERVICES is set.
"""

from __future__ import annotations

from typing import Any

from .browser import accessible, log_in_page, number
from .conftest import A_ADMIN, ANALYST, B_VIEWER, ORG_A, ORG_B


def test_overview_matches_the_api_and_drills_down(page: Any) -> None:
    log_in_page(page, ANALYST)
    assert page.url.endswith("/oversikt")
    assert page.get_attribute("html", "lang") == "nb"  # the browser asks for bokmål
    assert page.locator("h1").inner_text() == "Nasjonal oversikt"
    api = page.request.get("/api/v1/national").json()
    summary = api["summary"]
    assert int(page.inner_text("#orgs")) == summary["orgs"]
    assert int(page.inner_text("#active")) == summary["active"]
    assert int(page.inner_text("#inactive")) == summary["inactive"]
    assert number(page.inner_text("#average-score")) == round(summary["average"], 1)
    assert page.inner_text("#average-grade") == summary["grade"]
    for share in summary["grades"]:
        cell = page.inner_text(f"#grade-table td[data-grade='{share['grade']}']")
        assert int(cell) == share["orgs"]
    names = page.locator("#worst tbody th a").all_inner_texts()
    assert names == [w["name"] for w in api["worst"]]
    assert page.locator("#common tbody tr").count() == len(api["common"])
    accessible(page, "overview-nb")

    page.click(f"#worst a[href='/org/{api['worst'][0]['orgnr']}']")
    page.wait_for_load_state()
    assert page.url.endswith(f"/org/{api['worst'][0]['orgnr']}")
    assert page.inner_text("h1") == api["worst"][0]["name"]
    accessible(page, "scorecard-nb")

    page.click("nav.languages a[lang=en]")
    page.wait_for_load_state()
    assert page.get_attribute("html", "lang") == "en"
    assert page.locator("#plan-heading").inner_text() == "What to fix first"
    accessible(page, "scorecard-en")
    page.click("nav.main-nav a")  # the choice is remembered
    assert page.locator("h1").inner_text() == "National overview"
    accessible(page, "overview-en")


def test_an_org_admin_explains_a_finding_and_the_score_changes(page: Any) -> None:
    log_in_page(page, A_ADMIN)
    assert page.url.endswith(f"/org/{ORG_A}")  # organisation roles land on their scorecard
    before = number(page.inner_text("#score"))
    rating = page.request.get(f"/api/v1/organisations/{ORG_A}/rating").json()
    assert before == round(rating["score"], 1)
    group = page.locator("li.group").first  # a finding is explained from its issue's details
    group.locator("details.group-details > summary").click()
    first = group.locator("details.explain").first
    first.locator("summary").click()
    first.locator("select[name=kind]").select_option("accepted_risk")
    first.locator("textarea[name=reason]").fill("Risikoen er vurdert og akseptert av ledelsen.")
    accessible(page, "scorecard-admin")
    first.locator("button[type=submit]").click()
    page.wait_for_load_state()
    assert page.locator("p.notice").is_visible()
    after = number(page.inner_text("#score"))
    assert after > before
    api = page.request.get(f"/api/v1/organisations/{ORG_A}/rating").json()
    assert after == round(api["score"], 1)
    assert page.locator("p.explanation").count() == 1


def test_an_org_viewer_cannot_open_another_organisation(page: Any) -> None:
    log_in_page(page, B_VIEWER, then=f"/org/{ORG_B}")
    assert page.locator("details.explain").count() == 0
    answer = page.goto(f"/org/{ORG_A}")
    assert answer is not None and answer.status == 403
    accessible(page, "forbidden")
