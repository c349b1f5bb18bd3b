"""The language of a web request: the `lang` query parameter, the `utsyn_lang` cookie, the
Accept-Language header, then bokmål.

The words themselves, and the catalogues they come from, are `utsyn.i18n`'s (shared with the
board summary and the command line); the names below are re-exported for the web's modules.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from starlette.requests import Request
from starlette.responses import Response

from utsyn.i18n import (
    DEFAULT_LANGUAGE,
    LANGUAGES,
    N_,
    Language,
    Translator,
    error_text,
    error_values,
    translations,
)

__all__ = [
    "DEFAULT_LANGUAGE",
    "LANGUAGES",
    "LANGUAGE_COOKIE",
    "N_",
    "Language",
    "Translator",
    "accept_language",
    "error_text",
    "error_values",
    "language_cookie_middleware",
    "language_of",
    "request_language",
    "translations",
]

LANGUAGE_COOKIE = "utsyn_lang"
# Nynorsk and the macro-language "no" read bokmål better than English.
_ALIASES: dict[str, Language] = {"nb": "nb", "no": "nb", "nn": "nb", "en": "en"}


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
