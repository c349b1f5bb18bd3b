"""HTML rendering: Jinja2 with autoescaping always on, gettext in the request's language.

Everything a scanned server sent (titles, banners, evidence) reaches pages as plain
strings and is escaped by autoescaping; nothing here marks such text safe. Every value put
in a page, and every string of the JSON `tojson` writes for the charts, is also rid of the
control and bidirectional-override characters (`utsyn.text.shown`, through `shown_value`),
so an imported name cannot show "evil" as "live". The rulebook's texts are the one
exception to "nothing marked safe": Markdown, made safe HTML by `report.markdown`. Templates
live in `web/templates/` and extend `base.html`; see `render` for what every template gets.
"""

from __future__ import annotations

from collections.abc import Mapping
from contextvars import ContextVar
from functools import cache
from pathlib import Path
from typing import Any

from jinja2 import Environment, PackageLoader, StrictUndefined
from starlette.requests import Request
from starlette.responses import HTMLResponse
from starlette.staticfiles import StaticFiles

from utsyn.rating.explain import area_losses, binding_caps
from utsyn.report.display import shown_json, shown_value
from utsyn.report.markdown import to_html, to_inline_html
from utsyn.rules.rulebook import load_rulebook
from utsyn.web.evidence import readable
from utsyn.web.i18n import DEFAULT_LANGUAGE, LANGUAGES, Language, request_language, translations
from utsyn.web.sessions import ensure_session

STATIC_DIR = Path(__file__).parent / "static"
# The language of the template being rendered: set around each render, read by gettext.
_rendering: ContextVar[Language] = ContextVar("utsyn_rendering_language", default=DEFAULT_LANGUAGE)


def _gettext(message: str) -> str:
    return translations(_rendering.get()).gettext(message)


def _ngettext(singular: str, plural: str, n: int) -> str:
    return translations(_rendering.get()).ngettext(singular, plural, n)


@cache
def environment() -> Environment:
    env = Environment(
        loader=PackageLoader("utsyn.web", "templates"),
        autoescape=True,  # every template, whatever its name
        undefined=StrictUndefined,  # a misspelt variable fails loudly, not as ""
        extensions=["jinja2.ext.i18n"],
        finalize=shown_value,
    )
    env.policies["json.dumps_function"] = shown_json
    # newstyle: {{ _("Hello %(name)s", name=x) }} escapes x before it is put in.
    env.install_gettext_callables(_gettext, _ngettext, newstyle=True)  # type: ignore[attr-defined]
    # How a rating is explained: the same functions as `utsyn rating show` and the board.
    env.globals |= {"area_losses": area_losses, "binding_caps": binding_caps, "rule_title": _title}
    # The rulebook's texts are Markdown, sanitised to a few tags (`report.markdown`); a
    # finding's evidence is shown as facts (`web.evidence`), every value escaped.
    env.filters |= {"md": to_html, "md_inline": to_inline_html}
    env.globals["evidence"] = readable
    return env


def _title(rule_id: str) -> str:
    book = load_rulebook()
    return book.rule(rule_id).title.get(_rendering.get()) if book.has(rule_id) else rule_id


def static_files() -> StaticFiles:
    return StaticFiles(directory=STATIC_DIR)


def render(
    request: Request,
    name: str,
    context: Mapping[str, Any] | None = None,
    status_code: int = 200,
    headers: Mapping[str, str] | None = None,
) -> HTMLResponse:
    """Render `name` with `context` plus what every template gets:

    `request`, `lang` ("nb"/"en"), `languages`, `principal` (None unless given),
    `csrf_token()` (the session's token; starts an anonymous session when there is none),
    `_`/`gettext`/`ngettext` in the request's language.
    """
    lang = request_language(request)
    values: dict[str, Any] = {
        "request": request,
        "lang": lang,
        "languages": LANGUAGES,
        "principal": None,
        "csrf_token": lambda: ensure_session(request).csrf,
        **(context or {}),
    }
    token = _rendering.set(lang)
    try:
        html = environment().get_template(name).render(values)
    finally:
        _rendering.reset(token)
    return HTMLResponse(html, status_code=status_code, headers=dict(headers or {}))


def render_error(
    request: Request,
    status: int,
    title: str,
    detail: str | None,
    advice: str | None,
    principal: object | None = None,
    headers: Mapping[str, str] | None = None,
) -> HTMLResponse:
    """The error page: a page of the site, with the navigation of `principal` (when known).

    `advice` (what to do) is a message id, translated by the template.
    """
    context = {
        "status": status,
        "title": title,
        "detail": detail,
        "advice": advice,
        "principal": principal,
    }
    return render(request, "error.html", context, status, headers)
