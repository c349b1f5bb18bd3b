"""Languages: Norwegian bokmål by default, English complete.

The catalogues are `locale/<lang>/LC_MESSAGES/messages.po` (message ids in English). They
are compiled in memory when first used, so a source checkout or an editable install needs
no build step and a .mo file can never be stale. Rule titles, descriptions and remediation
come from the rulebook's own nb/en texts, not from these catalogues.

The language of a request is, in order: the `lang` query parameter, the `utsyn_lang`
cookie, the Accept-Language header, then bokmål.
"""

from __future__ import annotations

import io
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from functools import cache
from importlib.resources import files
from typing import Literal

from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po
from babel.support import Translations
from starlette.requests import Request
from starlette.responses import Response

Language = Literal["nb", "en"]
LANGUAGES: tuple[Language, ...] = ("nb", "en")
DEFAULT_LANGUAGE: Language = "nb"
LANGUAGE_COOKIE = "utsyn_lang"
# Nynorsk and the macro-language "no" read bokmål better than English.
_ALIASES: dict[str, Language] = {"nb": "nb", "no": "nb", "nn": "nb", "en": "en"}


def N_(message: str) -> str:
    """Mark a message for the catalogues (gettext's "mark only" convention); it is
    translated later, where it is shown."""
    return message


def catalogue_path(lang: Language) -> str:
    return f"locale/{lang}/LC_MESSAGES/messages.po"


@cache
def translations(lang: Language) -> Translations:
    """The compiled catalogue of one language (compiled once per process)."""
    source = files("utsyn.web").joinpath(catalogue_path(lang))
    with source.open("rb") as po:
        catalog = read_po(po, locale=lang)
    compiled = io.BytesIO()
    write_mo(compiled, catalog)
    compiled.seek(0)
    return Translations(compiled)


@dataclass(frozen=True)
class Translator:
    """gettext for one language, for Python code (templates get `_` from `templates`);
    `%(name)s` placeholders are filled from keywords."""

    lang: Language

    def gettext(self, message: str, /, **variables: object) -> str:
        text = translations(self.lang).gettext(message)
        return text % variables if variables else text


def language_of(tag: str | None) -> Language | None:
    """`nb-NO`, `no`, `en-GB`, ... → a language we have, or None."""
    if not tag:
        return None
    return _ALIASES.get(tag.strip().lower().replace("_", "-").split("-")[0])


def accept_language(header: str | None) -> Language | None:
    """The first language we have among the header's, by quality (RFC 9110 12.5.4)."""
    ranked: list[tuple[float, int, Language]] = []
    for position, part in enumerate((header or "").split(",")):
        tag, _, params = part.partition(";")
        lang = language_of(tag)
        quality = _quality(params)
        if lang is not None and quality > 0:
            ranked.append((-quality, position, lang))
    return min(ranked)[2] if ranked else None


def _quality(params: str) -> float:
    for param in params.split(";"):
        name, _, value = param.partition("=")
        if name.strip().lower() == "q":
            try:
                return max(0.0, min(1.0, float(value)))
            except ValueError:
                return 0.0
    return 1.0


def language_cookie_middleware() -> Callable[
    [Request, Callable[[Request], Awaitable[Response]]], Awaitable[Response]
]:
    """A page opened with `?lang=` remembers the choice in a cookie (for a year).

    A plain GET may set it: a forged language choice harms no one, and the links of the
    language menu then need no form.
    """

    async def middleware(
        request: Request, call_next: Callable[[Request], Awaitable[Response]]
    ) -> Response:
        response = await call_next(request)
        chosen = language_of(request.query_params.get("lang"))
        api = request.url.path.startswith("/api/")
        if chosen and not api and chosen != request.cookies.get(LANGUAGE_COOKIE):
            response.set_cookie(
                LANGUAGE_COOKIE,
                chosen,
                max_age=365 * 24 * 3600,
                secure=request.url.scheme == "https",
                httponly=True,
                samesite="lax",
            )
        return response

    return middleware


def request_language(request: Request) -> Language:
    return (
        language_of(request.query_params.get("lang"))
        or language_of(request.cookies.get(LANGUAGE_COOKIE))
        or accept_language(request.headers.get("accept-language"))
        or DEFAULT_LANGUAGE
    )
