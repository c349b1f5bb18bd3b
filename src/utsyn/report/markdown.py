"""The rulebook's texts (titles, descriptions, remediation) are CommonMark: code in backticks,
now and then emphasis, a list or a link.

Pages and the board summary's PDF get them as HTML: rendered by markdown-it-py with raw HTML
off (a `<script>` in a text stays text), then sanitised by nh3 (ammonia) to a short list of
tags and to http(s) and mailto links, so that a rulebook file from elsewhere (`utsyn rating
diff --to`) cannot put script, styles or `javascript:` URLs on a page. The terminal gets the
same texts as plain text: the words without the marks.
"""

from __future__ import annotations

from functools import cache

import nh3
from markdown_it import MarkdownIt
from markdown_it.token import Token
from markupsafe import Markup

_TAGS = {"p", "code", "em", "strong", "a", "ul", "ol", "li", "br", "pre", "blockquote"}
_ATTRIBUTES = {"a": {"href", "title"}}
_SCHEMES = {"http", "https", "mailto"}


@cache
def _parser() -> MarkdownIt:
    return MarkdownIt("commonmark", {"html": False})


def _clean(html: str) -> Markup:
    safe = nh3.clean(
        html,
        tags=_TAGS,
        attributes=_ATTRIBUTES,
        url_schemes=_SCHEMES,
        link_rel="noopener noreferrer",
    )
    return Markup(safe)  # sanitised just above


def to_html(text: str) -> Markup:
    """A text as sanitised HTML blocks (paragraphs, lists)."""
    return _clean(_parser().render(text))


def to_inline_html(text: str) -> Markup:
    """A text as sanitised inline HTML (no paragraph around it): a title, one sentence."""
    return _clean(_parser().renderInline(text))


def to_plain(text: str) -> str:
    """A text without its marks: each block (paragraph, list item) on a line of its own,
    code and links as their words."""
    blocks = [_words(t.children or []) for t in _parser().parse(text) if t.type == "inline"]
    return "\n".join(blocks)


def _words(tokens: list[Token]) -> str:
    parts = []
    for token in tokens:
        if token.type in ("text", "code_inline"):
            parts.append(token.content)
        elif token.type in ("softbreak", "hardbreak"):
            parts.append(" ")
    return "".join(parts)
