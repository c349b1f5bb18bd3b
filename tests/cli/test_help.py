"""The command line's help in the language asked for: bokmål by default, English on
`--lang en` anywhere on the command line or on `UTSYN_LANG=en`; and a start-up that stays
cheap (`utsyn --help` imports none of the heavy libraries)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
import typer

from tests.words import help_texts
from utsyn.cli import app, main, translate_help
from utsyn.cli.output import words


def _help(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], *args: str) -> str:
    """What `utsyn ARGS` prints, through the entry point (`main`)."""
    monkeypatch.setattr(sys, "argv", ["utsyn", *args])
    with pytest.raises(SystemExit) as done:
        main()
    assert done.value.code == 0
    return capsys.readouterr().out


# A few short help texts (a rich panel does not wrap them), bokmål and English.
ROOT = [("Kommandoer", "Commands"), ("Skriv ut versjonen av Utsyn.", "Print Utsyn's version."),
        ("Vis denne hjelpeteksten og avslutt.", "Show this message and exit.")]  # fmt: skip
SCAN = [("Argumenter", "Arguments"), ("Valg", "Options"),
        ("Domener, verter eller vert:port.", "Domains, hosts or host:port."),
        ("Skriv JSON-rapporten hit.", "Write the JSON report here.")]  # fmt: skip


@pytest.mark.parametrize(
    ("args", "expected"),
    [(["--help"], ROOT), (["scan", "--help"], SCAN), (["lab", "up", "--help"], [])],
)
def test_help_is_norwegian_by_default_and_english_on_request(
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    args: list[str],
    expected: list[tuple[str, str]],
) -> None:
    monkeypatch.delenv("UTSYN_LANG", raising=False)
    norwegian = _help(monkeypatch, capsys, *args)
    english = [
        _help(monkeypatch, capsys, *args, "--lang", "en"),
        _help(monkeypatch, capsys, "--lang", "en", *args),  # anywhere: before the command too
        _help(monkeypatch, capsys, *args, "--lang=en"),
    ]
    monkeypatch.setenv("UTSYN_LANG", "en")
    english.append(_help(monkeypatch, capsys, *args))
    assert _help(monkeypatch, capsys, *args, "--lang", "nb") == norwegian  # over UTSYN_LANG
    assert all(shown == english[0] for shown in english)
    assert norwegian != english[0]
    for nb, en in expected:
        assert nb in norwegian and en not in norwegian, en
        assert en in english[0] and nb not in english[0], nb


def test_no_help_text_is_left_in_english() -> None:
    """Every help text of every command translated: one that `translate_help` missed
    would be shown in English."""
    command = typer.main.get_command(app)
    assert isinstance(command, typer.core.TyperGroup)
    english = help_texts(command)
    translate_help(command, words("nb"))
    norwegian = help_texts(command)
    assert len(english) > 150 and norwegian.keys() == english.keys()
    assert [where for where, text in norwegian.items() if text == english[where]] == []


def test_the_command_line_starts_without_the_heavy_libraries() -> None:
    """`utsyn --help` and `utsyn version` load only what they need (~250 ms): the store,
    the web application, the workers and the settings are imported by the commands that
    use them (see utsyn.cli)."""
    heavy = ["sqlalchemy", "fastapi", "argon2", "celery", "pydantic_settings", "utsyn.store"]
    loaded = subprocess.run(
        [
            sys.executable,
            "-c",
            f"import sys, utsyn.cli; print([m for m in {heavy} if m in sys.modules])",
        ],
        capture_output=True,
        text=True,
        check=True,
    )
    assert loaded.stdout.strip() == "[]"


def test_a_rows_problem_is_in_the_commands_language(tmp_path: Path) -> None:
    """`orgs import` reports each bad row in the language of --lang (nb by default)."""
    bad = tmp_path / "orgs.csv"
    bad.write_text("orgnr,name\n123,Et navn\n", encoding="utf-8")
    env = {**os.environ, "UTSYN_DATA_DIR": str(tmp_path / "data")}
    for lang, expected in (
        ("nb", "ugyldig organisasjonsnummer (ikke ni sifre)"),
        ("en", "invalid organisation number (not nine digits)"),
    ):
        done = subprocess.run(
            [sys.executable, "-m", "utsyn", "orgs", "import", str(bad), "--lang", lang],
            capture_output=True,
            text=True,
            env=env,
            timeout=120,
            check=False,
        )
        assert done.returncode == 2
        assert expected in done.stderr
