"""The NIST CSF 2.0 library: complete in both languages, true to NIST's core, and the one the
rulebook's `csf:` mappings resolve against."""

from __future__ import annotations

import copy
import csv
import re
from importlib.resources import files
from typing import Any

import pytest
import yaml

from utsyn.errors import ConfigError
from utsyn.frameworks.glossary import glossary
from utsyn.frameworks.library import NIST_CSF, Framework, load_framework, parse_framework
from utsyn.rules.rulebook import Rulebook, load_rulebook

LIBRARY = files("utsyn.data").joinpath("frameworks", f"{NIST_CSF}.yaml")


def _nist_rows() -> list[dict[str, str]]:
    """NIST's core, one row per subcategory (data/csf, derived from the OSCAL catalogue)."""
    text = files("utsyn.data").joinpath("csf", "nist_csf_2.0_core.csv").read_text("utf-8")
    return [r for r in csv.DictReader(text.splitlines()) if r["withdrawn"] == "False"]


@pytest.fixture(scope="module")
def csf() -> Framework:
    return load_framework()


def test_counts_ids_and_parents_match_nist(csf: Framework) -> None:
    rows = _nist_rows()
    functions = {r["function_id"]: r["function_name"] for r in rows}
    categories = {r["category_id"]: (r["function_id"], r["category_name"]) for r in rows}
    subcategories = {r["subcategory_id"]: (r["category_id"], r["subcategory_text"]) for r in rows}
    assert (len(functions), len(categories), len(subcategories)) == (6, 22, 106)
    assert {n.ref_id: n.name.en.upper() for n in csf.of_kind("function") if n.name} == functions
    assert {
        n.ref_id: (n.parent, n.name.en) for n in csf.of_kind("category") if n.name
    } == categories
    assert {
        n.ref_id: (n.parent, n.description.en) for n in csf.of_kind("subcategory")
    } == subcategories
    assert len(csf.nodes) == 6 + 22 + 106
    assert [n.ref_id for n in csf.children(None)] == ["GV", "ID", "PR", "DE", "RS", "RC"]
    assert [n.ref_id for n in csf.ancestors("GV.OC-01")] == ["GV", "GV.OC"]


def test_every_node_is_complete_in_bokmal_and_english(csf: Framework) -> None:
    for node in csf.nodes:
        texts = [node.description] + ([node.name] if node.name else [])
        for text in texts:
            assert text.en.strip() and text.nb.strip(), node.ref_id
            assert text.nb != text.en, f"{node.ref_id}: English copied as bokmål"
            assert not re.search(r"\b(the|and|of|are|is)\b", text.nb), node.ref_id
        if node.kind == "subcategory":
            assert node.examples, node.ref_id
            assert all(e.en.strip() for e in node.examples), node.ref_id
        else:
            assert node.name is not None and not node.examples, node.ref_id
    bokmal = " ".join(n.description.nb for n in csf.nodes)
    assert re.search("[æøå]", bokmal)
    names = {n.ref_id: n.name.nb for n in csf.of_kind("function") if n.name}
    assert names == {
        "GV": "Styre",
        "ID": "Identifisere",
        "PR": "Beskytte",
        "DE": "Oppdage",
        "RS": "Håndtere",
        "RC": "Gjenopprette",
    }


def test_translated_examples_are_bokmal_and_the_rest_fall_back_to_english(csf: Framework) -> None:
    examples = [e for n in csf.nodes for e in n.examples]
    assert len(examples) == 363  # NIST's implementation examples for the 106 subcategories
    for example in examples:
        if example.nb is None:
            assert not example.translated("nb") and example.get("nb") == example.en
        else:
            assert example.get("nb") == example.nb != example.en, example.ref_id
        assert example.get("en") == example.en


def test_glossary_terms_are_used_consistently(csf: Framework) -> None:
    """Where a translated text's English has a glossary term, its bokmål has the bokmål term."""
    pairs = [(t.en, t.nb) for n in csf.nodes for t in [n.description, n.name] if t is not None]
    pairs += [(e.en, e.nb) for n in csf.nodes for e in n.examples if e.nb is not None]
    terms = glossary().terms
    assert len(terms) > 40 and len({t.en for t in terms}) == len(terms)
    misses = [
        f"{term.en} → {term.nb}: {nb}"
        for en, nb in pairs
        for term in terms
        if term.in_english(en) and not term.in_bokmal(nb)
    ]
    assert misses == []
    used = {t.en for t in terms if any(t.in_english(en) for en, _ in pairs)}
    assert used == {t.en for t in terms}, "a glossary term no text uses"


def test_every_rule_maps_to_a_subcategory_of_the_library(csf: Framework) -> None:
    book = load_rulebook()
    mapped = {c for rule in book.rules for c in rule.csf}
    assert len(mapped) > 10
    for rule in book.rules:
        for ref_id in rule.csf:
            assert csf.has(ref_id) and csf.node(ref_id).kind == "subcategory", (rule.id, ref_id)


def test_the_rulebook_rejects_an_id_the_library_lacks() -> None:
    text = files("utsyn.rules").joinpath("rulebook.yaml").read_text("utf-8")
    book = yaml.safe_load(text)
    book["rules"][0]["csf"] = ["GV.OC"]  # a category, not a subcategory
    with pytest.raises(ValueError, match="not NIST CSF 2\\.0 subcategories"):
        Rulebook.model_validate(book)


@pytest.fixture(scope="module")
def raw() -> dict[str, Any]:
    data: dict[str, Any] = yaml.safe_load(LIBRARY.read_text("utf-8"))
    return data


@pytest.mark.parametrize(
    ("change", "reason"),
    [
        (lambda d: d["nodes"][1]["description"].pop("nb"), "nb"),
        (lambda d: d["nodes"][1]["name"].update(nb=" "), "missing or empty"),
        (lambda d: d["nodes"][2].update(parent="XX.YY"), "does not fit its parent"),
        (lambda d: d["nodes"][2].update(parent="GV"), "not one level up"),
        (lambda d: d["nodes"].append(d["nodes"][0]), "a second node"),
        (
            lambda d: d["mappings"].append(
                {
                    "target": "x",
                    "source": "y",
                    "relation": "equal",
                    "pairs": [{"from": "ZZ", "to": "1"}],
                }
            ),
            "unknown nodes",
        ),
    ],
)
def test_a_broken_library_is_refused_naming_the_problem(
    raw: dict[str, Any], change: Any, reason: str
) -> None:
    data = copy.deepcopy(raw)
    change(data)
    with pytest.raises((ValueError, KeyError), match=reason):
        parse_framework(data)


def test_an_unknown_library_is_a_config_error() -> None:
    with pytest.raises(ConfigError, match="no framework library"):
        load_framework("nist-csf-9.9")
