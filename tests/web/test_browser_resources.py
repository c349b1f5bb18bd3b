"""The resources page and NSM's principles beside CSF 2.0 in a real browser (Debian's chromium):
axe-core in bokmål and English (no serious or critical violations), no login asked, and the
footer link that leads to the resources. Screenshots go to artifacts/."""

from __future__ import annotations

from typing import Any

from .browser import accessible


def test_the_resources_and_nsm_pages_pass_axe_in_both_languages(page: Any) -> None:
    page.goto("/csf?lang=nb")
    page.click("footer.site a[href='/ressurser']")
    page.wait_for_load_state()
    assert page.url.endswith("/ressurser")  # public: no redirect to /login
    assert page.locator("h1").inner_text() == "Sikkerhetsressurser"
    assert page.locator("#verktoy a[href='https://internet.nl/']").count() == 1
    accessible(page, "resources-nb")
    page.goto("/ressurser?lang=en")
    assert page.locator("h1").inner_text() == "Security resources"
    accessible(page, "resources-en")

    page.goto("/csf/nsm?lang=nb")
    assert page.locator("#nsm-2\\.9 a[href='/csf/PR.DS#PR.DS-11']").count() == 1
    accessible(page, "csf-nsm-nb")
    page.goto("/csf/nsm?lang=en")
    accessible(page, "csf-nsm-en")
