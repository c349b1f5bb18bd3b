"""The command line's words: all from the catalogues, Norwegian by default, English on --lang en.

`tests/web/test_i18n.py` holds every message in use translated in both catalogues; these
tests hold that the commands print no word of their own beside them, and that every table
header has a Norwegian word of its own.
"""

from __future__ import annotations

import ast
import json
import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from typer.testing import CliRunner

import utsyn.cli
from utsyn.cli import app
from utsyn.i18n import Translator
from utsyn.lab.expected import expected_results
from utsyn.lab.scenarios import load_scenario
from utsyn.lab.targets import from_manifest
from utsyn.scan.output import report_json

CLI = Path(utsyn.cli.__file__).parent
RULEBOOK = Path(utsyn.__file__).parent / "rules" / "rulebook.yaml"
PRINTERS = {"print", "echo", "prompt", "add_column"}  # console.print, typer.echo, ...
TABLES = {"table", "Table"}
GETTEXT = {"_", "gettext"}
NOT_WORDS = {"utsyn"}  # the program's name
# Table headers that are the same word in both languages.
SAME_IN_BOTH = {"Score", "Via"}


def _calls(tree: ast.AST) -> Iterator[ast.Call]:
    for node in ast.walk(tree):
        if isinstance(node, ast.Call):
            yield node


def _name(call: ast.Call) -> str:
    func = call.func
    return func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", "")


def _literal_words(node: ast.AST) -> Iterator[str]:
    """Words in the string literals of an expression, outside `_()` (rich markup removed)."""
    if isinstance(node, ast.Call) and _name(node) in GETTEXT:
        return
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        text = re.sub(r"\[[^\]]*\]", "", node.value)
        yield from (w for w in re.findall(r"[^\W\d_]{2,}", text) if w not in NOT_WORDS)
        return
    for child in ast.iter_child_nodes(node):
        yield from _literal_words(child)


def _printed(call: ast.Call) -> list[ast.AST]:
    """What a print or table call shows: its positional arguments and a title."""
    return [*call.args, *(k.value for k in call.keywords if k.arg == "title")]


def _modules() -> list[tuple[str, ast.Module]]:
    return [(p.name, ast.parse(p.read_text("utf-8"))) for p in sorted(CLI.glob("*.py"))]


def test_the_commands_print_no_word_outside_the_catalogues() -> None:
    bare = [
        f"{name}:{call.lineno}: {word}"
        for name, tree in _modules()
        for call in _calls(tree)
        if _name(call) in PRINTERS | TABLES
        for shown in _printed(call)
        for word in _literal_words(shown)
    ]
    assert len(_modules()) >= 14
    assert bare == []


def test_every_table_header_has_a_norwegian_word() -> None:
    headers = {
        arg.args[0].value
        for _, tree in _modules()
        for call in _calls(tree)
        if _name(call) in TABLES
        for arg in call.args
        if isinstance(arg, ast.Call) and _name(arg) in GETTEXT
        and isinstance(arg.args[0], ast.Constant)
    }  # fmt: skip
    assert len(headers) > 40
    nb, en = Translator("nb"), Translator("en")
    english = {h for h in headers if nb.gettext(h) == en.gettext(h)} - SAME_IN_BOTH
    assert english == set(), "translate these headers in locale/nb/LC_MESSAGES/messages.po"


@pytest.fixture(scope="module")
def scan_report(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The demo scenario's ground truth as a scan report (no lab, no database)."""
    manifest = load_scenario("demo")
    report = report_json(expected_results(manifest), "2026-11-29T00:00:00+00:00", "lab", {},
                         from_manifest(manifest))  # fmt: skip
    path = tmp_path_factory.mktemp("scan") / "scan.json"
    path.write_text(json.dumps(report), "utf-8")
    return path


def _run(*args: str) -> str:
    result = CliRunner().invoke(app, list(args))
    assert result.exit_code == 0, result.output
    return result.output


def _words(text: str) -> set[str]:
    return set(re.findall(r"[^\W\d_]+(?: [^\W\d_]+)*", text))


def test_rating_show_speaks_norwegian_by_default_and_english_on_request(scan_report: Path) -> None:
    norwegian = _run("rating", "show", "--scan", str(scan_report))  # every organisation
    english = _run("rating", "show", "--scan", str(scan_report), "--lang", "en")
    for nb, en in [("Poeng", "Points"), ("Ved utbedring", "If fixed"), ("Regel", "Rule"),
                   ("Tapte poeng", "Points lost"), ("Regelbok", "Rulebook")]:  # fmt: skip
        assert nb in norwegian and en in english
        assert not re.search(rf"\b{en}\b", norwegian), en
    # The areas are named as on the dashboard and in the board summary.
    assert "Nettsider" in norwegian and "Websites" in english


def test_rating_diff_headers_follow_lang(scan_report: Path) -> None:
    args = ("rating", "diff", "--scan", str(scan_report), "--from", str(RULEBOOK),
            "--to", str(RULEBOOK))  # fmt: skip
    norwegian, english = _run(*args), _run(*args, "--lang", "en")
    assert {"Endring av regelboken", "Virksomhet", "Før", "Etter", "Endring"} <= _words(norwegian)
    assert {"Rulebook change", "Organisation", "Before", "After", "Change"} <= _words(english)
    assert not {"Organisation", "Before", "After"} & _words(norwegian)


def test_an_unknown_language_is_refused(scan_report: Path) -> None:
    result = CliRunner().invoke(app, ["rating", "show", "--scan", str(scan_report), "--lang", "de"])
    assert result.exit_code != 0 and "nb or en" in str(result.exception)
