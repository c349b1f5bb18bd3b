"""docs/vocabulary.md: each outcome's check, names and rule, read from the code, kept current."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import yaml
from typer.testing import CliRunner

from utsyn.cli import app
from utsyn.lab.expected import expected_results
from utsyn.lab.scenarios import load_scenario
from utsyn.rules.outcomes import PASSING, Outcome
from utsyn.rules.rulebook import Rulebook, load_rulebook
from utsyn.rules.vocabulary import VULNERABILITY_EXAMPLES, Entry, entries

ROOT = Path(__file__).resolve().parents[2]
OUTCOMES = ROOT / "src" / "utsyn" / "rules" / "outcomes"
BOOK = load_rulebook()
# Checks a classifier reads only to decide whether to judge at all: a domain without MX
# has no mail transport to protect; includeSubDomains matters on the zone apex.
CONTEXT = {"dns.mx", "http.zone_apex"}


def _rows() -> list[Entry]:
    return entries([*expected_results(load_scenario("demo")), VULNERABILITY_EXAMPLES], BOOK)


def test_the_published_vocabulary_is_generated_from_the_code() -> None:
    printed = CliRunner().invoke(app, ["rating", "vocabulary"])
    assert printed.exit_code == 0, printed.output
    published = (ROOT / "docs" / "vocabulary.md").read_text("utf-8")
    assert published == printed.stdout, "run: utsyn rating vocabulary > docs/vocabulary.md"


def test_every_outcome_is_read_from_a_check_by_one_family_and_priced_unless_it_passes() -> None:
    rows = _rows()
    assert sorted(e.outcome for e in rows) == sorted(Outcome)  # each once, none missing
    for e in rows:
        assert len(e.modules) == 1, (e.outcome, e.modules)
        assert e.checks and "" not in e.checks, f"{e.outcome}: a hit that names no check"
        if e.outcome in PASSING:
            assert e.rules == (), e.outcome
        else:
            [base] = [r for r in e.rules if BOOK.rule(r).variant_of is None]
            assert all(r == base or BOOK.rule(r).variant_of == base for r in e.rules)


def test_the_row_for_hsts_names_all_three() -> None:
    [row] = [e for e in _rows() if e.outcome == Outcome.HSTS_MISSING]
    assert row.modules == ("http",)
    assert row.checks == ("http.header.strict-transport-security",)
    assert (row.outcome.value, row.rules) == ("web.hsts_missing", ("web.hsts.missing",))


def test_the_rulebook_names_only_outcomes_that_exist() -> None:
    """The rulebook file keys rules by outcome value; a rule id in its place is refused."""
    raw = yaml.safe_load((ROOT / "src" / "utsyn" / "rules" / "rulebook.yaml").read_text("utf-8"))
    named = {o for rule in raw["rules"] for o in rule["outcomes"]}
    assert named <= {o.value for o in Outcome}
    book = BOOK.model_dump(mode="json")
    book["rules"][0]["outcomes"] = [*book["rules"][0]["outcomes"], "web.hsts.missing"]
    with pytest.raises(ValueError, match="outcomes"):
        Rulebook.model_validate(book)


def test_every_check_a_classifier_names_is_in_the_table_or_only_context() -> None:
    """A check the demo never turns into an outcome would be missing from the table."""
    check = re.compile(r'"((?:tls|http|dns|smtp|imap|pop3|mail|ssh|service|vuln)\.[a-z0-9_.-]+)"')
    named = {
        name
        for module in OUTCOMES.glob("*.py")
        if module.name not in ("model.py", "view.py", "__init__.py")
        for name in check.findall(module.read_text("utf-8"))
    }
    assert len(named) > 50
    listed = {c for e in _rows() for c in e.checks}
    assert named - CONTEXT == listed
