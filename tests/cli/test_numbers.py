"""Numbers in the CLI as the language writes them, with the web's decimals."""

from __future__ import annotations

from utsyn.cli.output import format_number, words
from utsyn.web.pages_dashboard import number


def test_bokmal_has_a_decimal_comma_and_a_no_break_space_between_thousands() -> None:
    assert format_number(62.56, "nb") == "62,6"
    assert format_number(1234.5, "nb") == "1\u00a0234,5"
    assert format_number(12345, "nb", 0) == "12\u00a0345"
    assert format_number(-6.32, "nb", 2) == "-6,32"
    assert format_number(6.4, "nb", signed=True) == "+6,4"
    assert format_number(None, "nb") == "–"


def test_english_has_a_decimal_point_and_a_comma_between_thousands() -> None:
    assert format_number(62.56, "en") == "62.6"
    assert format_number(1234.5, "en") == "1,234.5"
    assert format_number(-0.25, "en", signed=True) == "-0.2"


def test_scores_have_the_webs_decimals() -> None:
    for lang in ("nb", "en"):
        web = number(lang)
        for value in (0.0, 4.25, 62.56, 99.95, 100.0):
            assert words(lang).number(value) == web(value, 1)
