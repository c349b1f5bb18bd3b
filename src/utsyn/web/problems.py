"""Errors as RFC 9457 problem details (`application/problem+json`) for the API, as an
error page for browsers; never a traceback.

Titles are English message ids, translated into the request's language when the answer
is written; so are the messages of `UtsynError`s (message id, then its values). The error
page is a page of the site: it keeps the navigation of the person logged in (`install`
is given how to find them), their language, and says what to do next (`ADVICE`).

A database busy with another writer (SQLite: the lock was not free within the web's busy
timeout, `UTSYN_WEB_BUSY_SECONDS`) answers 503 with Retry-After, never 500.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel
from sqlalchemy.exc import OperationalError
from starlette.exceptions import HTTPException
from starlette.responses import Response

from utsyn.errors import ConfigError, UtsynError
from utsyn.store.db import is_busy
from utsyn.web.i18n import N_, Translator, error_values, request_language
from utsyn.web.security import apply_security_headers
from utsyn.web.templates import render_error

PROBLEM_JSON = "application/problem+json"
API_PREFIX = "/api/"
BUSY_RETRY_AFTER = 5  # seconds: a busy database is another writer's turn, soon over

# Titles for statuses Starlette raises itself (unknown path, wrong method).
_TITLES = {
    400: N_("Bad request"),
    401: N_("Not authenticated"),
    403: N_("Forbidden"),
    404: N_("Not found"),
    405: N_("Method not allowed"),
    409: N_("Conflict"),
    422: N_("Invalid request"),
    429: N_("Too many requests"),
    500: N_("Internal error"),
    503: N_("Service unavailable"),
}


# What a person who met the error can do about it, by status (the error page says it).
ADVICE = {
    400: N_("Check the address or what you filled in, and try again."),
    401: N_("Log in, then try again."),
    403: N_(
        "Your account does not give access to this page. If you need it, ask a national"
        " administrator of Utsyn."
    ),
    404: N_(
        "The page does not exist, or it has moved. Check the address, or find it from the"
        " menu above."
    ),
    405: N_("Use the page's own links and buttons instead."),
    409: N_("Someone changed this at the same time: reload the page and try again."),
    422: N_("Check what you filled in, and try again."),
    429: N_("Too many attempts: wait a few minutes and try again."),
    500: N_(
        "Something went wrong on our side; nothing you sent was half-saved. Try again in a"
        " moment, and tell the operators of Utsyn if it happens again."
    ),
    503: N_("Utsyn cannot answer just now. Try again in a few minutes."),
}
# Who is logged in, for the error page's navigation: None when nobody is, or when it cannot
# be known (the database may be what failed).
PrincipalLookup = Callable[[Request], object | None]


class ProblemDetails(BaseModel):
    """RFC 9457 problem details."""

    type: str = "about:blank"
    title: str
    status: int
    detail: str | None = None
    errors: list[dict[str, Any]] | None = None  # validation errors: where and what


class Problem(Exception):
    """Raise to answer with a problem; `title` and `detail` are translatable English."""

    def __init__(
        self,
        status: int,
        title: str,
        detail: str | None = None,
        headers: Mapping[str, str] | None = None,
        **variables: object,
    ) -> None:
        super().__init__(detail or title)
        self.status = status
        self.title = title
        self.detail = detail
        self.headers = dict(headers or {})
        self.variables = variables
        if status == 401:
            self.headers.setdefault("WWW-Authenticate", "Bearer")


def not_found() -> Problem:
    return Problem(404, N_("Not found"))


def wants_json(request: Request) -> bool:
    accept = request.headers.get("accept", "")
    return request.url.path.startswith(API_PREFIX) or (
        "json" in accept and "text/html" not in accept
    )


def problem_response(
    request: Request,
    problem: Problem,
    errors: list[dict[str, Any]] | None = None,
    principal_of: PrincipalLookup | None = None,
) -> Response:
    translate = Translator(request_language(request))
    title = translate.gettext(problem.title)
    detail = translate.gettext(problem.detail, **problem.variables) if problem.detail else None
    if not wants_json(request):
        principal = principal_of(request) if principal_of is not None else None
        advice = ADVICE.get(problem.status)
        return render_error(
            request, problem.status, title, detail, advice, principal, problem.headers
        )
    body = ProblemDetails(title=title, status=problem.status, detail=detail, errors=errors)
    return JSONResponse(
        body.model_dump(exclude_none=True),
        status_code=problem.status,
        media_type=PROBLEM_JSON,
        headers=problem.headers,
    )


def install(app: FastAPI, principal_of: PrincipalLookup | None = None) -> None:
    """Every error the app can meet, answered as a problem (pages: with `principal_of`'s
    navigation)."""

    def answer(
        request: Request, problem: Problem, errors: list[dict[str, Any]] | None = None
    ) -> Response:
        return problem_response(request, problem, errors, principal_of)

    async def on_problem(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, Problem)
        return answer(request, exc)

    async def on_http(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, HTTPException)
        title = _TITLES.get(exc.status_code, N_("Error"))
        return answer(request, Problem(exc.status_code, title, headers=exc.headers))

    async def on_invalid(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, RequestValidationError)
        errors = [_validation_error(e) for e in exc.errors()]
        problem = Problem(
            422, N_("Invalid request"), N_("The request does not match the API schema.")
        )
        return answer(request, problem, errors)

    async def on_utsyn(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, UtsynError)
        status = 422 if isinstance(exc, ConfigError) else 503
        # The error's own message id and values, translated where the problem is shown.
        problem = Problem(status, _TITLES[status], exc.message)
        problem.variables = error_values(exc, request_language(request))
        return answer(request, problem)

    async def on_database(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, OperationalError)
        if not is_busy(exc):
            raise exc  # a real failure: answered by on_crash, with its traceback logged
        headers = {"Retry-After": str(BUSY_RETRY_AFTER)}
        problem = Problem(
            503,
            N_("Service unavailable"),
            N_("The database is busy. Try again in a few seconds."),
            headers,
        )
        return problem_response(request, problem)

    async def on_crash(request: Request, exc: Exception) -> Response:
        # Starlette logs the traceback and re-raises; this answer is outside the other
        # middleware, so it carries the security headers itself.
        response = answer(request, Problem(500, N_("Internal error")))
        apply_security_headers(request, response)
        return response

    app.add_exception_handler(Problem, on_problem)
    app.add_exception_handler(HTTPException, on_http)
    app.add_exception_handler(RequestValidationError, on_invalid)
    app.add_exception_handler(UtsynError, on_utsyn)
    app.add_exception_handler(OperationalError, on_database)
    app.add_exception_handler(Exception, on_crash)


def _validation_error(error: Any) -> dict[str, Any]:
    # Only where and what: the rejected input is not echoed back.
    return {"loc": [str(part) for part in error.get("loc", ())], "msg": str(error.get("msg"))}
