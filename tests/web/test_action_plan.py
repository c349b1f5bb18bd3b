"""The action plan of the demo's worst organisation: the scorecard, `utsyn rating plan` and
the board summary give the same issues, in the same order, with the same numbers."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine, select
from sqlalchemy.orm import Session

from utsyn.rating.actions import ActionPlan, action_plan
from utsyn.report.board import board_data
from utsyn.report.labels import number
from utsyn.rules.rulebook import load_rulebook
from utsyn.store.assessments import shown_rating, with_evidence
from utsyn.store.models import Organisation, OrgLatest
from utsyn.store.orgs import organisation

from .conftest import ANALYST, log_in

BOOK = load_rulebook()
_RULE = re.compile(r'<li class="group[^"]*" id="issue-[^"]+" data-rule="([^"]+)">')
_POINTS = re.compile(r'class="recover[^"]*" data-points="([^"]+)"')
_STEP = re.compile(r'class="step" data-step="(\d+)" data-score="([^"]+)"')


@dataclass(frozen=True)
class Worst:
    orgnr: str
    plan: ActionPlan


@pytest.fixture
def worst(session: Session) -> Worst:
    """The organisation with the lowest score, and its plan from what the store holds."""
    orgnr = session.scalars(
        select(Organisation.orgnr)
        .join(OrgLatest, OrgLatest.org_id == Organisation.id)
        .order_by(OrgLatest.score, Organisation.orgnr)
    ).first()
    assert orgnr is not None
    org = organisation(session, orgnr)
    shown = shown_rating(session, org)
    assert shown is not None and shown.rating.grade == "F"
    return Worst(orgnr, action_plan(with_evidence(session, org, shown.assessment), BOOK))


def _page_groups(text: str) -> list[tuple[str, float, int | None, float | None]]:
    """Each issue the page lists costing points: rule, points when fixed, step and score."""
    found = []
    for item in text.split('<li class="group')[1:]:
        rule, points = _RULE.match('<li class="group' + item), _POINTS.search(item)
        if rule is None or points is None:
            continue  # advice: costs nothing, so no points line
        step = _STEP.search(item.split("</li>")[0])
        at = (int(step[1]), float(step[2])) if step else (None, None)
        found.append((rule[1], float(points[1]), *at))
    return found


def _expected(plan: ActionPlan) -> list[tuple[str, float, int | None, float | None]]:
    steps = {s.rule: (n, s.score) for n, s in enumerate(plan.next.steps if plan.next else (), 1)}
    return [(g.rule, g.recover, *steps.get(g.rule, (None, None))) for g in plan.groups]


def test_the_scorecard_shows_the_plan_in_order_with_the_next_grade(
    client: TestClient, worst: Worst
) -> None:
    plan = worst.plan
    assert plan.next is not None and plan.next.reached and len(plan.next.steps) > 1
    log_in(client, ANALYST)
    page = client.get(f"/org/{worst.orgnr}", params={"lang": "en"})
    assert page.status_code == 200
    assert _page_groups(page.text) == _expected(plan)
    last = plan.next.steps[-1]
    assert (
        f'id="next-grade" class="next-grade" data-grade="{plan.next.grade}" '
        f'data-steps="{len(plan.next.steps)}" data-score="{last.score}"'
    ) in page.text
    assert (
        f"To reach {plan.next.grade}, fix the first {len(plan.next.steps)} issues below, in "
        f"order: the score becomes {number(last.score, 'en')}."
    ) in page.text
    first = page.text[: page.text.index('id="plan-rest"')]
    assert first.count('<li class="group') == 10  # the rest waits behind one click
    nb = client.get(f"/org/{worst.orgnr}", params={"lang": "nb"}).text
    assert f"så blir scoren {number(last.score, 'nb')}." in nb


def test_the_filter_keeps_the_plans_numbers(client: TestClient, worst: Worst) -> None:
    log_in(client, ANALYST)
    page = client.get(f"/org/{worst.orgnr}", params={"area": "web", "lang": "en"})
    shown = _page_groups(page.text)
    web = [
        e
        for e, g in zip(_expected(worst.plan), worst.plan.groups, strict=True)
        if g.factor == "web"
    ]
    assert shown == web and 0 < len(shown) < len(worst.plan.groups)
    assert f"Showing {len(web)} of {len(worst.plan.groups)} issues that cost points." in page.text
    high = _page_groups(client.get(f"/org/{worst.orgnr}?severity=high").text)
    assert [r for r, *_ in high] == [g.rule for g in worst.plan.groups if g.severity == "high"]
    for bad in ({"area": "nope"}, {"severity": "urgent"}):
        assert client.get(f"/org/{worst.orgnr}", params=bad).status_code == 400


def test_the_command_line_and_the_board_agree(
    worst: Worst, engine: Engine, session: Session, tmp_path: Path
) -> None:
    plan = worst.plan
    assert plan.next is not None
    env = {**os.environ, "UTSYN_DATABASE_URL": str(engine.url), "COLUMNS": "250",
           "UTSYN_DATA_DIR": str(tmp_path)}  # fmt: skip
    for lang in ("en", "nb"):
        out = subprocess.run(
            [sys.executable, "-m", "utsyn", "rating", "plan", "--org", worst.orgnr, "--lang", lang],
            capture_output=True, text=True, timeout=120, env=env,
        )  # fmt: skip
        assert out.returncode == 0, out.stderr
        gains = re.findall(r"^\s*(\d+)\. (.+?)  \+([\d.,]+) ", out.stdout, re.M)
        assert [(int(n), t, g) for n, t, g in gains] == [
            (n, BOOK.rule(g.rule).title.get(lang), number(g.recover, lang))
            for n, g in enumerate(plan.groups, 1)
        ]
        steps = re.findall(r"(?:Step|Steg) (\d+) (?:towards|mot) (\w): [^\d]+([\d.,]+)", out.stdout)
        assert steps == [
            (str(n), plan.next.grade, number(s.score, lang))
            for n, s in enumerate(plan.next.steps, 1)
        ]
    board = board_data(session, worst.orgnr, "en")
    assert [(r.rule, r.recover, r.step) for r in board.risks] == [
        (rule, points, step) for rule, points, step, _ in _expected(plan)
    ]
    assert board.next_grade is not None
    assert (board.next_grade.grade, board.next_grade.steps, board.next_grade.score) == (
        plan.next.grade,
        len(plan.next.steps),
        plan.next.steps[-1].score,
    )
