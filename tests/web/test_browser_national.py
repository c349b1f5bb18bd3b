"""The national view and the Chart.js charts in a real browser (Debian's chromium).

Checked: axe-core on /nasjonalt in bokmål and English (no serious or critical violations),
the figures against the API, drilling down through the map, and that Chart.js and htmx
run under the CSP: the canvases are drawn and the console has no error (a CSP violation
is reported there as "Refused to ..."). Screenshots go to artifacts/.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from .browser import accessible, log_in_page, number
from .conftest import A_VIEWER, ANALYST, ORG_A

# Whether a canvas has any painted pixel: Chart.js ran and drew on it.
PAINTED = """(id) => {
  const canvas = document.getElementById(id);
  if (!canvas || !window.Chart || !window.Chart.getChart(canvas)) return false;
  const pixels = canvas.getContext('2d').getImageData(0, 0, canvas.width, canvas.height).data;
  for (let i = 3; i < pixels.length; i += 4) if (pixels[i] !== 0) return true;
  return false;
}"""


@pytest.fixture
def errors(page: Any) -> Iterator[list[str]]:
    """The page's console errors and uncaught exceptions; the test fails if there are any.

    The browser's own request for /favicon.ico (the site has none) does not count.
    """
    found: list[str] = []

    def on_console(message: Any) -> None:
        where = message.location.get("url", "")
        if message.type == "error" and not where.endswith("/favicon.ico"):
            found.append(f"{message.text} ({where})")

    page.on("console", on_console)
    page.on("pageerror", lambda error: found.append(str(error)))
    yield found
    assert found == [], found


def test_the_national_view_in_both_languages(page: Any, errors: list[str]) -> None:
    log_in_page(page, ANALYST, then="/nasjonalt")
    assert page.url.endswith("/nasjonalt")
    assert page.locator("h1").inner_text() == "Nasjonalt bilde"
    page.wait_for_selector("#trend-chart[data-drawn]")
    page.wait_for_selector("#sector-chart[data-drawn]")
    assert page.evaluate(PAINTED, "trend-chart") and page.evaluate(PAINTED, "sector-chart")
    assert page.evaluate("window.htmx !== undefined && htmx.config.allowEval === false")
    assert page.locator("style").count() == 0  # htmx added no indicator styles
    assert page.locator("svg.map path.county").count() == 15
    accessible(page, "national-nb")

    page.click("svg.map a[href='/nasjonalt?county=34']")  # Innlandet on the map
    page.wait_for_load_state()
    assert page.url.endswith("/nasjonalt?county=34")
    api = page.request.get("/api/v1/national?county=34").json()["summary"]
    assert int(page.inner_text("#orgs")) == api["orgs"]
    assert number(page.inner_text("#average-score")) == round(api["average"], 1)
    assert page.locator("svg.map path.selected").get_attribute("id") == "county-34"

    page.click("nav.languages a[lang=en]")
    page.wait_for_load_state()
    assert page.locator("h1").inner_text() == "National view"
    page.wait_for_selector("#trend-chart[data-drawn]")
    page.select_option("#sector", "state")
    page.click("form.filters button[type=submit]")
    page.wait_for_load_state()
    assert "county=34" in page.url and "sector=state" in page.url
    page.wait_for_selector("#sector-chart[data-drawn]")
    accessible(page, "national-en")


def test_the_scorecard_trend_is_drawn_by_chart_js(page: Any, errors: list[str]) -> None:
    log_in_page(page, A_VIEWER, then="/")
    assert page.url.endswith(f"/org/{ORG_A}")  # the front page sends them on
    page.wait_for_selector("#trend-chart[data-drawn]")
    assert page.evaluate(PAINTED, "trend-chart")
    assert page.locator("#history tbody tr").count() >= 1  # the table stays
    assert errors == []
    answer = page.goto("/nasjonalt")
    assert answer is not None and answer.status == 403
    assert all("status of 403" in e for e in errors)  # the browser reports the 403 itself
    errors.clear()
    accessible(page, "national-forbidden")
