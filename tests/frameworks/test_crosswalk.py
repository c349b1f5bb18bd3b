"""NSM's Grunnprinsipper 2.1 against NIST CSF 2.0: every principle present with both languages,
every principle mapped, and every id at both ends of the mapping known to its framework."""

from __future__ import annotations

import pytest

from utsyn.errors import ConfigError
from utsyn.frameworks.crosswalk import NSM_PRINCIPLES, crosswalk
from utsyn.frameworks.library import NIST_CSF, load_framework, parse_framework

PRINCIPLES_PER_CATEGORY = {"1": 3, "2": 10, "3": 4, "4": 4}


def test_the_four_categories_and_21_principles_are_there_in_both_languages() -> None:
    nsm = load_framework(NSM_PRINCIPLES)
    categories = nsm.children(None)
    assert [c.ref_id for c in categories] == ["1", "2", "3", "4"]
    assert categories[0].name is not None and categories[0].name.nb == "Identifisere og kartlegge"
    for category in categories:
        principles = nsm.children(category.ref_id)
        assert len(principles) == PRINCIPLES_PER_CATEGORY[category.ref_id]
        expected = [f"{category.ref_id}.{i}" for i in range(1, len(principles) + 1)]
        assert [p.ref_id for p in principles] == expected
        for principle in principles:
            assert principle.name is not None and principle.name.nb != principle.name.en
    assert nsm.node("2.10").title("nb") == "Integrer sikkerhet i prosess for endringshåndtering"


def test_every_mapped_id_resolves_and_every_principle_maps_to_a_subcategory() -> None:
    nsm, csf = load_framework(NSM_PRINCIPLES), load_framework(NIST_CSF)
    (mapping,) = nsm.mappings
    assert mapping.target == NIST_CSF and "not" in mapping.source and "NSM" in mapping.source
    for principle, subcategory in mapping.pairs:
        assert nsm.node(principle).depth == 2
        assert csf.node(subcategory).kind == "subcategory"
    walk = crosswalk()
    for principle in nsm.of_kind("category"):
        assert walk.targets(principle.ref_id), principle.ref_id
    assert [n.ref_id for n in walk.targets("2.9")] == ["PR.DS-11", "RC.RP-03"]
    assert "2.9" in [n.ref_id for n in walk.sources("PR.DS-11")]
    assert walk.sources("GV.OV-01") == ()


def test_a_mapping_to_an_unknown_subcategory_is_a_config_error(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    nsm = load_framework(NSM_PRINCIPLES)
    broken = {
        "library": {
            "ref_id": "broken",
            "name": {"en": "Broken", "nb": "Ødelagt"},
            "version": "1",
            "translation_version": "1",
            "publisher": "test",
            "source": "test",
            "source_date": "2026",
            "licence": "test",
        },
        "nodes": [
            {
                "ref_id": "1",
                "parent": None,
                "depth": 1,
                "name": {"en": "A", "nb": "A"},
                "description": {"en": "a", "nb": "a"},
            },
        ],
        "mappings": [
            {
                "target": NIST_CSF,
                "source": "test",
                "relation": "intersect",
                "pairs": [{"from": "1", "to": "GV.XX-99"}],
            },
        ],
    }
    framework = parse_framework(broken)
    real = load_framework

    def loading(ref_id: str = NIST_CSF) -> object:
        return framework if ref_id == "broken" else real(ref_id)

    monkeypatch.setattr("utsyn.frameworks.crosswalk.load_framework", loading)
    with pytest.raises(ConfigError) as raised:
        crosswalk("broken", NIST_CSF)
    assert "GV.XX-99" in str(raised.value.values)
    assert nsm.mappings  # the shipped library is untouched
