"""The board summary PDF of demo organisations, read back with poppler (pdftotext, pdfinfo)."""

from __future__ import annotations

import re
import shutil
import subprocess
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy.orm import Session
from typer.testing import CliRunner

from utsyn.cli.report import app as report_app
from utsyn.errors import ConfigError
from utsyn.rating.model import grade_for
from utsyn.report.board import (
    MAX_PAGES,
    SECTOR_MIN_ORGS,
    board_data,
    board_pdf,
    first_sentence,
    render_html,
)
from utsyn.report.labels import number
from utsyn.rules.rulebook import load_rulebook
from utsyn.settings import get_settings

from .conftest import FEATURED, HOSTILE_HOST, NEW_RULES, RESOLVED, DemoStore

ARTIFACTS = Path(__file__).resolve().parents[2] / "artifacts"
pytestmark = pytest.mark.skipif(shutil.which("pdftotext") is None, reason="needs poppler-utils")


def pdf_text(pdf: bytes, tmp_path: Path) -> str:
    path = tmp_path / "board.pdf"
    path.write_bytes(pdf)
    out = subprocess.run(["pdftotext", "-layout", str(path), "-"], capture_output=True, check=True)
    return out.stdout.decode("utf-8")


def pdf_pages(pdf: bytes, tmp_path: Path) -> int:
    path = tmp_path / "pages.pdf"
    path.write_bytes(pdf)
    info = subprocess.run(["pdfinfo", str(path)], capture_output=True, check=True, text=True)
    match = re.search(r"^Pages:\s+(\d+)", info.stdout, re.MULTILINE)
    assert match is not None
    return int(match.group(1))


def flat(text: str) -> str:
    """pdftotext wraps lines; compare with whitespace collapsed."""
    return " ".join(text.split())


@pytest.mark.parametrize("lang", ["nb", "en"])
def test_board_pdf_shows_grade_score_risks_and_version(
    session: Session, demo_store: DemoStore, tmp_path: Path, lang: str
) -> None:
    data = board_data(session, FEATURED, lang, now=demo_store.now)
    pdf = board_pdf(session, FEATURED, lang, now=demo_store.now)
    assert pdf.startswith(b"%PDF")
    assert pdf_pages(pdf, tmp_path) <= MAX_PAGES
    text = flat(pdf_text(pdf, tmp_path))
    assert "Åsmyra kommune" in text
    assert number(data.score, lang) in text and data.grade in text
    assert data.rulebook_version == load_rulebook().version
    assert (
        f"Regelbok {data.rulebook_version}" in text or f"Rulebook {data.rulebook_version}" in text
    )
    for risk in data.risks[:3]:  # what it means, in the leaders' words, and what fixing gives
        assert flat(risk.meaning) in text
        assert number(risk.recover, lang) in text
    # The sector threshold is stated, whether or not the average is shown.
    assert str(SECTOR_MIN_ORGS) in text
    if lang == "nb":
        assert all(letter in text for letter in "æøå")
        assert "De viktigste risikoene" in text and "Endringer siden forrige rapport" in text
    else:
        assert "The most important risks" in text and "Changes since the previous report" in text


def test_page_one_is_kept_as_an_artefact_to_look_at(
    session: Session, demo_store: DemoStore, tmp_path: Path
) -> None:
    pdf = board_pdf(session, FEATURED, "nb", now=demo_store.now)
    (tmp_path / "board.pdf").write_bytes(pdf)
    ARTIFACTS.mkdir(exist_ok=True)
    (ARTIFACTS / "board-nb.pdf").write_bytes(pdf)
    prefix = ARTIFACTS / "board-nb-page"
    subprocess.run(
        ["pdftoppm", "-png", "-r", "80", "-f", "1", "-l", "1", str(tmp_path / "board.pdf"),
         str(prefix)],
        check=True,
    )  # fmt: skip
    pngs = list(ARTIFACTS.glob("board-nb-page*.png"))
    assert pngs and pngs[0].read_bytes().startswith(b"\x89PNG")


def test_text_from_a_scanned_server_is_escaped(session: Session, demo_store: DemoStore) -> None:
    data = board_data(session, FEATURED, "nb", now=demo_store.now)
    assert any(HOSTILE_HOST in risk.assets for risk in data.risks[:5])
    html = render_html(data)
    assert "<b onmouseover" not in html
    assert "&lt;b onmouseover=&#34;x&#34;&gt;evil&lt;/b&gt;" in html


def test_hostile_asset_name_is_printed_as_text(
    session: Session, demo_store: DemoStore, tmp_path: Path
) -> None:
    text = flat(pdf_text(board_pdf(session, FEATURED, "en", now=demo_store.now), tmp_path))
    assert '<b onmouseover="x">evil</b>.asmyra.test:443' in text


def test_changes_since_the_previous_report(session: Session, demo_store: DemoStore) -> None:
    data = board_data(session, FEATURED, "en", now=demo_store.now)
    changes = data.changes
    assert changes.since == demo_store.previous_day
    assert changes.before == demo_store.previous_score
    by_rule = {c.rule: c for c in changes.rules}
    for rule in NEW_RULES:
        assert by_rule[rule].new == 1 and by_rule[rule].effect is not None
        assert by_rule[rule].effect < 0  # it costs points now
    for rule, _asset in RESOLVED:
        assert by_rule[rule].resolved == 1 and by_rule[rule].new == 0
        assert by_rule[rule].effect is not None and by_rule[rule].effect > 0
    # Issues present before and now, unchanged, are not news.
    assert len(changes.rules) == len(NEW_RULES) + len(RESOLVED)


def test_changes_since_a_given_date_use_the_rating_before_it(
    session: Session, demo_store: DemoStore
) -> None:
    since = demo_store.now.date() - timedelta(days=100)
    data = board_data(session, FEATURED, "en", since=since, now=demo_store.now)
    assert data.changes.since == since
    assert data.changes.before is not None and data.changes.before < demo_store.previous_score


def test_trend_covers_the_year_and_ends_with_the_rating_now(
    session: Session, demo_store: DemoStore
) -> None:
    data = board_data(session, FEATURED, "nb", now=demo_store.now)
    assert len(data.trend) == 12
    assert data.trend[-1].day == data.rated_on and data.trend[-1].score == data.score
    assert (data.trend[-1].day - data.trend[0].day).days < 365


def test_risks_come_from_the_rating_costliest_fix_first(
    session: Session, demo_store: DemoStore
) -> None:
    data = board_data(session, FEATURED, "nb", now=demo_store.now)
    gains = [r.recover for r in data.risks]
    assert gains == sorted(gains, reverse=True) and gains[0] > 0
    # The grade the score gives is F here, so no cap is named as its reason.
    assert grade_for(data.score) == data.grade == "F" and data.caps == ()


def test_sector_average_only_over_k_organisations(session: Session, demo_store: DemoStore) -> None:
    shown = board_data(session, FEATURED, "en", now=demo_store.now)
    assert shown.sector.orgs >= SECTOR_MIN_ORGS and shown.sector.average is not None
    hidden = board_data(
        session, FEATURED, "en", now=demo_store.now, min_sector_orgs=shown.sector.orgs + 1
    )
    assert hidden.sector.average is None
    html = render_html(hidden)
    assert "too few rated organisations" in html
    assert f"at least {shown.sector.orgs + 1} rated organisations" in html
    assert number(shown.sector.average, "en") not in html.split("Compared with")[1][:600]


def test_first_sentence_is_what_it_means() -> None:
    text = "Tjenesten godtar TLS 1.0, som ble faset ut i 2021. Den bygger på svake byggesteiner."
    assert first_sentence(text) == "Tjenesten godtar TLS 1.0, som ble faset ut i 2021."
    assert first_sentence("Use e.g. nginx. Then restart.") == "Use e.g. nginx."


def test_unrated_organisation_and_unknown_language_are_user_errors(
    session: Session, demo_store: DemoStore
) -> None:
    with pytest.raises(ConfigError, match="language"):
        board_data(session, FEATURED, "de", now=demo_store.now)
    with pytest.raises(ConfigError, match="no organisation"):
        board_data(session, "974760673", "nb", now=demo_store.now)


def test_cli_writes_the_board_pdf(
    demo_store: DemoStore, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("UTSYN_DATABASE_URL", demo_store.url)
    get_settings.cache_clear()
    try:
        out = tmp_path / "board.pdf"
        args = ["board", "--org", FEATURED, "--lang", "en", "-o", str(out)]
        result = CliRunner().invoke(report_app, args)
        assert result.exit_code == 0, result.output
        assert "Åsmyra kommune" in flat(pdf_text(out.read_bytes(), tmp_path))
    finally:
        get_settings.cache_clear()
