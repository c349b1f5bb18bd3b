"""An organisation's NIST CSF 2.0 profile: for each subcategory, what Utsyn observed.

A subcategory has a *gap* when an open or disputed finding's rule maps to it (`csf:` in the
rulebook); the findings and their points are the rating's own (`web.ratings`). A subcategory
that some rule observes but no finding touches is *no gap observed*; one that no rule maps to
is *not observable from outside* — never read as good news. Points of one finding count in
each subcategory its rule maps to, so a profile's subcategory points do not add up to the
points lost.
"""

from __future__ import annotations

import csv
import io
import json
from dataclasses import dataclass
from typing import Literal

from utsyn.frameworks.library import Framework, Node
from utsyn.i18n import N_, Language
from utsyn.rating.lifecycle import Status
from utsyn.rules.rulebook import Rulebook
from utsyn.web.ratings import ShownFinding

State = Literal["gap", "no_gap", "not_observable"]
STATE_NAMES: dict[State, str] = {
    "gap": N_("Gap observed"),
    "no_gap": N_("No gap observed"),
    "not_observable": N_("Not observable from outside"),
}
_GAPS = (Status.OPEN, Status.DISPUTED)


@dataclass(frozen=True)
class Gap:
    finding: ShownFinding
    points: float


@dataclass(frozen=True)
class Line:
    node: Node
    state: State
    gaps: tuple[Gap, ...]

    @property
    def points(self) -> float:
        return round(sum(g.points for g in self.gaps), 2)


def profile(csf: Framework, book: Rulebook, shown: list[ShownFinding]) -> tuple[Line, ...]:
    """Every subcategory, in the framework's order, with its state and gaps."""
    observed = {ref_id for rule in book.rules for ref_id in rule.csf}
    gaps: dict[str, list[Gap]] = {}
    for finding in shown:
        if finding.status in _GAPS and book.has(finding.row.rule):
            points = finding.impact.points if finding.impact else 0.0
            for ref_id in book.rule(finding.row.rule).csf:
                gaps.setdefault(ref_id, []).append(Gap(finding, points))
    lines = []
    for node in csf.of_kind("subcategory"):
        found = tuple(sorted(gaps.get(node.ref_id, ()), key=lambda g: -g.points))
        state: State = "gap" if found else "no_gap" if node.ref_id in observed else "not_observable"
        lines.append(Line(node, state, found))
    return tuple(lines)


def as_json(orgnr: str, lines: tuple[Line, ...], book: Rulebook, lang: Language) -> str:
    data = {
        "orgnr": orgnr,
        "framework": "nist-csf-2.0",
        "subcategories": [
            {
                "ref_id": line.node.ref_id,
                "text": line.node.description.get(lang),
                "state": line.state,
                "points": line.points,
                "findings": [_finding(g, book, lang) for g in line.gaps],
            }
            for line in lines
        ],
    }
    return json.dumps(data, ensure_ascii=False, indent=1)


CSV_COLUMNS = (
    "subcategory",
    "state",
    "subcategory_points",
    "rule",
    "title",
    "asset",
    "status",
    "points",
)


def as_csv(lines: tuple[Line, ...], book: Rulebook, lang: Language) -> str:
    """One row per finding behind a gap, and one row for each subcategory without a gap."""
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(CSV_COLUMNS)
    for line in lines:
        head = [line.node.ref_id, line.state, line.points]
        if not line.gaps:
            writer.writerow([*head, "", "", "", "", ""])
        for gap in line.gaps:
            f = _finding(gap, book, lang)
            writer.writerow([*head, f["rule"], f["title"], f["asset"], f["status"], f["points"]])
    return out.getvalue()


def _finding(gap: Gap, book: Rulebook, lang: Language) -> dict[str, str | float]:
    row = gap.finding.row
    return {
        "rule": row.rule,
        "title": book.rule(row.rule).title.get(lang),
        "asset": row.asset,
        "status": str(gap.finding.status),
        "points": round(gap.points, 2),
    }
