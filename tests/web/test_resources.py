"""The public security resources page: kept as data (data/resources.yaml), every entry in both
languages with an https address, publisher and date; shown in bokmål and English without login,
and linked from every page's footer."""

from __future__ import annotations

from importlib.resources import files

import pytest
import yaml
from fastapi.testclient import TestClient
from markupsafe import escape

from utsyn.web.pages_resources import resources

SECTIONS = {"rammeverk", "ros", "sikkerhetstjenester", "bevissthet", "verktoy"}


def test_every_entry_has_both_languages_an_https_address_a_publisher_and_a_date() -> None:
    raw = yaml.safe_load(files("utsyn.data").joinpath("resources.yaml").read_text("utf-8"))
    assert {s["id"] for s in raw["sections"]} == SECTIONS
    for section in raw["sections"]:
        for key in ("title", "intro"):
            assert section[key]["nb"].strip() and section[key]["en"].strip()
        assert section["entries"], section["id"]
        for entry in section["entries"]:
            for key in ("title", "description"):
                assert entry[key]["nb"].strip() and entry[key]["en"].strip(), entry["url"]
            assert entry["url"].startswith("https://"), entry["url"]
            assert entry["publisher"].strip() and str(entry["source_date"]).startswith("20")
    loaded = resources()
    assert sum(len(s.entries) for s in loaded) == sum(len(s["entries"]) for s in raw["sections"])


@pytest.mark.parametrize("lang", ["nb", "en"])
def test_the_page_shows_every_entry_in_the_language_asked(client: TestClient, lang: str) -> None:
    page = client.get(f"/ressurser?lang={lang}")
    assert page.status_code == 200  # public: no login asked
    assert f'<html lang="{lang}">' in page.text
    assert ("Sikkerhetsressurser" if lang == "nb" else "Security resources") in page.text
    other = "en" if lang == "nb" else "nb"
    for section in resources():
        assert f'id="{section.id}"' in page.text
        assert escape(section.title.get(lang)) in page.text
        for entry in section.entries:
            assert f'<a href="{entry.url}">{escape(entry.title.get(lang))}</a>' in page.text
            assert escape(entry.description.get(lang)) in page.text
            assert escape(entry.description.get(other)) not in page.text
    assert 'href="/csf"' in page.text and 'href="/csf/nsm"' in page.text


def test_every_page_links_to_the_resources_from_its_footer(client: TestClient) -> None:
    for path in ("/csf?lang=nb", "/ressurser?lang=en"):
        footer = client.get(path).text.split('<footer class="site">', 1)[1]
        assert 'href="/ressurser"' in footer and 'href="/csf"' in footer
