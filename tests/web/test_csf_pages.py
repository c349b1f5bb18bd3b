"""The public NIST CSF 2.0 pages: no login, bokmål and English, an anchor per subcategory, the
rulebook's rules under the subcategories they map to, and search in both languages."""

from __future__ import annotations

import re

import pytest
from fastapi.testclient import TestClient

from utsyn.frameworks.library import load_framework
from utsyn.frameworks.search import index
from utsyn.rules.rulebook import load_rulebook
from utsyn.web.pages_csf import rules_by_subcategory


def _hit_ids(html: str) -> list[str]:
    hits = html.split('class="csf-hits"', 1)
    return (
        re.findall(r'<li><a href="/csf/[^"]+">([A-Z]{2}[A-Z.\d-]*)</a>', hits[1])
        if len(hits) > 1
        else []
    )


def test_the_index_is_public_and_lists_every_function_and_category(client: TestClient) -> None:
    page = client.get("/csf?lang=nb")
    assert page.status_code == 200
    csf = load_framework()
    for node in csf.of_kind("function") + csf.of_kind("category"):
        assert f'href="/csf/{node.ref_id}"' in page.text
    assert "Styre" in page.text and "Gjenopprette" in page.text
    assert "leverandørkjede" in page.text  # the glossary
    english = client.get("/csf?lang=en")
    assert "Recover" in english.text and "Gjenopprette" not in english.text.split("Glossary")[0]


@pytest.mark.parametrize("lang", ["nb", "en"])
def test_a_category_has_an_anchor_per_subcategory_with_its_text_and_rules(
    client: TestClient, lang: str
) -> None:
    csf = load_framework()
    page = client.get(f"/csf/PR.DS?lang={lang}")
    assert page.status_code == 200
    assert f'<html lang="{lang}">' in page.text
    for sub in csf.children("PR.DS"):
        assert f'id="{sub.ref_id}"' in page.text
        assert sub.description.get(lang) in page.text
    mapped = rules_by_subcategory(load_rulebook())["PR.DS-02"]
    assert mapped, "the rulebook maps TLS rules to PR.DS-02"
    section = page.text.split('id="PR.DS-02"', 1)[1].split("</section>", 1)[0]
    for rule in mapped:
        assert f"<code>{rule.id}</code>" in section
    assert "tls.protocol.ssl3" in section


def test_a_function_page_holds_its_categories_and_subcategories(client: TestClient) -> None:
    page = client.get("/csf/GV?lang=nb")
    assert page.status_code == 200
    assert 'id="GV.OC"' in page.text and 'id="GV.OC-01"' in page.text
    assert 'id="GV.SC-10"' in page.text and 'id="ID.AM-01"' not in page.text


def test_untranslated_examples_show_the_english_marked(client: TestClient) -> None:
    csf = load_framework()
    missing = [e for n in csf.nodes for e in n.examples if e.nb is None]
    page = client.get("/csf/alle?lang=nb")
    assert page.status_code == 200
    assert page.text.count('id="') >= 134
    assert page.text.count("ikke oversatt ennå") == len(missing)
    for example in csf.node("GV.OC-01").examples:
        assert example.get("nb") in page.text.replace("&#39;", "'")


def test_a_subcategory_id_leads_to_its_anchor_and_an_unknown_id_is_404(
    client: TestClient,
) -> None:
    found = client.get("/csf/gv.oc-01", follow_redirects=False)
    assert found.status_code == 303
    assert found.headers["location"] == "/csf/GV.OC#GV.OC-01"
    assert client.get("/csf/PR.AC", headers={"accept": "text/html"}).status_code == 404


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("sikkerhetskopier", "PR.DS-11"),  # bokmål
        ("backups", "PR.DS-11"),  # English
        ("leverandørkjeden", "GV.SC"),
        ("supply chain", "GV.SC"),
        ("sårbarheter", "ID.RA-01"),
        ("kompromitteringsindikatorer", "DE.CM"),
        ("GV.OC-01", "GV.OC-01"),
    ],
)
def test_search_finds_a_node_by_a_bokmal_or_english_word(
    client: TestClient, query: str, expected: str
) -> None:
    page = client.get("/csf/sok", params={"q": query, "lang": "nb"})
    assert page.status_code == 200
    assert expected in _hit_ids(page.text)
    assert _hit_ids(page.text) == [n.ref_id for n in index().search(query)]


def test_search_ranks_and_refuses_nothing_silently(client: TestClient) -> None:
    assert index().search("backups")[0].ref_id == "PR.DS-11"
    assert index().search("GV.OC-01")[0].ref_id == "GV.OC-01"
    assert index().search("x") == ()  # one letter: no words
    none = client.get("/csf/sok", params={"q": "zzqqxx", "lang": "en"})
    assert none.status_code == 200 and "Nothing in the framework" in none.text
    assert client.get("/csf/sok", params={"q": "a" * 201}).status_code == 422
