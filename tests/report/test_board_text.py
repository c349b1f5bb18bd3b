"""The board summary shows text from outside harmlessly: no control or bidirectional-override
character reaches its HTML or its PDF, and the PDF file is its owner's only."""

from __future__ import annotations

import dataclasses
import os
import shutil
import stat
from pathlib import Path

import pytest
from sqlalchemy.orm import Session
from typer.testing import CliRunner

from utsyn.cli.report import app as report_app
from utsyn.report.board import board_data, render_html, render_pdf
from utsyn.settings import get_settings

from .conftest import FEATURED, DemoStore
from .test_board import flat, pdf_text

HOSTILE = "Åsmyra \u202eevil\u202c \x1b[2J\x07kommune\u2066"
HIDDEN = ("\u202e", "\u202c", "\u2066", "\x1b", "\x07")


@pytest.mark.skipif(shutil.which("pdftotext") is None, reason="needs poppler-utils")
def test_a_hostile_name_reaches_neither_the_html_nor_the_pdf(
    session: Session, demo_store: DemoStore, tmp_path: Path
) -> None:
    data = dataclasses.replace(board_data(session, FEATURED, "nb", now=demo_store.now),
                               name=HOSTILE)  # fmt: skip
    html = render_html(data)
    assert "Åsmyra evil [2Jkommune" in html
    assert not any(c in html for c in HIDDEN)
    text = pdf_text(render_pdf(data), tmp_path)
    assert "Åsmyra evil [2Jkommune" in flat(text)
    assert not any(c in text for c in HIDDEN)


def test_the_board_pdf_is_written_0600(
    demo_store: DemoStore, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("UTSYN_DATABASE_URL", demo_store.url)
    get_settings.cache_clear()
    umask = os.umask(0o022)
    try:
        out = tmp_path / "board.pdf"
        result = CliRunner().invoke(report_app, ["board", "--org", FEATURED, "-o", str(out)])
        assert result.exit_code == 0, result.output
        assert stat.S_IMODE(out.stat().st_mode) == 0o600
    finally:
        os.umask(umask)
        get_settings.cache_clear()
