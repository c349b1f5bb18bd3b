"""The national view and the Chart.js charts in a real browser (Debian's chromium).

Checked: axe-core on /nasjonalt in bokmål and English (no serious or critical violations),
the figures against the API, drilling down through the map and the tables to the
organisations, sorting by the column buttons (keyboard), the downloads holding the rows on
screen, and that Chart.js and htmx run under the CSP: the canvases are drawn and the console
has no error (a CSP violation is reported there as "Refused to ..."). Screenshots go to
artifacts/.
"""

from __future__ import annotations

import csv
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from utsyn.web.collation import sort_key

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
    assert page.locator("h1").inner_text() == "National view: Innlandet"
    page.wait_for_selector("#trend-chart[data-drawn]")
    page.select_option("#sector", "state")
    page.click("form.filters button[type=submit]")
    page.wait_for_load_state()
    assert "county=34" in page.url and "sector=state" in page.url
    assert page.locator("h1").inner_text() == "National view: Innlandet · Central government"
    page.wait_for_selector("#sector-chart[data-drawn]")
    accessible(page, "national-en")


def _table(page: Any, table: str) -> list[list[str]]:
    """The body rows of a table as the page shows them: the row header, then each cell."""
    rows = page.locator(f"#{table} tbody tr")
    return [
        [c.strip() for c in rows.nth(i).locator("th, td").all_inner_texts()]
        for i in range(rows.count())
    ]


def _download(page: Any, link: str, folder: Path) -> Path:
    with page.expect_download() as info:
        page.click(link)
    target = folder / info.value.suggested_filename
    info.value.save_as(target)
    return target


def test_drill_down_sort_and_download_what_is_on_screen(
    page: Any, errors: list[str], tmp_path: Path
) -> None:
    log_in_page(page, ANALYST, then="/nasjonalt")
    assert page.locator("#organisation-table").count() == 0  # no area chosen: no list
    with page.expect_navigation():
        page.click("#sector-table a:text-is('Kommunal sektor')")
    assert page.locator("h1").inner_text() == "Nasjonalt bilde: Kommunal sektor"
    with page.expect_navigation():
        page.click("#county-table a:text-is('Innlandet')")  # the sector is kept
    assert page.locator("h1").inner_text() == "Nasjonalt bilde: Innlandet · Kommunal sektor"
    assert page.locator("nav.ds-breadcrumbs a[aria-current=page]").inner_text() == (
        "Kommunal sektor"
    )
    shown = _table(page, "organisation-table")
    assert len(shown) == 3
    scores = [number(row[2]) for row in shown]
    assert scores == sorted(scores)  # the weakest first

    # Sorting by name with the keyboard: the header's button, Enter; again for descending.
    name = page.locator("#organisation-table thead th").first
    assert name.get_attribute("aria-sort") == "none"
    name.locator("button").focus()
    with page.expect_navigation():
        page.keyboard.press("Enter")
    name = page.locator("#organisation-table thead th").first
    assert name.get_attribute("aria-sort") == "ascending"
    names = [row[0] for row in _table(page, "organisation-table")]
    assert names == sorted(names, key=lambda n: sort_key(n, "nb")) and names[-1].startswith("Å")
    assert page.locator("h1").inner_text() == "Nasjonalt bilde: Innlandet · Kommunal sektor"
    with page.expect_navigation():
        name.locator("button").click()
    assert page.locator("#organisation-table thead th").first.get_attribute("aria-sort") == (
        "descending"
    )
    shown = _table(page, "organisation-table")
    assert [row[0] for row in shown] == list(reversed(names))

    # The downloads hold exactly these rows, in this order.
    with _download(page, "#download-csv", tmp_path).open(encoding="utf-8") as read:
        rows = list(csv.DictReader(read))
    assert [r["organisation"] for r in rows] == [row[0] for row in shown]
    assert [r["grade"] for r in rows] == [row[1] for row in shown]
    assert [float(r["score"]) for r in rows] == [number(row[2]) for row in shown]
    assert {r["county"] for r in rows} == {"Innlandet"}
    body = json.loads(_download(page, "#download-json", tmp_path).read_text(encoding="utf-8"))
    assert [r["organisation"] for r in body["rows"]] == [row[0] for row in shown]
    assert body["filter"]["sort"] == "organisations:name:desc"
    bundle = json.loads(_download(page, "#download-stix", tmp_path).read_text(encoding="utf-8"))
    assert bundle["type"] == "bundle"
    with _download(page, "#counties-csv", tmp_path).open(encoding="utf-8") as read:
        counties = list(csv.DictReader(read))
    assert [c["name"] for c in counties] == [row[0] for row in _table(page, "county-table")]
    accessible(page, "national-drilldown-nb")


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
