"""Every error a user can meet speaks their language: a literal message id with keyword
values (never an f-string), translated where it is shown. `tests/web/test_i18n.py` holds
every id in both catalogues; these tests hold the ids literal, their placeholders matched
by the values given, and the command line's errors in Norwegian by default, in English
with --lang en, with the same exit code."""

from __future__ import annotations

import ast
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from tests.words import ENGLISH_ONLY, error_calls, error_classes

PLACEHOLDER = re.compile(r"%\((\w+)\)")


def _id(call: ast.Call) -> str | None:
    first = call.args[0] if call.args else None
    if isinstance(first, ast.Constant) and isinstance(first.value, str):
        return first.value
    return None


def test_the_error_classes_are_found() -> None:
    assert {"ConfigError", "LabError", "FeedError", "ExportRefused", "ScopeRefused"} <= (
        error_classes()
    )
    assert ENGLISH_ONLY.keys() <= error_classes()


def test_every_error_message_is_a_literal_id() -> None:
    """An f-string, a variable or a concatenation would reach the catalogue lookup as a
    text no catalogue holds, and be shown in English."""
    calls = [(where, call) for where, call in error_calls() if _name(call) not in ENGLISH_ONLY]
    assert len(calls) > 200
    not_literal = [f"{where}: {ast.unparse(call)[:80]}" for where, call in calls if not _id(call)]
    assert not_literal == []


def test_every_placeholder_has_its_value() -> None:
    """A `%(name)s` without its keyword (or a keyword without its placeholder) fails only
    when that error is raised; a bare `%` in an id with values fails the same way."""
    wrong = []
    for where, call in error_calls():
        message = _id(call)
        if message is None or _name(call) in ENGLISH_ONLY:
            continue
        keywords = {k.arg for k in call.keywords if k.arg is not None}
        if set(PLACEHOLDER.findall(message)) != keywords:
            wrong.append(f"{where}: {message!r} with {sorted(keywords)}")
        elif keywords:
            try:
                message % dict.fromkeys(keywords, "x")
            except (TypeError, ValueError) as exc:
                wrong.append(f"{where}: {message!r}: {exc}")
    assert wrong == []


def _name(call: ast.Call) -> str:
    func = call.func
    return func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", "")


def _utsyn(tmp_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    """The installed command's entry point (`main`: its error handling included)."""
    env = {**os.environ, "UTSYN_DATA_DIR": str(tmp_path / "data")}
    env.pop("UTSYN_LANG", None)
    env.pop("UTSYN_DATABASE_URL", None)
    return subprocess.run(
        [sys.executable, "-c", "from utsyn.cli import main; main()", *args],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
        check=False,
    )


@pytest.mark.parametrize(
    ("args", "code", "norwegian", "english"),
    [
        pytest.param(
            ["rating", "show", "--scan", "{tmp}/missing.json"],
            2,
            "missing.json: kan ikke lese skannerapporten (",
            "missing.json: cannot read the scan report (",
            id="a missing file",
        ),
        pytest.param(
            ["footprint", "list", "--org", "974760673"],
            2,
            "virksomheten 974760673 finnes ikke i databasen: importer den først",
            "no organisation 974760673 in the database: import it first",
            id="an unknown organisation",
        ),
        pytest.param(
            ["scan", "--targets", "{tmp}/targets.txt"],
            2,
            "targets.txt:2: 'bad_name!' er ikke et vertsnavn, en IP-adresse eller vert:port",
            "targets.txt:2: 'bad_name!' is not a host name, an IP address or host:port",
            id="a bad line of a targets file (the cause translated inside its wrapper)",
        ),
    ],
)
def test_an_error_is_norwegian_by_default_and_english_on_request(
    tmp_path: Path, args: list[str], code: int, norwegian: str, english: str
) -> None:
    (tmp_path / "targets.txt").write_text("www.example.test\nbad_name!\n", "utf-8")
    argv = [arg.replace("{tmp}", str(tmp_path)) for arg in args]
    by_default = _utsyn(tmp_path, *argv)
    in_english = _utsyn(tmp_path, *argv, "--lang", "en")
    for result in (by_default, in_english):
        assert result.returncode == code, result.stderr
        assert result.stderr.startswith("utsyn: ") and "Traceback" not in result.stderr
    assert norwegian in by_default.stderr and english not in by_default.stderr
    assert english in in_english.stderr and norwegian not in in_english.stderr
