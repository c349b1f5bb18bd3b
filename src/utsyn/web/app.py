"""The web application: `create_app` builds it; `utsyn serve` runs it with uvicorn.

    request ─▶ trusted proxy ─▶ security headers ─▶ language cookie ─▶ session cookie ─▶
               (only if named)   (every answer)                         (signed, sliding)
            ─▶ body limit ─▶
               (413, unread)
            ─▶ CSRF guard ─▶ route
               (app-wide dependency)

Proxies: `X-Forwarded-For` and `X-Forwarded-Proto` are believed only from the addresses in
`UTSYN_TRUSTED_PROXIES` (none by default; uvicorn's own proxy handling, which trusts
127.0.0.1, is off in `utsyn serve`): otherwise any client could pick the address it is
throttled by.

Routers: `auth` (login, logout), `oidc` (login through OpenID providers, Utsyn's JWKS),
`pages` (front page, security.txt), `pages_dashboard` (overview, scorecards), `pages_csf`
(NIST CSF 2.0 in bokmål and English, public), `pages_resources` (the public security
resources page), `pages_users` (accounts, password reset
links), `api`, `api_dashboards` and `api_users` (/api/v1).
Static files are served from `web/static` under /static.
"""

from __future__ import annotations

from urllib.parse import quote

from fastapi import Depends, FastAPI, Request
from sqlalchemy import Engine
from sqlalchemy.exc import SQLAlchemyError
from starlette.responses import RedirectResponse, Response
from uvicorn.middleware.proxy_headers import ProxyHeadersMiddleware

from utsyn import __version__
from utsyn.frameworks.search import index as csf_search_index
from utsyn.rules.rulebook import load_rulebook
from utsyn.store.db import database_url, make_engine, session_factory, upgrade
from utsyn.web import (
    api,
    api_alerts,
    api_dashboards,
    api_scorecards,
    api_users,
    auth,
    limits,
    oidc,
    pages,
    pages_alerts,
    pages_board,
    pages_csf,
    pages_dashboard,
    pages_disputes,
    pages_footprint,
    pages_national,
    pages_portfolios,
    pages_reports,
    pages_resources,
    pages_scorecards,
    pages_users,
    problems,
)
from utsyn.web.deps import Principal, WebContext, context, find_principal
from utsyn.web.i18n import language_cookie_middleware
from utsyn.web.pages import LoginRequired
from utsyn.web.security import security_headers_middleware
from utsyn.web.sessions import SessionCodec, session_middleware
from utsyn.web.settings import WebSettings
from utsyn.web.templates import static_files
from utsyn.web.throttle import LoginThrottle

API_DESCRIPTION = """\
Utsyn's REST API: organisations, their ratings, findings, score history, the score
planner, explanations and disputes, footprints and their DNS verification, and the rule
catalogue. Authenticate with `Authorization: Bearer <token>`. Errors are RFC 9457 problem
details. Texts follow `?lang=nb|en` or Accept-Language (bokmål by default).
"""


def create_app(settings: WebSettings | None = None, engine: Engine | None = None) -> FastAPI:
    """The app on `engine` (default: the configured database, migrated to the newest)."""
    settings = settings or WebSettings()
    if engine is None:
        url = database_url(settings)
        upgrade(url)
        engine = make_engine(url, busy_seconds=settings.web_busy_seconds)
    web = _context(settings, engine)
    csf_search_index()  # built now (~50 ms), not by the first visitor's search
    app = FastAPI(
        title="Utsyn",
        version=__version__,
        description=API_DESCRIPTION,
        openapi_url="/api/v1/openapi.json",
        docs_url=None,  # Swagger UI and ReDoc need inline scripts and a CDN: not under our CSP
        redoc_url=None,
        dependencies=[Depends(auth.csrf_guard)],
    )
    app.state.web = web
    app.state.oidc = oidc.OidcRuntime(settings)
    problems.install(app, _logged_in)
    app.add_exception_handler(LoginRequired, _to_login)
    # The last added runs first: security headers wrap everything.
    limits.install(app, settings.max_body_bytes, settings.max_anonymous_body_bytes)
    app.middleware("http")(session_middleware(web.codec))
    app.middleware("http")(language_cookie_middleware())
    app.middleware("http")(security_headers_middleware())
    if settings.trusted_proxies:
        app.add_middleware(ProxyHeadersMiddleware, trusted_hosts=list(settings.trusted_proxies))
    app.include_router(auth.router)
    app.include_router(oidc.router)
    app.include_router(pages.router)
    app.include_router(pages_dashboard.router)
    app.include_router(pages_national.router)
    app.include_router(pages_reports.router)
    app.include_router(pages_reports.api_router)
    app.include_router(api.router)
    app.include_router(api_dashboards.router)
    app.include_router(pages_footprint.router)
    app.include_router(pages_alerts.router)
    app.include_router(pages_board.router)
    app.include_router(pages_csf.router)
    app.include_router(pages_resources.router)
    app.include_router(api_alerts.router)
    app.include_router(pages_disputes.router)
    app.include_router(pages_portfolios.router)
    app.include_router(pages_scorecards.router)
    app.include_router(api_scorecards.router)
    app.include_router(pages_users.router)
    app.include_router(api_users.router)
    app.mount("/static", static_files(), name="static")
    return app


def _context(settings: WebSettings, engine: Engine) -> WebContext:
    return WebContext(
        settings=settings,
        engine=engine,
        sessions=session_factory(engine),
        book=load_rulebook(),
        codec=SessionCodec(
            settings.signing_key(),
            idle_seconds=settings.session_minutes * 60,
            max_seconds=settings.session_max_hours * 3600,
        ),
        throttle=LoginThrottle(settings),
    )


def _logged_in(request: Request) -> Principal | None:
    """Who is logged in, for an error page's navigation; None if the database cannot say
    (it may be what failed: the page is then shown without the menu, never not at all)."""
    try:
        with context(request).sessions() as session:
            return find_principal(request, session)
    except SQLAlchemyError:
        return None


async def _to_login(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, LoginRequired)
    return RedirectResponse(f"/login?next={_quoted(exc.next_path)}", status_code=303)


def _quoted(path: str) -> str:
    return quote(path, safe="/")
