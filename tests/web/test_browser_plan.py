"""The action plan in a real browser, on a real scan of the demo lab (not its ground truth:
the scan fingerprints products, so the worst organisation has CVEs and potential ones too).

Checked on the demo's worst organisation: the first screen shows the way to the next grade
and at most 15 issues; the issues, their order, their points and the steps are the plan's;
potential vulnerabilities are one line per product; the filter works without script; the
page is a few screens, not tens of thousands of pixels; axe-core passes in bokmål and
English, with every section open too. Screenshots go to artifacts/.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select

from utsyn.clock import now_utc
from utsyn.lab.orgs import records_from_manifest
from utsyn.lab.runtime import LabInfo
from utsyn.lab.scenarios import load_scenario
from utsyn.lab.targets import from_manifest
from utsyn.pipeline import scan_and_store
from utsyn.rating.actions import ActionPlan, action_plan
from utsyn.rules.rulebook import load_rulebook
from utsyn.store import users
from utsyn.store.assessments import shown_rating, with_evidence
from utsyn.store.db import make_engine, session_factory, upgrade
from utsyn.store.models import Finding, Organisation, OrgLatest
from utsyn.store.orgs import organisation, upsert_organisations
from utsyn.web.security import hash_password

from ..scan.conftest import lab_config
from ..services import unavailable
from .browser import CHROMIUM, accessible, log_in_page, number, served
from .conftest import ANALYST, PASSWORD

FIRST_SCREEN_MOST = 15
# The issues whose top edge is inside the window (the page fixture's 1200 × 900).
ON_FIRST_SCREEN = """() => [...document.querySelectorAll('li.group')].filter(e => {
  const box = e.getBoundingClientRect();
  return box.height > 0 && box.top < window.innerHeight;
}).length"""


@pytest.fixture(scope="module")
def scanned(demo_lab: LabInfo, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The demo lab scanned, stored and rated as `utsyn demo` does, with one analyst."""
    if not CHROMIUM.exists():
        unavailable(f"{CHROMIUM} is not installed")
    database = tmp_path_factory.mktemp("scanned") / "utsyn.db"
    upgrade(f"sqlite:///{database}")
    engine = make_engine(f"sqlite:///{database}")
    manifest = load_scenario("demo")
    with session_factory(engine)() as session:
        upsert_organisations(session, records_from_manifest(manifest), "lab:demo", now_utc())
        asyncio.run(scan_and_store(session, from_manifest(manifest), lab_config(demo_lab)))
        users.add_user(
            session, ANALYST, hash_password(PASSWORD), "national_analyst", None, now_utc()
        )
    engine.dispose()
    return database


@pytest.fixture(scope="module")
def base_url(scanned: Path) -> Iterator[str]:
    with served(scanned) as url:
        yield url


def _worst(database: Path) -> tuple[str, ActionPlan]:
    """The lowest score; of equals, the one with the most findings."""
    engine = make_engine(f"sqlite:///{database}")
    with session_factory(engine)() as session:
        findings = (
            select(func.count())
            .where(Finding.org_id == Organisation.id, Finding.resolved.is_(None))
            .scalar_subquery()
        )
        orgnr = session.scalars(
            select(Organisation.orgnr)
            .join(OrgLatest, OrgLatest.org_id == Organisation.id)
            .order_by(OrgLatest.score, findings.desc(), Organisation.orgnr)
        ).first()
        assert orgnr is not None
        org = organisation(session, orgnr)
        shown = shown_rating(session, org)
        assert shown is not None
        plan = action_plan(with_evidence(session, org, shown.assessment), load_rulebook())
    engine.dispose()
    return orgnr, plan


def test_the_worst_scorecard_answers_what_to_fix_first(page: Any, scanned: Path) -> None:
    orgnr, plan = _worst(scanned)
    assert plan.grade == "F" and plan.next is not None and plan.next.reached
    assert plan.potential, "a real scan finds products with potential CVEs"
    log_in_page(page, ANALYST, then=f"/org/{orgnr}")
    assert page.url.endswith(f"/org/{orgnr}")

    # The first screen: the way to the next grade and the first issues, not a wall of cards.
    assert page.locator("#next-grade").is_visible()
    visible = page.evaluate(ON_FIRST_SCREEN)
    assert 1 <= visible <= FIRST_SCREEN_MOST, visible
    assert page.evaluate("document.documentElement.scrollHeight") < 8000

    # The page's plan is the plan: issues, order, points, steps and the grade they reach.
    listed = page.locator("ol.plan > li.group")
    assert listed.evaluate_all("items => items.map(i => i.dataset.rule)") == [
        g.rule for g in plan.groups
    ]
    points = page.locator("ol.plan > li.group .recover")
    assert [float(p) for p in points.evaluate_all("ps => ps.map(p => p.dataset.points)")] == [
        g.recover for g in plan.groups
    ]
    first_points = points.first.inner_text()  # as the page writes it: "+7,7 poeng ved ..."
    assert number(first_points.split()[0].lstrip("+")) == plan.groups[0].recover
    steps = page.locator("ol.plan .step")
    assert steps.count() == len(plan.next.steps)
    for n, step in enumerate(plan.next.steps, 1):
        shown = page.locator(f"#issue-{step.rule.replace('.', '-')} .step")
        assert shown.get_attribute("data-step") == str(n)
        assert (shown.text_content() or "").endswith(number_text(step.score))
    assert page.get_attribute("#next-grade", "data-grade") == plan.next.grade
    assert f"{len(plan.next.steps)} første" in page.inner_text("#next-grade")

    # Potential vulnerabilities: one line per product, with its CVE count.
    products = page.locator("#potential li[data-product]")
    assert products.evaluate_all("items => items.map(i => i.dataset.product)") == [
        p.product for p in plan.potential
    ]
    page.click("#potential > summary")
    first = plan.potential[0]
    assert f"{len(first.cves)} CVE-er" in products.first.locator("summary").inner_text()
    products.first.locator("summary").click()  # the product's CVEs, one click further
    assert products.first.locator(".cves code").count() == len(first.cves)
    accessible(page, "plan-worst-nb")

    # Every section open: the rule texts, the evidence and the forms pass axe too.
    page.evaluate("document.querySelectorAll('#plan details').forEach(d => d.open = true)")
    assert page.locator("#plan pre.hexdump, #plan table.cookies, #plan dl.headers").count() > 0
    accessible(page, "plan-worst-nb-open", full_page=False)

    page.click("nav.languages a[lang=en]")
    page.wait_for_load_state()
    assert page.locator("#plan-heading").inner_text() == "What to fix first"
    assert page.evaluate(ON_FIRST_SCREEN) <= FIRST_SCREEN_MOST
    accessible(page, "plan-worst-en")


def test_the_filter_works_without_script(browser: Any, base_url: str, scanned: Path) -> None:
    orgnr, plan = _worst(scanned)
    context = browser.new_context(base_url=base_url, locale="nb-NO", java_script_enabled=False)
    page = context.new_page()
    try:
        log_in_page(page, ANALYST, then=f"/org/{orgnr}")
        page.select_option("#plan-area", "vulnerabilities")
        page.click("#plan-filter button[type=submit]")
        page.wait_for_load_state()
        assert "area=vulnerabilities" in page.url
        rules = [item.get_attribute("data-rule") for item in page.locator("li.group").all()]
        wanted = [g.rule for g in plan.groups + plan.advice if g.factor == "vulnerabilities"]
        assert rules == wanted and rules
        assert page.locator("#plan-shown").is_visible()
    finally:
        context.close()


def number_text(score: float) -> str:
    """A score as the bokmål page writes it."""
    return f"{score:.1f}".replace(".", ",")
