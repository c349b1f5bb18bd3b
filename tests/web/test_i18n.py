"""Bokmål by default, English complete; the catalogues hold every message in use (the web's,
the board summary's and the command line's)."""

from __future__ import annotations

import ast
import re

import pytest
from babel.messages.extract import DEFAULT_KEYWORDS, extract_from_dir
from babel.messages.pofile import read_po
from fastapi.testclient import TestClient

from tests.words import ENGLISH_ONLY, PACKAGE, error_classes, help_texts
from utsyn.i18n import LANGUAGES, Language, Translator, catalogue_path
from utsyn.web.i18n import LANGUAGE_COOKIE, accept_language


def _messages_in_use() -> set[str]:
    """Every `_()`, `gettext()` and `N_()` message in the package's code and web templates,
    every error's message id (the first argument of an error class, see utsyn.errors; the
    scanner's evidence-only errors aside) and every help text of the command line."""
    errors = {name: (1,) for name in error_classes() - ENGLISH_ONLY.keys()}
    keywords = {**DEFAULT_KEYWORDS, "N_": None, **errors}
    method_map = [("**/templates/**.html", "jinja2"), ("**.py", "python")]
    options = {"**/templates/**.html": {"extensions": "jinja2.ext.i18n"}}
    found = extract_from_dir(str(PACKAGE), method_map, options, keywords=keywords)
    in_code = {message for _, _, message, _, _ in found if isinstance(message, str)}
    return in_code | set(help_texts().values())


def _error_ids() -> set[str]:
    """The literal message ids of `raise SomeError("…", …)` (translated where shown)."""
    found = set()
    for path in PACKAGE.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Raise) and isinstance(node.exc, ast.Call) and node.exc.args:
                first = node.exc.args[0]
                if isinstance(first, ast.Constant) and isinstance(first.value, str):
                    found.add(first.value)
    return found


def _error_ids() -> set[str]:
    """The literal message ids of the errors raised in the package (`utsyn.errors`): the
    catalogues hold those already written as ids."""
    return {
        node.args[0].value
        for path in PACKAGE.rglob("*.py")
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8")))
        if isinstance(node, ast.Call)
        and getattr(node.func, "id", "").endswith("Error")
        and node.args
        and isinstance(node.args[0], ast.Constant)
        and isinstance(node.args[0].value, str)
    }


@pytest.mark.parametrize("lang", LANGUAGES)
def test_every_message_in_use_is_translated(lang: Language) -> None:
    with (PACKAGE / catalogue_path(lang)).open("rb") as po:
        catalog = read_po(po)
    translated = {m.id: m.string for m in catalog if m.id}
    in_use = _messages_in_use()
    assert len(in_use) > 30
    assert in_use - set(translated) == set(), "missing from the catalogue"
    unused = set(translated) - in_use - _error_ids()
    assert unused == set(), "no longer used: remove from the catalogue"
    assert all(translated.values()), "untranslated messages"


@pytest.mark.parametrize("lang", LANGUAGES)
def test_translations_keep_the_placeholders(lang: Language) -> None:
    """A `%(name)s` (or `%(name)r`) lost or misspelt in translation would fail only when that
    text is shown."""
    with (PACKAGE / catalogue_path(lang)).open("rb") as po:
        catalog = read_po(po)
    changed = [
        m.id
        for m in catalog
        if m.id
        and sorted(re.findall(r"%\(\w+\)\w", str(m.id)))
        != sorted(re.findall(r"%\(\w+\)\w", str(m.string)))
    ]
    assert changed == []


def test_placeholders_survive_translation() -> None:
    nb = Translator("nb").gettext("You are logged in as %(email)s.", email="a@b.test")
    en = Translator("en").gettext("You are logged in as %(email)s.", email="a@b.test")
    assert nb == "Du er logget inn som a@b.test." and en == "You are logged in as a@b.test."


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        (None, None),
        ("en-GB,en;q=0.9", "en"),
        ("de-DE,de;q=0.9,en;q=0.5,nb;q=0.7", "nb"),
        ("nn-NO", "nb"),
        ("no", "nb"),
        ("fr, en;q=0", None),
        ("en;q=abc, nb;q=0.1", "nb"),
    ],
)
def test_accept_language(header: str | None, expected: str | None) -> None:
    assert accept_language(header) == expected


def test_pages_are_in_bokmal_by_default(client: TestClient) -> None:
    page = client.get("/login")
    assert '<html lang="nb">' in page.text and "Logg inn" in page.text and "Passord" in page.text


def test_english_by_header_query_or_cookie(client: TestClient) -> None:
    by_header = client.get("/login", headers={"Accept-Language": "en-US,en;q=0.8"})
    assert '<html lang="en">' in by_header.text and "Password" in by_header.text
    by_query = client.get("/login", params={"lang": "en"})
    assert "Password" in by_query.text
    assert client.cookies.get(LANGUAGE_COOKIE) == "en"  # the choice is remembered
    assert "Password" in client.get("/login").text
    assert "Passord" in client.get("/login", params={"lang": "nb"}).text
