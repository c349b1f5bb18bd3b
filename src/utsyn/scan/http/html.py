"""What the HTML and the cookies of a page say: title, generator, login form, scripts and
stylesheets (for Subresource Integrity), subresources (for mixed content), cookie flags.

The page is untrusted: at most TEXT_LIMIT characters of a title and ASSET_LIMIT scripts and
subresources are kept, and what is reported is capped and escaped as evidence is (`excerpt`).
"""

from __future__ import annotations

import codecs
import re
from dataclasses import dataclass, field
from html.parser import HTMLParser
from typing import Any
from urllib.parse import urljoin, urlsplit

from utsyn.scan.http.response import Response
from utsyn.scan.model import excerpt

TEXT_LIMIT = 512  # titles, cookie names, URLs
ASSET_LIMIT = 1000  # scripts and subresources remembered per page


@dataclass
class Page:
    """What the HTML of one page holds that a check looks at."""

    title: str | None = None
    generator: str | None = None
    login_form: bool = False
    assets: list[tuple[str, str, bool]] = field(default_factory=list)  # (kind, url, integrity)
    subresources: list[str] = field(default_factory=list)  # URLs a browser loads by itself


# Tags whose URL attributes a browser fetches while rendering (mixed-content candidates).
_SUBRESOURCE_ATTRS: dict[str, tuple[str, ...]] = {
    "img": ("src",),
    "script": ("src",),
    "iframe": ("src",),
    "frame": ("src",),
    "audio": ("src",),
    "video": ("src", "poster"),
    "source": ("src",),
    "track": ("src",),
    "embed": ("src",),
    "object": ("data",),
    "input": ("src",),
}
_LOADED_LINKS = frozenset({"stylesheet", "icon", "preload", "modulepreload", "manifest"})


class _PageParser(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.page = Page()
        self._title: list[str] | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = {name: (value or "") for name, value in attrs}
        page = self.page
        for name in _SUBRESOURCE_ATTRS.get(tag, ()):
            self._subresource(a.get(name, ""))
        if tag == "script" and a.get("src"):
            self._asset("script", a["src"], a.get("integrity", ""))
        elif tag == "link":
            rels = set(a.get("rel", "").lower().split())
            if rels & _LOADED_LINKS:
                self._subresource(a.get("href", ""))
            if "stylesheet" in rels and a.get("href"):
                self._asset("style", a["href"], a.get("integrity", ""))
        elif tag == "input" and a.get("type", "").strip().lower() == "password":
            page.login_form = True
        elif tag == "meta" and a.get("name", "").strip().lower() == "generator":
            if page.generator is None:
                page.generator = a.get("content", "")
        elif tag == "title" and page.title is None:
            self._title = []

    def handle_endtag(self, tag: str) -> None:
        if tag == "title" and self._title is not None:
            self.page.title = "".join(self._title).strip()
            self._title = None

    def handle_data(self, data: str) -> None:
        if self._title is not None and sum(map(len, self._title)) < TEXT_LIMIT:
            self._title.append(data)

    def _subresource(self, url: str) -> None:
        if url.strip() and len(self.page.subresources) < ASSET_LIMIT:
            self.page.subresources.append(url.strip())

    def _asset(self, kind: str, url: str, integrity: str) -> None:
        if len(self.page.assets) < ASSET_LIMIT:
            self.page.assets.append((kind, url.strip(), bool(integrity.strip())))


def parse_page(html: str) -> Page:
    parser = _PageParser()
    parser.feed(html)
    parser.close()
    return parser.page


def page_text(response: Response) -> str:
    """The body as text, in the charset the server names (or the page declares), else UTF-8."""
    charset = _charset(response.header("content-type") or "")
    if charset is None:
        found = re.search(rb"<meta[^>]+charset=[\"']?([A-Za-z0-9_-]+)", response.body[:2048], re.I)
        charset = found.group(1).decode("ascii") if found else None
    try:
        codecs.lookup(charset or "utf-8")
    except LookupError:
        charset = None
    return response.body.decode(charset or "utf-8", "replace")


def _charset(content_type: str) -> str | None:
    found = re.search(r"charset=[\"']?([A-Za-z0-9_-]+)", content_type, re.I)
    return found.group(1) if found else None


def sri_missing(page: Page, page_url: str) -> list[str]:
    """Cross-origin scripts and stylesheets without an integrity attribute, as written."""
    own = _origin_of(page_url)
    missing = {
        url
        for _, url, integrity in page.assets
        if not integrity and _origin_of(urljoin(page_url, url)) not in (own, None)
    }
    return sorted(missing)


def _origin_of(url: str) -> tuple[str, str, int] | None:
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:
        return None
    if parts.scheme not in ("http", "https") or not parts.hostname:
        return None
    return parts.scheme, parts.hostname, port or (443 if parts.scheme == "https" else 80)


def mixed_content(page: Page, page_url: str) -> bool:
    """An https page that makes the browser load something over plain http."""
    if not page_url.startswith("https:"):
        return False
    return any(urljoin(page_url, url).lower().startswith("http:") for url in page.subresources)


def parse_cookie(header: str) -> dict[str, Any] | None:
    """The name and security attributes of one Set-Cookie value (RFC 6265 section 5.2)."""
    pair, *attributes = header.split(";")
    name, equals, _ = pair.partition("=")
    if not equals or not name.strip():
        return None  # a user agent ignores a cookie without a name
    flags: dict[str, str] = {}
    for attribute in attributes:
        key, _, value = attribute.partition("=")
        flags.setdefault(key.strip().lower(), value.strip())
    return {
        "name": excerpt(name.strip(), TEXT_LIMIT),
        "secure": "secure" in flags,
        "httponly": "httponly" in flags,
        "samesite": excerpt(flags["samesite"], TEXT_LIMIT) if flags.get("samesite") else None,
    }
