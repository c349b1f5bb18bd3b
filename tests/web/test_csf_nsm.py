"""NSM's Grunnprinsipper 2.1 beside CSF 2.0 on the public pages: /csf/nsm lists every principle
with its subcategories, and a subcategory's section names the principles mapped to it."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient
from markupsafe import escape

from utsyn.frameworks.crosswalk import crosswalk


@pytest.mark.parametrize("lang", ["nb", "en"])
def test_the_nsm_page_lists_every_principle_with_its_subcategories(
    client: TestClient, lang: str
) -> None:
    page = client.get(f"/csf/nsm?lang={lang}")
    assert page.status_code == 200
    assert f'<html lang="{lang}">' in page.text
    walk = crosswalk()
    for principle in walk.source.of_kind("category"):
        row = page.text.split(f'<tr id="nsm-{principle.ref_id}">', 1)[1].split("</tr>", 1)[0]
        assert escape(principle.title(lang)) in row
        for subcategory in walk.targets(principle.ref_id):
            assert f'href="/csf/{subcategory.parent}#{subcategory.ref_id}"' in row
    own_reading = "Utsyns egen tolkning" if lang == "nb" else "Utsyn's own reading"
    assert own_reading in page.text


def test_a_subcategory_names_its_nsm_principles(client: TestClient) -> None:
    page = client.get("/csf/PR.DS?lang=nb")
    section = page.text.split('id="PR.DS-11"', 1)[1].split("</section>", 1)[0]
    assert "NSMs grunnprinsipper for IKT-sikkerhet" in section
    assert '<a href="/csf/nsm#nsm-2.9">2.9 Etabler evne til gjenoppretting av data</a>' in section
    english = client.get("/csf/PR.DS?lang=en").text.split('id="PR.DS-11"', 1)[1]
    assert "2.9 Be able to restore data" in english.split("</section>", 1)[0]
    unmapped = client.get("/csf/GV.OV?lang=nb").text
    assert "/csf/nsm#" not in unmapped  # no principle maps to oversight
    index = client.get("/csf?lang=nb").text
    assert 'href="/csf/nsm"' in index
