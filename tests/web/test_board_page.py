"""The board summary as a print-ready page (/org/{orgnr}/styresammendrag)."""

from __future__ import annotations

import html
import re

from fastapi.testclient import TestClient
from sqlalchemy.orm import Session

from utsyn.report.board import board_data
from utsyn.rules.rulebook import load_rulebook

from .conftest import A_VIEWER, B_VIEWER, ORG_A, log_in

PAGE = f"/org/{ORG_A}/styresammendrag"


def _text_of(html: str, element_id: str) -> str:
    found = re.search(rf'id="{element_id}"[^>]*>([^<]*)<', html)
    assert found is not None, element_id
    return found.group(1).strip()


def test_the_figures_are_the_scorecards_in_bokmal(client: TestClient, session: Session) -> None:
    log_in(client, A_VIEWER)
    card = client.get(f"/org/{ORG_A}").text
    assert f'href="{PAGE}"' in card
    page = client.get(PAGE)
    assert page.status_code == 200
    text = page.text
    assert '<html lang="nb">' in text and "Cyberrisiko – styresammendrag" in text
    assert _text_of(text, "board-grade") == _text_of(card, "grade")
    assert _text_of(text, "board-score") == _text_of(card, "score")
    assert "," in _text_of(text, "board-score")
    assert 'href="/static/print.css"' in text
    assert f'href="/org/{ORG_A}/board.pdf?lang=nb"' in text
    assert "style=" not in text and "<script>" not in text


def test_the_content_is_the_pdfs_with_remediation(client: TestClient, session: Session) -> None:
    book = load_rulebook()
    data = board_data(session, ORG_A, "en", book=book)
    log_in(client, A_VIEWER)
    text = client.get(PAGE, params={"lang": "en"}).text
    assert '<html lang="en">' in text and "Cyber risk – board summary" in text
    assert _text_of(text, "board-score") == f"{data.score:.1f}"
    assert _text_of(text, "board-grade") == data.grade
    shown = re.findall(r'<li class="risk" data-rule="([^"]+)"', text)
    assert data.risks and shown == [r.rule for r in data.risks[:5]]
    first = book.rule(shown[0])
    assert first.remediation.get("en") in html.unescape(text)
    factors = re.findall(r'<tr data-factor="([^"]+)">', text)
    assert factors == [name for name, _ in data.factors]


def test_other_organisations_are_forbidden(client: TestClient) -> None:
    log_in(client, B_VIEWER)
    assert client.get(PAGE).status_code == 403
