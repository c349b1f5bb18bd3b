"""Request body limits, enforced before anything reads or parses a body (JSON, forms,
multipart alike).

A body whose declared Content-Length passes the limit is refused at once, unread. A body
without one (chunked) is counted as it arrives and refused as soon as it passes the limit:
the route reading it gets `BodyTooLarge` instead of the next chunk. Either way the answer is
413, a problem in the request's language, and the server holds at most one chunk of the
rest (uvicorn reads and drops what the client still sends).

Requests with credentials (an Authorization header or a logged-in session) may send
`UTSYN_MAX_BODY_BYTES` (10 MiB: above the largest request the API's schemas admit, a plan
of 1,000 finding keys); without, `UTSYN_MAX_ANONYMOUS_BODY_BYTES` (64 KiB: the login form is
the largest body anyone sends before logging in).
"""

from __future__ import annotations

from fastapi import FastAPI, Request
from starlette.exceptions import HTTPException
from starlette.responses import Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from utsyn.web.i18n import N_
from utsyn.web.problems import Problem, problem_response
from utsyn.web.sessions import current_session

TITLE = N_("Content too large")
DETAIL = N_("The request is larger than Utsyn accepts (at most %(limit)s bytes).")


class BodyTooLarge(HTTPException):
    """Raised from `receive`: an HTTPException, so that FastAPI passes it on unchanged
    (any other error while it reads a body becomes a 400)."""

    def __init__(self, limit: int) -> None:
        super().__init__(413)
        self.limit = limit


class BodyLimit:
    """The ASGI middleware; `install` puts it inside the session middleware (it needs to
    know whether the request is logged in)."""

    def __init__(self, app: ASGIApp, limit: int, anonymous_limit: int) -> None:
        self.app = app
        self.limit = limit
        self.anonymous_limit = anonymous_limit

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        request = Request(scope)
        limit = self.limit if _has_credentials(request) else self.anonymous_limit
        declared = request.headers.get("content-length", "")
        if declared.isdigit() and int(declared) > limit:
            await too_large(request, limit)(scope, receive, send)
            return
        received = 0

        async def counted() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > limit:
                    raise BodyTooLarge(limit)
            return message

        await self.app(scope, counted, send)


def _has_credentials(request: Request) -> bool:
    if request.headers.get("authorization"):
        return True
    session = current_session(request)
    return session is not None and session.user_id is not None


def too_large(request: Request, limit: int) -> Response:
    return problem_response(request, Problem(413, TITLE, DETAIL, limit=limit))


def install(app: FastAPI, limit: int, anonymous_limit: int) -> None:
    """The middleware and the answer to `BodyTooLarge` (call before the session middleware
    is added: the last added runs first)."""

    async def on_too_large(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, BodyTooLarge)
        return too_large(request, exc.limit)

    app.add_middleware(BodyLimit, limit=limit, anonymous_limit=anonymous_limit)
    app.add_exception_handler(BodyTooLarge, on_too_large)
