"""The public NIST CSF 2.0 pages in a real browser (Debian's chromium): axe-core in bokmål and
English (no serious or critical violations), no login asked, the search form and an anchor
that lands on its subcategory. Screenshots go to artifacts/."""

from __future__ import annotations

from typing import Any

from .browser import accessible, log_in_page
from .conftest import A_VIEWER, ORG_A


def test_the_csf_pages_pass_axe_in_both_languages(page: Any) -> None:
    page.goto("/csf?lang=nb")
    assert page.url.endswith("/csf?lang=nb")  # public: no redirect to /login
    assert "NIST Cybersecurity Framework" in page.locator("h1").inner_text()
    accessible(page, "csf-index-nb")

    page.fill("#csf-q", "sikkerhetskopier")
    page.click("form[role=search] button[type=submit]")
    page.wait_for_load_state()
    assert page.locator(".csf-hits a", has_text="PR.DS-11").count() == 1
    accessible(page, "csf-search-nb")

    page.click(".csf-hits a:has-text('PR.DS-11')")
    page.wait_for_load_state()
    assert page.url.endswith("/csf/PR.DS#PR.DS-11")
    assert page.locator("#PR\\.DS-11").is_visible()
    accessible(page, "csf-category-nb", full_page=False)

    page.goto("/csf/GV?lang=en")
    assert page.locator("h1").inner_text() == "GV Govern"
    accessible(page, "csf-function-en", full_page=False)
    page.goto("/csf/sok?q=backups&lang=en")
    accessible(page, "csf-search-en")


def test_the_csf_profile_passes_axe(page: Any) -> None:
    log_in_page(page, A_VIEWER, then=f"/org/{ORG_A}/csf")
    assert page.url.endswith(f"/org/{ORG_A}/csf")
    assert page.locator("#csf-profile tbody tr").count() > 0
    accessible(page, "csf-profile-nb")
    page.goto(f"/org/{ORG_A}/csf?lang=en")
    accessible(page, "csf-profile-en")
