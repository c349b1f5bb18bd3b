"""The rulebook and the outcome table agree, like the HTTP Observatory's enum and score table."""

from __future__ import annotations

import pytest

from utsyn.errors import ConfigError
from utsyn.lab.expected import expected_results
from utsyn.lab.scenarios import load_scenario
from utsyn.rules.outcomes import (
    PASSING,
    VULNERABILITY_OUTCOMES,
    Outcome,
    classify,
    factor_of,
)
from utsyn.rules.rulebook import Role, Rulebook, csf_subcategories, load_rulebook


def test_every_outcome_is_passing_or_mapped_by_exactly_one_rule() -> None:
    book = load_rulebook()
    mapped = [o for rule in book.rules if rule.variant_of is None for o in rule.outcomes]
    assert len(mapped) == len(set(mapped))
    assert set(mapped).isdisjoint(PASSING)
    assert set(mapped) | PASSING == set(Outcome)


def test_every_outcome_is_produced_by_the_demo_ground_truth() -> None:
    """Every rule can be produced by some check: the demo lab holds a case of each outcome."""
    produced = {hit.outcome for r in expected_results(load_scenario("demo")) for hit in classify(r)}
    assert set(Outcome) - produced == VULNERABILITY_OUTCOMES  # see tests/scan/test_pipeline


def test_rules_are_bilingual_cited_and_mapped_to_csf() -> None:
    book = load_rulebook()
    known = csf_subcategories()
    assert len(known) == 106  # NIST CSWP 29: 106 active subcategories in CSF 2.0
    for rule in book.rules:
        assert rule.title.nb != rule.title.en, rule.id
        assert set(rule.csf) <= known, rule.id
        assert factor_of(rule.outcomes[0]) == rule.factor


def test_a_role_has_its_own_rule_only_where_the_rulebook_says_why() -> None:
    """TLS on port 25 is opportunistic (RFC 7435): anonymous suites cost a web site 20
    points and a mail server nothing; a login page is held to more than a web site."""
    book = load_rulebook()
    anon = book.rule_for(Outcome.TLS_ANON, Role.MAIL_TRANSFER)
    assert anon is not None and anon.id == "tls.cipher.anon.mail_transfer"
    assert anon.points == 0 and book.rule("tls.cipher.anon").points == 20
    assert anon.cap is None and "RFC 7435" in anon.references
    assert "opportunistisk" in anon.description.nb and "opportunistic" in anon.description.en
    tls10 = book.rule_for(Outcome.TLS_TLS10, Role.PASSWORD)
    assert tls10 is not None and tls10.points > book.rule("tls.protocol.tls10").points
    # No variant for this role: the rule itself.
    assert book.rule_for(Outcome.HSTS_MISSING, Role.PASSWORD) == book.rule("web.hsts.missing")
    assert Rulebook.model_validate(book.model_dump(mode="json")) == book  # variants once


def test_a_broken_rulebook_is_refused_with_its_reason() -> None:
    book = load_rulebook().model_dump(mode="json")
    first, second = [r for r in book["rules"] if not r["variant_of"]][:2]
    second["outcomes"] = first["outcomes"]
    with pytest.raises(ValueError, match="is mapped by"):
        Rulebook.model_validate(book)
    book = load_rulebook().model_dump(mode="json")
    book["rules"][0]["csf"] = ["PR.AC-01"]  # a CSF 1.1 id, withdrawn in 2.0
    with pytest.raises(ValueError, match=r"not NIST CSF 2\.0"):
        Rulebook.model_validate(book)


def test_loading_a_bad_file_names_it(tmp_path: pytest.TempPathFactory) -> None:
    from pathlib import Path

    bad = Path(str(tmp_path)) / "rules.yaml"
    bad.write_text("version: x\nrules: [{id: nope}]\n", "utf-8")
    with pytest.raises(ConfigError, match=r"rules\.yaml: invalid rulebook"):
        load_rulebook(bad)
