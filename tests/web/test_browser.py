"""The dashboard pages in a real browser (Debian's chromium through Playwright).

The app is served by uvicorn on loopback (127.119.0.1) in a thread, on a copy of the demo
database. Checked: login, the overview's figures against /api/v1/national (same session),
drilling into a scorecard, the language switch, explaining a finding, scope (403), and
axe-core on every page (no serious or critical violations). Screenshots go to artifacts/.

Without /usr/bin/chromium the tests skip, or fail when UTSYN_REQUIRE_SERVICES is set.
"""

from __future__ import annotations

import os
import shutil
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import uvicorn

from utsyn.store.db import make_engine
from utsyn.web.app import create_app
from utsyn.web.settings import WebSettings

from .conftest import A_ADMIN, ANALYST, B_VIEWER, ORG_A, ORG_B, PASSWORD

CHROMIUM = Path("/usr/bin/chromium")
HOST = "127.119.0.1"
ARTIFACTS = Path(__file__).resolve().parents[2] / "artifacts"
LAUNCH_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
    "--disable-sync",
    "--disable-quic",
]


def _required() -> bool:
    return os.environ.get("UTSYN_REQUIRE_SERVICES", "").lower() not in ("", "0", "false", "no")


def _unavailable(message: str) -> None:
    if _required():
        pytest.fail(f"{message} (UTSYN_REQUIRE_SERVICES is set)")
    pytest.skip(f"{message} (set UTSYN_REQUIRE_SERVICES=1 to fail instead)")


@pytest.fixture(scope="module")
def base_url(template_db: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    if not CHROMIUM.exists():
        _unavailable(f"{CHROMIUM} is not installed")
    folder = tmp_path_factory.mktemp("browser")
    shutil.copyfile(template_db, folder / "utsyn.db")
    engine = make_engine(f"sqlite:///{folder / 'utsyn.db'}")
    settings = WebSettings(
        data_dir=folder / "data", cache_dir=folder / "cache", secret_key="browser-test-" * 4
    )
    with socket.socket() as probe:
        probe.bind((HOST, 0))
        port = probe.getsockname()[1]
    config = uvicorn.Config(create_app(settings, engine), host=HOST, port=port, log_level="warning")
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started:
        assert time.monotonic() < deadline, "uvicorn did not start"
        time.sleep(0.05)
    yield f"http://{HOST}:{port}"
    server.should_exit = True
    thread.join(timeout=10)
    engine.dispose()


@pytest.fixture(scope="module")
def browser(base_url: str) -> Iterator[Any]:
    sync_api = pytest.importorskip("playwright.sync_api")
    with sync_api.sync_playwright() as playwright:
        launched = playwright.chromium.launch(
            executable_path=str(CHROMIUM), headless=True, args=LAUNCH_ARGS
        )
        yield launched
        launched.close()


@pytest.fixture
def page(browser: Any, base_url: str) -> Iterator[Any]:
    context = browser.new_context(
        base_url=base_url, locale="nb-NO", viewport={"width": 1200, "height": 900}
    )
    opened = context.new_page()
    opened.set_default_timeout(10_000)
    yield opened
    context.close()


def _log_in(page: Any, email: str, then: str = "/oversikt") -> None:
    page.goto(f"/login?next={then}")
    page.fill("#email", email)
    page.fill("#password", PASSWORD)
    page.click("form[action='/login'] button[type=submit]")
    page.wait_for_load_state()


def _accessible(page: Any, name: str) -> None:
    """axe-core finds nothing serious or critical; the page is kept as a screenshot."""
    from axe_playwright_python.sync_playwright import Axe  # type: ignore[import-untyped]

    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / f"{name}.png"), full_page=True)
    results = Axe().run(page)
    bad = [v for v in results.response["violations"] if v["impact"] in ("serious", "critical")]
    assert not bad, results.generate_report()


def _number(text: str) -> float:
    return float(text.strip().replace(",", "."))


def test_overview_matches_the_api_and_drills_down(page: Any) -> None:
    _log_in(page, ANALYST)
    assert page.url.endswith("/oversikt")
    assert page.get_attribute("html", "lang") == "nb"  # the browser asks for bokmål
    assert page.locator("h1").inner_text() == "Nasjonal oversikt"
    api = page.request.get("/api/v1/national").json()
    summary = api["summary"]
    assert int(page.inner_text("#orgs")) == summary["orgs"]
    assert int(page.inner_text("#active")) == summary["active"]
    assert int(page.inner_text("#inactive")) == summary["inactive"]
    assert _number(page.inner_text("#average-score")) == round(summary["average"], 1)
    assert page.inner_text("#average-grade") == summary["grade"]
    for share in summary["grades"]:
        cell = page.inner_text(f"#grade-table td[data-grade='{share['grade']}']")
        assert int(cell) == share["orgs"]
    names = page.locator("#worst tbody th a").all_inner_texts()
    assert names == [w["name"] for w in api["worst"]]
    assert page.locator("#common tbody tr").count() == len(api["common"])
    _accessible(page, "overview-nb")

    page.click(f"#worst a[href='/org/{api['worst'][0]['orgnr']}']")
    page.wait_for_load_state()
    assert page.url.endswith(f"/org/{api['worst'][0]['orgnr']}")
    assert page.inner_text("h1") == api["worst"][0]["name"]
    _accessible(page, "scorecard-nb")

    page.click("nav.languages a[lang=en]")
    page.wait_for_load_state()
    assert page.get_attribute("html", "lang") == "en"
    assert page.locator("#findings-heading").inner_text() == "Findings"
    _accessible(page, "scorecard-en")
    page.click("nav.main-nav a")  # the choice is remembered
    assert page.locator("h1").inner_text() == "National overview"
    _accessible(page, "overview-en")


def test_an_org_admin_explains_a_finding_and_the_score_changes(page: Any) -> None:
    _log_in(page, A_ADMIN)
    assert page.url.endswith(f"/org/{ORG_A}")  # organisation roles land on their scorecard
    before = _number(page.inner_text("#score"))
    rating = page.request.get(f"/api/v1/organisations/{ORG_A}/rating").json()
    assert before == round(rating["score"], 1)
    first = page.locator("details.explain").first
    first.locator("summary").click()
    first.locator("select[name=kind]").select_option("accepted_risk")
    first.locator("textarea[name=reason]").fill("Risikoen er vurdert og akseptert av ledelsen.")
    _accessible(page, "scorecard-admin")
    first.locator("button[type=submit]").click()
    page.wait_for_load_state()
    assert page.locator("p.notice").is_visible()
    after = _number(page.inner_text("#score"))
    assert after > before
    api = page.request.get(f"/api/v1/organisations/{ORG_A}/rating").json()
    assert after == round(api["score"], 1)
    assert page.locator("p.explanation").count() == 1


def test_an_org_viewer_cannot_open_another_organisation(page: Any) -> None:
    _log_in(page, B_VIEWER, then=f"/org/{ORG_B}")
    assert page.locator("details.explain").count() == 0
    answer = page.goto(f"/org/{ORG_A}")
    assert answer is not None and answer.status == 403
    _accessible(page, "forbidden")
