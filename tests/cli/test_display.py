"""Text from outside cannot drive the terminal or reorder a line: a name stored with an ESC
sequence or a U+202E is printed without them (rich's own colours stay)."""

from __future__ import annotations

import io
from pathlib import Path

import pytest
from rich.table import Table
from sqlalchemy import update
from typer.testing import CliRunner

from utsyn.cli import app
from utsyn.cli.output import SafeConsole
from utsyn.clock import now_utc
from utsyn.settings import get_settings
from utsyn.store.db import make_engine, session_factory, upgrade
from utsyn.store.models import Organisation
from utsyn.store.orgs import OrgRecord, upsert_organisations

ORGNR = "974760673"
# Shown as "Bergen live kommune" by a terminal that honours U+202E; ESC [2J clears the screen.
HOSTILE = "Bergen \u202eevil\u202c \x1b[2J\x1b]0;owned\x07kommune\u2066"


def test_a_stored_name_is_printed_without_control_or_bidi_characters(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    url = f"sqlite:///{tmp_path / 'utsyn.db'}"
    upgrade(url)
    engine = make_engine(url)
    with session_factory(engine)() as session:
        upsert_organisations(
            session, [OrgRecord(ORGNR, "Bergen", domains=("bergen.test",))], "test", now_utc()
        )
        # As stored before names were checked (or by anything that writes the table itself).
        session.execute(update(Organisation).values(name=HOSTILE))
        session.commit()
    engine.dispose()
    monkeypatch.setenv("UTSYN_DATABASE_URL", url)
    get_settings.cache_clear()
    try:
        result = CliRunner().invoke(app, ["footprint", "list", "--org", ORGNR, "--lang", "en"])
    finally:
        get_settings.cache_clear()
    assert result.exit_code == 0, result.output
    assert "Footprint of Bergen evil [2J]0;ownedkommune" in result.output
    assert not any(c in result.output for c in "\x1b\x07\u202e\u202c\u2066")


def test_the_console_keeps_its_own_styles_and_drops_the_texts_escapes() -> None:
    out = io.StringIO()
    console = SafeConsole(file=out, force_terminal=True, color_system="standard", width=80)
    table = Table("Navn")
    table.add_row(HOSTILE)
    console.print(table)
    console.print(f"[bold red]utsyn:[/] {HOSTILE}", highlight=False)
    printed = out.getvalue()
    assert "\x1b[1;31mutsyn:" in printed  # rich's own colour
    assert "\x1b[2J" not in printed and "\x1b]0" not in printed and "\x07" not in printed
    assert not any(c in printed for c in "\u202e\u202c\u2066")
    assert printed.count("Bergen evil [2J]0;ownedkommune") == 2
