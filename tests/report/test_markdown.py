"""The rulebook's texts as Markdown: rendered, sanitised, and plain for the terminal."""

from __future__ import annotations

import re

import pytest

from utsyn.report.markdown import to_html, to_inline_html, to_plain
from utsyn.rules.rulebook import load_rulebook

ALLOWED = {"p", "code", "em", "strong", "a", "ul", "ol", "li", "br", "pre", "blockquote"}


def test_code_and_emphasis_are_rendered() -> None:
    text = "Set `ssl_protocols TLSv1.2 TLSv1.3;` and *reload* nginx.\n\nThen **check**."
    assert to_html(text) == (
        "<p>Set <code>ssl_protocols TLSv1.2 TLSv1.3;</code> and <em>reload</em> nginx.</p>\n"
        "<p>Then <strong>check</strong>.</p>\n"
    )
    assert to_inline_html("Use `nosniff`") == "Use <code>nosniff</code>"
    assert to_plain(text) == "Set ssl_protocols TLSv1.2 TLSv1.3; and reload nginx.\nThen check."


@pytest.mark.parametrize(
    "hostile",
    [
        "<script>alert(1)</script>",
        '<img src=x onerror="alert(1)">',
        "[click](javascript:alert(1))",
        "[click](JaVaScRiPt:alert(1))",
        '<a href="javascript:alert(1)">click</a>',
        "![x](javascript:alert(1))",
        "<iframe src=https://evil.test></iframe>",
        "[x](data:text/html;base64,PHNjcmlwdD5hbGVydCgxKTwvc2NyaXB0Pg==)",
    ],
)
def test_script_and_javascript_urls_never_reach_a_page(hostile: str) -> None:
    for html in (to_html(hostile), to_inline_html(hostile)):
        tags = set(re.findall(r"<\s*([a-zA-Z][\w-]*)", html))
        assert tags <= ALLOWED, html
        assert "javascript:" not in html.lower() or "<a" not in html
        assert not re.search(r"<a [^>]*href=\"(?!https?:|mailto:)", html), html
        assert "onerror" not in html or "&lt;" in html  # only ever as escaped text


def test_links_keep_safe_schemes_and_open_nothing() -> None:
    html = to_html("See [NSM](https://nsm.no/grunnprinsipper).")
    assert '<a href="https://nsm.no/grunnprinsipper" rel="noopener noreferrer">NSM</a>' in html
    # markdown-it links any scheme but a few; the sanitiser keeps http(s) and mailto only.
    other = to_html("<ftp://files.example.test/x>")
    assert "ftp://files.example.test/x</a>" in other and "href" not in other


def test_every_rule_text_renders_to_the_allowed_tags_without_a_backtick() -> None:
    book = load_rulebook()
    for rule in book.rules:
        for text in (rule.title, rule.description, rule.remediation):
            for lang in ("nb", "en"):
                html = to_html(text.get(lang))
                assert set(re.findall(r"<([a-z]+)", html)) <= ALLOWED, rule.id
                assert "`" not in html and "`" not in to_plain(text.get(lang)), rule.id
