"""Disputes, portfolios and custom scorecards in a real browser, each checked by axe-core.

One server per module (conftest.base_url): the tests share its database, in this order.
"""

from __future__ import annotations

import re
from typing import Any

from .browser import accessible, log_in_page, number
from .conftest import A_ADMIN, ADMIN, ANALYST, ORG_A, ORG_B

REASON = "Skanneren traff en lokkeside, ikke vår tjeneste."


def test_a_dispute_is_filed_and_reviewed(page: Any, browser: Any, base_url: str) -> None:
    log_in_page(page, A_ADMIN, then=f"/org/{ORG_A}")
    group = page.locator("li.group").first  # a finding is disputed from its issue's details
    group.locator("details.group-details > summary").click()
    first = group.locator("details.explain").first
    first.locator("summary").click()
    first.locator("select[name=kind]").select_option("false_positive")
    first.locator("textarea[name=reason]").fill(REASON)
    first.locator("button[type=submit]").click()
    page.wait_for_load_state()

    admin = browser.new_context(base_url=base_url, locale="nb-NO").new_page()
    log_in_page(admin, ADMIN)
    admin.click("nav.main-nav a[href='/tvister']")
    admin.wait_for_load_state()
    assert admin.locator("h1").inner_text() == "Tvister til vurdering"
    dispute = admin.locator("article.dispute").first
    assert REASON in dispute.inner_text() and A_ADMIN in dispute.inner_text()
    accessible(admin, "disputes-nb")
    admin.goto("/tvister?lang=en")
    assert admin.locator("h1").inner_text() == "Disputes to review"
    accessible(admin, "disputes-en")
    before = admin.request.get(f"/api/v1/organisations/{ORG_A}/rating").json()["score"]
    dispute = admin.locator("article.dispute").first
    dispute.locator("textarea[name=note]").fill("Checked from two vantage points.")
    dispute.locator("button[value=accept]").click()
    admin.wait_for_load_state()
    assert admin.locator("p.notice").is_visible()
    assert admin.locator("article.dispute").count() == 0
    after = admin.request.get(f"/api/v1/organisations/{ORG_A}/rating").json()["score"]
    assert after > before
    admin.context.close()


def test_the_overview_follows_a_chosen_portfolio(page: Any) -> None:
    log_in_page(page, ANALYST)
    page.click("nav.main-nav a[href='/portefoljer']")
    page.wait_for_load_state()
    page.fill("#portfolio-name", "Tilsyn")
    page.click("#new-portfolio button[type=submit]")
    page.wait_for_load_state()
    for orgnr in (ORG_A, ORG_B):
        page.locator("form.add-member input[name=orgnr]").fill(orgnr)
        page.click("form.add-member button[type=submit]")
        page.wait_for_load_state()
    assert page.locator("table.members tbody tr").count() == 2
    accessible(page, "portfolios-nb")

    page.goto("/oversikt")
    page.select_option("#choose-portfolio", label="Tilsyn")
    page.click("#choose button[type=submit]")
    page.wait_for_load_state()
    portfolio_id = re.search(r"portfolio=(\d+)", page.url)
    assert portfolio_id is not None
    api = page.request.get(f"/api/v1/portfolio/{portfolio_id.group(1)}").json()["summary"]
    assert int(page.inner_text("#orgs")) == api["orgs"] == 2
    assert number(page.inner_text("#average-score")) == round(api["average"], 1)
    assert page.inner_text("#average-grade") == api["grade"]
    assert page.locator("h1").inner_text() == "Portefølje: Tilsyn"
    accessible(page, "overview-portfolio-nb")


def test_a_custom_scorecard_has_its_own_page(page: Any) -> None:
    log_in_page(page, A_ADMIN, then=f"/org/{ORG_A}")
    page.click("#new-scorecard summary")
    page.fill("#scorecard-name", "Hele domenet")
    page.locator("#new-scorecard input[type=checkbox]").first.check()
    accessible(page, "scorecard-with-form-nb")
    page.click("#new-scorecard button[type=submit]")
    page.wait_for_load_state()
    assert page.locator("h1").inner_text() == "Hele domenet"
    card_id = page.url.split("/scorecards/")[1].split("?")[0]
    api = page.request.get(f"/api/v1/organisations/{ORG_A}/scorecards/{card_id}").json()
    assert number(page.inner_text("#score")) == round(api["score"], 1)
    assert page.inner_text("#grade") == api["grade"]
    accessible(page, "custom-scorecard-nb")
    page.click("nav.languages a[lang=en]")
    page.wait_for_load_state()
    assert page.locator("#findings-heading").inner_text() == "Findings"
    accessible(page, "custom-scorecard-en")
    page.goto(f"/org/{ORG_A}")
    assert page.locator(f"#custom-scorecards a[href$='/scorecards/{card_id}']").count() == 1
