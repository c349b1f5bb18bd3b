"""Every page on a phone (390 px) and a desktop (1440 px), in bokmål and English.

Checked on each page: the page never scrolls sideways (a table too wide scrolls inside its
own box), axe-core finds nothing serious or critical (both languages, on the phone), the
desktop layout uses the screen's width, and error pages keep the menu of the person logged
in. The main pages are photographed in bokmål at both widths (JPEG, first screen) into
artifacts/screenshots/, or into the folder UTSYN_SCREENSHOTS names (docs/screenshots for
the README: `UTSYN_SCREENSHOTS=docs/screenshots pytest tests/web/test_browser_layout.py`).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest

from .browser import ARTIFACTS, accessible, log_in_page
from .conftest import A_ADMIN, ANALYST, ORG_A, ORG_B

PHONE = {"width": 390, "height": 844}
DESKTOP = {"width": 1440, "height": 900}
OVERFLOW = "document.scrollingElement.scrollWidth - window.innerWidth"
# The pages photographed for the README, by the name of their file.
SHOWCASE = {
    "/oversikt": "overview",
    "/nasjonalt?county=34": "national-county",
    f"/org/{ORG_A}": "scorecard",
    f"/org/{ORG_A}/fotavtrykk": "footprint",
}


def _pages(page: Any, who: str | None) -> list[str]:
    """Every page `who` can open (None: a visitor), the error page included."""
    if who is None:
        return ["/", "/login", "/finnes-ikke"]
    if who == A_ADMIN:
        card = _custom_scorecard(page)
        return [
            f"/org/{ORG_A}",
            f"/org/{ORG_A}/fotavtrykk",
            f"/org/{ORG_A}/varsler",
            f"/org/{ORG_A}/styresammendrag",
            card,
            "/",
            f"/org/{ORG_B}",  # another organisation's: 403, with the menu
        ]
    page.goto("/oversikt")
    issue = page.locator("#common a").first.get_attribute("href")
    return [
        "/oversikt",
        "/nasjonalt",
        "/nasjonalt?county=34",
        "/nasjonalt?municipality=3411&sector=municipal",
        "/varsler",
        "/portefoljer",
        "/tvister",
        f"/org/{ORG_B}",
        issue,
        "/finnes-ikke",
        "/nasjonalt?county=99",  # a 400
    ]


def _custom_scorecard(page: Any) -> str:
    """A custom scorecard made through the scorecard's form (its page is one to check)."""
    page.goto(f"/org/{ORG_A}")
    existing = page.locator("#custom-scorecards a")
    if existing.count():
        return str(existing.first.get_attribute("href"))
    page.locator("#new-scorecard summary").click()
    page.fill("#scorecard-name", "Nettsidene")
    page.locator("#new-scorecard input[type=checkbox]").first.check()
    with page.expect_navigation():
        page.click("#new-scorecard button[type=submit]")
    return urlsplit(page.url).path


def _with_lang(path: str, lang: str) -> str:
    return f"{path}{'&' if '?' in path else '?'}lang={lang}"


def _name(path: str) -> str:
    return path.strip("/").replace("/", "-").replace("?", "-").replace("=", "").replace("&", "-")


@pytest.fixture(scope="module")
def shots() -> Path:
    folder = Path(os.environ.get("UTSYN_SCREENSHOTS") or ARTIFACTS / "screenshots")
    folder.mkdir(parents=True, exist_ok=True)
    return folder


@pytest.mark.parametrize("who", [ANALYST, A_ADMIN, None], ids=["analyst", "org-admin", "visitor"])
def test_every_page_fits_a_phone_and_passes_axe_in_both_languages(
    browser: Any, base_url: str, who: str | None, shots: Path
) -> None:
    for lang in ("nb", "en"):
        page = _opened(browser, base_url, PHONE, who)
        for path in _pages(page, who):
            answer = page.goto(_with_lang(path, lang))
            assert answer is not None
            page.wait_for_load_state("networkidle")
            assert page.get_attribute("html", "lang") == lang, path
            assert page.evaluate(OVERFLOW) <= 0, f"{path} scrolls sideways on a phone ({lang})"
            if answer.status >= 400:  # an error keeps the menu of the person logged in
                assert page.locator("nav.main-nav").is_visible() == (who is not None), path
                assert page.locator("#error-advice").is_visible(), path
            accessible(page, f"phone-{lang}-{_name(path)}")
            if lang == "nb" and path in SHOWCASE:
                _photograph(page, shots / f"{SHOWCASE[path]}-phone.jpg")
        page.context.close()


@pytest.mark.parametrize("who", [ANALYST, A_ADMIN], ids=["analyst", "org-admin"])
def test_the_desktop_layout_uses_the_screen(
    browser: Any, base_url: str, who: str, shots: Path
) -> None:
    page = _opened(browser, base_url, DESKTOP, who)
    for path in _pages(page, who):
        page.goto(path)
        page.wait_for_load_state("networkidle")
        assert page.evaluate(OVERFLOW) <= 0, path
        main = page.locator("main").bounding_box()
        assert main is not None and main["width"] >= 0.9 * DESKTOP["width"], path
        if path in SHOWCASE:
            _photograph(page, shots / f"{SHOWCASE[path]}-desktop.jpg")
    page.context.close()


def _opened(browser: Any, base_url: str, viewport: dict[str, int], who: str | None) -> Any:
    context = browser.new_context(base_url=base_url, locale="nb-NO", viewport=viewport)
    page = context.new_page()
    page.set_default_timeout(15_000)
    if who is not None:
        log_in_page(page, who)
    return page


def _photograph(page: Any, target: Path) -> None:
    """The first screen, as a small JPEG (the charts drawn first)."""
    for canvas in page.locator("canvas[data-chart]").all():
        canvas.scroll_into_view_if_needed()
    page.evaluate("window.scrollTo(0, 0)")
    page.wait_for_timeout(200)
    page.screenshot(path=str(target), type="jpeg", quality=60)
