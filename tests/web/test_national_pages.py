"""The national view (/nasjonalt), the front page's redirects, the county map's geometry
(`web.geo`), the chart specs (`web.charts`) and the vendored scripts, without a browser."""

from __future__ import annotations

import html
import json
import math
import re
from datetime import date

import pytest
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session

from utsyn.geo import counties
from utsyn.portfolio import aggregate
from utsyn.web import charts, geo
from utsyn.web.pages_dashboard import number

from .conftest import A_ADMIN, A_VIEWER, ADMIN, ANALYST, B_VIEWER, ORG_A, ORG_B, log_in

COUNTY = "34"  # Innlandet: six organisations of four sectors in the demo


def _text_of(page: str, element_id: str) -> str:
    found = re.search(rf'id="{element_id}"[^>]*>([^<]*)<', page)
    assert found is not None, element_id
    return found.group(1).strip()


def _row(page: str, attribute: str, key: str) -> dict[str, str]:
    """The cells of the table row with data-<attribute>="key", by class."""
    found = re.search(rf'<tr data-{attribute}="{key}"[^>]*>(.*?)</tr>', page, re.S)
    assert found is not None, key
    cells = re.findall(r'<td class="([\w-]+)">(.*?)</td>', found.group(1), re.S)
    return {name: re.sub(r"<[^>]+>", "", text).strip() for name, text in cells}


# ---------------------------------------------------------------- the page


def test_the_figures_of_a_county_are_the_apis(client: TestClient, session: Session) -> None:
    log_in(client, ANALYST)
    page = client.get("/nasjonalt", params={"county": COUNTY, "lang": "en"})
    assert page.status_code == 200
    api = client.get("/api/v1/national", params={"county": COUNTY}).json()
    summary = api["summary"]
    assert int(_text_of(page.text, "orgs")) == summary["orgs"] == 6
    assert _text_of(page.text, "average-score") == f"{summary['average']:.1f}"
    assert _text_of(page.text, "average-grade") == summary["grade"]
    for issue in api["critical"] + api["common"]:
        assert f'href="/issue/{issue["rule"]}"' in page.text
    # The county table and the map: the breakdown's figures, the same as aggregate's.
    areas = client.get("/api/v1/national/breakdown", params={"by": "county"}).json()
    by_county = {a["key"]: a["summary"] for a in areas}
    assert by_county == {
        a.key: json.loads(json.dumps(a.summary.__dict__, default=lambda s: s.__dict__))
        for a in aggregate.breakdown(session, "county")
    }
    for key, figures in by_county.items():
        row = _row(page.text, "county", key)
        assert int(row["orgs"]) == figures["orgs"]
        assert row["average"] == f"{figures['average']:.1f}"
        assert row["grade-cell"] == figures["grade"]
    # The sector table is the county's breakdown by sector.
    sectors = client.get(
        "/api/v1/national/breakdown", params={"by": "sector", "county": COUNTY}
    ).json()
    assert len(re.findall(r"<tr data-sector=", page.text)) == len(sectors)
    for area in sectors:
        assert int(_row(page.text, "sector", area["key"])["orgs"]) == area["summary"]["orgs"]
    assert 'aria-current="true"' in page.text and 'class="county grade-' in page.text
    assert f'id="county-{COUNTY}" class="county grade-{by_county[COUNTY]["grade"]} selected"' in (
        page.text
    )


def test_filters_by_sector_and_by_both(client: TestClient) -> None:
    log_in(client, ADMIN)
    for params in ({"sector": "state"}, {"sector": "municipal", "county": COUNTY}, {}):
        page = client.get("/nasjonalt", params=params)
        assert page.status_code == 200, params
        api = client.get("/api/v1/national", params=params).json()
        assert int(_text_of(page.text, "orgs")) == api["summary"]["orgs"]
        assert _text_of(page.text, "average-score") == number("nb")(api["summary"]["average"], 1)
        for key, value in params.items():
            assert f'<option value="{value}" selected>' in page.text, key
    # The map under a sector filter: each county's figures for that sector, links keep it.
    page = client.get("/nasjonalt", params={"sector": "state"})
    state = client.get(
        "/api/v1/national/breakdown", params={"by": "county", "sector": "state"}
    ).json()
    for area in state:
        assert int(_row(page.text, "county", area["key"])["orgs"]) == area["summary"]["orgs"]
    assert 'href="/nasjonalt?county=03&amp;sector=state"' in page.text
    # Empty values (the form's "all") mean no filter.
    everyone = client.get("/nasjonalt", params={"county": "", "sector": ""})
    assert everyone.status_code == 200 and _text_of(everyone.text, "orgs") == "40"


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ({"county": "99"}, "Unknown county"),
        ({"county": "3"}, "Unknown county"),
        ({"county": "<b>"}, "Unknown county"),
        ({"sector": "ministry"}, "Unknown sector"),
        ({"sector": "x" * 65}, "Invalid request"),
    ],
)
def test_a_bad_filter_is_a_clear_400(
    client: TestClient, params: dict[str, str], message: str
) -> None:
    log_in(client, ANALYST)
    page = client.get("/nasjonalt", params={**params, "lang": "en"})
    if message == "Invalid request":  # longer than any sector: refused before the view
        assert page.status_code == 422
        return
    assert page.status_code == 400
    assert message in page.text and "<b>" not in page.text
    json_only = {"Accept": "application/json"}
    problem = client.get("/nasjonalt", params={**params, "lang": "nb"}, headers=json_only)
    assert problem.status_code == 400
    assert problem.headers["content-type"] == "application/problem+json"
    assert problem.json()["detail"].startswith("Ukjent")


@pytest.mark.parametrize("email", [A_ADMIN, A_VIEWER, B_VIEWER])
def test_organisation_roles_are_forbidden(client: TestClient, email: str) -> None:
    log_in(client, email)
    assert client.get("/nasjonalt").status_code == 403
    assert client.get("/nasjonalt", params={"county": COUNTY}).status_code == 403
    scorecard = client.get("/", follow_redirects=True)
    assert 'href="/nasjonalt"' not in scorecard.text  # no nav link to a page they cannot see


def test_anonymous_visitors_log_in_first(client: TestClient) -> None:
    answer = client.get("/nasjonalt", params={"county": COUNTY}, follow_redirects=False)
    assert answer.status_code == 303
    assert answer.headers["location"] == "/login?next=/nasjonalt%3Fcounty%3D34"


def test_every_county_is_on_the_map_with_a_title_and_a_link(client: TestClient) -> None:
    log_in(client, ANALYST)
    page = client.get("/nasjonalt", params={"lang": "en"})
    areas = client.get("/api/v1/national/breakdown", params={"by": "county"}).json()
    figures = {a["key"]: a["summary"] for a in areas}
    paths = re.findall(
        r'<a href="([^"]+)" aria-label="([^"]+)">\s*<path id="county-(\d\d)" class="([^"]+)" '
        r'd="(M[^"]+Z)"><title>([^<]+)</title></path>',
        page.text,
    )
    assert sorted(p[2] for p in paths) == sorted(counties())
    for href, label, key, classes, _, title in paths:
        name = counties()[key]
        assert html.unescape(href) == f"/nasjonalt?county={key}"
        assert label == title and html.unescape(title).startswith(name)
        if key in figures:
            f = figures[key]
            assert classes == f"county grade-{f['grade']}"
            assert f"grade {f['grade']}" in title and f"organisations: {f['orgs']}" in title
            assert f"average score {f['average']:.1f}" in title
        else:
            assert classes == "county grade-none" and "no rated organisations" in title
    for grade in ("A", "B", "C", "D", "F", "none"):
        assert f'<span class="swatch grade-{grade}">' in page.text  # the legend


def test_the_page_has_no_inline_script_or_style(client: TestClient) -> None:
    log_in(client, ANALYST)
    page = client.get("/nasjonalt")
    assert "style=" not in page.text and "<style" not in page.text
    assert "<script>" not in page.text and " on" + "click=" not in page.text
    scripts = re.findall(r'<script src="([^"]+)" defer></script>', page.text)
    assert scripts == [
        "/static/vendor/htmx.min.js",
        "/static/vendor/chart.umd.min.js",
        "/static/charts.js",
    ]
    spec = re.search(r"id=\"trend-chart\"[^>]*data-chart='([^']+)'", page.text)
    assert spec is not None
    trend = json.loads(html.unescape(spec.group(1)))
    api = client.get("/api/v1/national", params={"since": "2000-01-01"}).json()["trend"]
    assert trend["labels"] == sorted({t["day"] for t in api})
    assert [v for s in trend["series"] for v in s["values"] if v is not None] == [
        round(t["average"], 1) for t in api
    ]
    assert 'id="trend-table"' in page.text and 'id="sector-table"' in page.text
    assert "Nasjonalt bilde" in page.text


def test_the_vendored_scripts_are_served_with_the_security_headers(client: TestClient) -> None:
    for path, marker in [
        ("/static/vendor/chart.umd.min.js", "Chart.js v4"),
        ("/static/vendor/htmx.min.js", "htmx"),
        ("/static/charts.js", "data-chart"),
    ]:
        answer = client.get(path)
        assert answer.status_code == 200 and marker in answer.text[:2000] + answer.text[-200:]
        assert "javascript" in answer.headers["content-type"]
        assert "script-src 'self'" in answer.headers["content-security-policy"]
    page = client.get("/login")
    assert '<meta name="htmx-config" content=\'{"includeIndicatorStyles":false' in page.text


# ---------------------------------------------------------------- the front page


def test_the_front_page_welcomes_visitors_and_sends_users_on(client: TestClient) -> None:
    welcome = client.get("/")
    assert welcome.status_code == 200 and 'href="/login"' in welcome.text
    log_in(client, ANALYST)
    answer = client.get("/", follow_redirects=False)
    assert answer.status_code == 303 and answer.headers["location"] == "/oversikt"
    assert 'href="/nasjonalt"' in client.get("/oversikt").text  # the nav link


@pytest.mark.parametrize(("email", "orgnr"), [(A_VIEWER, ORG_A), (B_VIEWER, ORG_B)])
def test_the_front_page_sends_organisation_roles_to_their_scorecard(
    client: TestClient, email: str, orgnr: str
) -> None:
    log_in(client, email)
    answer = client.get("/", follow_redirects=False)
    assert answer.status_code == 303 and answer.headers["location"] == f"/org/{orgnr}"


def test_the_scorecard_trend_is_a_chart_beside_its_table(client: TestClient) -> None:
    log_in(client, A_VIEWER)
    page = client.get(f"/org/{ORG_A}")
    spec = re.search(r"id=\"trend-chart\"[^>]*data-chart='([^']+)'", page.text)
    assert spec is not None and 'id="history"' in page.text
    history = client.get(f"/api/v1/organisations/{ORG_A}/history").json()
    items = history["items"] if isinstance(history, dict) else history
    chart = json.loads(html.unescape(spec.group(1)))
    assert chart["series"][0]["values"] == [round(h["score"], 1) for h in reversed(items)]


# ---------------------------------------------------------------- geo


def test_fit_puts_the_box_in_the_width_and_keeps_shapes_true() -> None:
    box = (4.0, 58.0, 32.0, 72.0)
    projection = geo.fit(box, 400, margin=4)
    assert projection((4.0, 72.0)) == pytest.approx((4.0, 4.0))  # north-west corner
    east, south = projection((32.0, 58.0))
    assert east == pytest.approx(396.0)
    assert south == pytest.approx(geo.height_of(box, projection) - 4)
    # A degree of longitude is cos(65°) of a degree of latitude at the middle latitude.
    x0, y0 = projection((10.0, 65.0))
    x1, y1 = projection((11.0, 66.0))
    assert (x1 - x0) / (y0 - y1) == pytest.approx(math.cos(math.radians(65)))
    with pytest.raises(ValueError):
        geo.fit((5.0, 60.0, 5.0, 61.0), 400)


def test_simplify_drops_points_within_the_tolerance_and_keeps_the_ends() -> None:
    line = ((0.0, 0.0), (1.0, 0.01), (2.0, -0.01), (3.0, 0.0), (3.0, 3.0), (0.0, 0.0))
    assert geo.simplify(line, 0.1) == ((0.0, 0.0), (3.0, 0.0), (3.0, 3.0), (0.0, 0.0))
    assert geo.simplify(line, 0.001) == line  # nothing is that close
    assert geo.simplify(((0.0, 0.0), (1.0, 1.0)), 5) == ((0.0, 0.0), (1.0, 1.0))
    long_ring = tuple((math.cos(t / 500), math.sin(t / 500)) for t in range(3200))
    assert 10 < len(geo.simplify(long_ring, 0.01)) < 100  # iterative: no recursion limit


def test_ring_area_and_polygons() -> None:
    square = ((0.0, 0.0), (2.0, 0.0), (2.0, 2.0), (0.0, 2.0), (0.0, 0.0))
    assert geo.ring_area(square) == 4.0 == geo.ring_area(tuple(reversed(square)))
    one = {"type": "Polygon", "coordinates": [[[0, 0], [1, 0], [1, 1], [0, 0]]]}
    many = {"type": "MultiPolygon", "coordinates": [one["coordinates"], one["coordinates"]]}
    assert geo.polygons(one) == ((((0.0, 0.0), (1.0, 0.0), (1.0, 1.0), (0.0, 0.0)),),)
    assert len(geo.polygons(many)) == 2
    with pytest.raises(ValueError):
        geo.polygons({"type": "Point", "coordinates": [0, 0]})


def test_path_data_rounds_to_a_tenth_and_skips_repeats() -> None:
    ring = ((0.0, 0.0), (10.0, 0.0), (10.01, 0.02), (10.0, 10.0), (0.0, 0.0))
    hole = ((1.0, 1.0), (2.0, 1.0), (2.0, 2.0), (1.0, 1.0))
    tiny = ((0.0, 0.0), (0.01, 0.0), (0.0, 0.01), (0.0, 0.0))  # rounds into a point
    data = geo.path_data([(ring, hole), (tiny,)], lambda p: p)
    assert data == "M0.0 0.0L10.0 0.0L10.0 10.0ZM1.0 1.0L2.0 1.0L2.0 2.0Z"


def _feature(number: str, name: str, rings: list[list[list[float]]]) -> dict[str, object]:
    return {
        "type": "Feature",
        "properties": {"fylkesnummer": number, "name": name},
        "geometry": {"type": "Polygon", "coordinates": rings},
    }


def test_county_map_fits_every_county_in_the_width() -> None:
    features = [
        _feature("11", "Vest", [[[5, 59], [6, 59], [6, 60], [5, 59]]]),
        _feature("03", "Øst", [[[10, 59], [11, 59], [11, 61], [10, 59]]]),
    ]
    made = geo.county_map(features, width=200)
    assert [s.number for s in made.shapes] == ["03", "11"]
    assert made.shapes[1].path.startswith(f"M{geo.MAP_MARGIN:.1f} ")
    coordinates = [float(c) for s in made.shapes for c in re.findall(r"[\d.]+", s.path)]
    assert max(coordinates) <= max(made.width, made.height)
    assert made.height == math.ceil((61 - 59) * (200 - 8) / (6 * math.cos(math.radians(60))) + 8)


def test_the_shipped_map_has_every_county() -> None:
    shipped = geo.counties_map()
    assert shipped is geo.counties_map()  # projected once
    assert {s.number for s in shipped.shapes} == set(counties())
    assert shipped.width == geo.MAP_WIDTH and 400 < shipped.height < 500
    for shape in shipped.shapes:
        assert re.fullmatch(r"(M[\d.]+ [\d.]+(L[\d.]+ [\d.]+)+Z)+", shape.path), shape.number
    assert sum(len(s.path) for s in shipped.shapes) < 80_000  # a page, not a download


def test_simplify_geojson_keeps_each_countys_largest_part() -> None:
    island = [[9.0, 60.0], [9.01, 60.0], [9.01, 60.01], [9.0, 60.0]]
    big = [[0, 0], [1, 0], [1.0001, 0.5], [1, 1], [0, 1], [0, 0]]
    data = {
        "features": [
            _feature("03", "Small", [island]),
            {**_feature("11", "Two", []), "geometry": {
                "type": "MultiPolygon", "coordinates": [[big], [island]]}},
        ]
    }  # fmt: skip
    smaller = geo.simplify_geojson(data, tolerance=0.01, min_area=0.001)
    small, two = (f["geometry"]["coordinates"] for f in smaller["features"])
    assert small == [[island]]  # a county's only part stays, however small
    assert two == [[[[0, 0], [1, 0], [1, 1], [0, 1], [0, 0]]]]  # island gone, point dropped
    assert smaller["features"][0]["properties"] == {"fylkesnummer": "03", "name": "Small"}


def test_the_simplifier_runs_as_a_script(tmp_path: object) -> None:
    from pathlib import Path

    folder = Path(str(tmp_path))
    source, target = folder / "in.geojson", folder / "out.geojson"
    source.write_text(json.dumps({"features": [_feature("03", "Oslo", [[
        [10.0, 59.0], [10.5, 59.0], [10.5, 59.5], [10.0, 59.0]]])]}))  # fmt: skip
    assert geo.main([str(source), str(target)]) == 0
    assert json.loads(target.read_text())["features"][0]["properties"]["name"] == "Oslo"
    assert geo.main([]) == 2


# ---------------------------------------------------------------- chart specs


def test_trend_series_keeps_rulebook_versions_apart() -> None:
    day1, day2 = date(2026, 1, 1), date(2026, 1, 2)
    points = (
        aggregate.TrendPoint(day1, "1", 10, 70.04, "C"),
        aggregate.TrendPoint(day2, "1", 10, 71.0, "C"),
        aggregate.TrendPoint(day2, "2", 10, 80.0, "B"),
    )
    days, series = charts.trend_series(points)
    assert days == ["2026-01-01", "2026-01-02"]
    assert series == [("1", [70.04, 71.0]), ("2", [None, 80.0])]
    spec = charts.line_chart(days, series, "Score")
    assert spec["series"][0]["values"] == [70.0, 71.0] and spec["type"] == "line"
    bars = charts.bar_chart(["a", "b"], [None, 55.55], [None, "F"], "Score")
    assert bars["grades"] == ["", "F"] and bars["series"][0]["values"] == [None, 55.5]
