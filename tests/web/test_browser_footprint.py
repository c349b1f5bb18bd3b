"""The footprint, alerts and board summary pages in a real browser (chromium + axe-core).

Checked: claiming a name through the form (htmx-boosted when htmx loads; a plain POST
otherwise), the TXT record shown, a bad name refused with its message, axe on each page in
bokmål and in English, and the printed board summary (print.css) fitting two A4 pages.
"""

from __future__ import annotations

import re
from typing import Any

from .browser import accessible, log_in_page
from .conftest import A_ADMIN, ANALYST, ORG_A


def test_an_org_admin_claims_a_name_in_the_browser(page: Any) -> None:
    log_in_page(page, A_ADMIN, then=f"/org/{ORG_A}")
    page.click("#footprint-link")
    page.wait_for_load_state()
    assert page.url.endswith(f"/org/{ORG_A}/fotavtrykk")
    assert page.get_attribute("html", "lang") == "nb"
    accessible(page, "footprint-nb")

    page.fill("#claim-value", "intranett.ostmarkfk.test")
    page.click("#claim-form button[type=submit]")
    page.wait_for_selector("#notice")
    claimed = page.locator("#state-claimed")
    assert "intranett.ostmarkfk.test" in claimed.inner_text()
    assert "_utsyn-verify.intranett.ostmarkfk.test" in claimed.inner_text()
    assert re.search(r"utsyn-verify=[\w-]{20,}", claimed.inner_text())

    page.fill("#claim-value", "ikke et navn")
    page.click("#claim-form button[type=submit]")
    page.wait_for_selector("#error")
    assert "ikke et gyldig domene- eller vertsnavn" in page.inner_text("#error")
    accessible(page, "footprint-error-nb")

    page.goto(f"/org/{ORG_A}/fotavtrykk?lang=en")
    assert page.locator("#heading-claimed").inner_text().startswith("Claimed")
    accessible(page, "footprint-en")


def test_alerts_pages_are_accessible(page: Any) -> None:
    log_in_page(page, ANALYST, then=f"/org/{ORG_A}/varsler?lang=nb")
    assert page.locator("h1").inner_text().startswith("Varsler")
    accessible(page, "alerts-org-nb")
    page.click("nav.main-nav a[href='/varsler']")
    page.wait_for_load_state()
    assert page.url.endswith("/varsler")
    accessible(page, "alerts-national-nb")
    page.goto("/varsler?lang=en")
    assert page.locator("h1").inner_text() == "Alerts for every organisation"
    accessible(page, "alerts-national-en")


def test_the_board_summary_prints_on_two_pages(page: Any) -> None:
    log_in_page(page, A_ADMIN, then=f"/org/{ORG_A}?lang=nb")
    page.click("#board-page")
    page.wait_for_load_state()
    assert page.url.endswith(f"/org/{ORG_A}/styresammendrag")
    assert page.inner_text("#board-score") == page.inner_text("#board-score").strip()
    accessible(page, "board-nb")
    page.emulate_media(media="print")
    assert not page.locator("header.site").is_visible()
    assert not page.locator("#board-pdf").is_visible()
    pdf = page.pdf(format="A4")
    pages = len(re.findall(rb"/Type\s*/Page\b(?!s)", pdf))
    assert 1 <= pages <= 2, pages
    page.emulate_media(media="screen")
    page.goto(f"/org/{ORG_A}/styresammendrag?lang=en")
    assert page.locator("h1").is_visible()
    assert "Cyber risk – board summary" in page.inner_text("main")
    accessible(page, "board-en")
