"""Browser sessions: a signed cookie, HttpOnly, SameSite=Lax, Secure over https.

The cookie carries a random session id, the session's CSRF token and, once logged in, the
user id, the login time and a tag of the user's password hash. It is signed (itsdangerous,
HMAC-SHA1 over the key from `UTSYN_SECRET_KEY`), so it cannot be forged or altered, and
re-signed at most once a minute while in use, so it lapses `session_minutes` after the last
request. A login rotates the id and the CSRF token; a logout revokes the id. A password
change ends every session of the account (the tag no longer matches); disabling the
account ends them too (`deps.find_principal` checks the account on every request).

Revoked ids (their SHA-256) are kept in the database (`store.logins`) until their cookies
would have lapsed anyway, so a logged-out cookie stays dead after a restart and on every
process behind a balancer. Only logged-in sessions are checked: an anonymous session
carries nothing but a CSRF token.
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

from itsdangerous import BadSignature, SignatureExpired, URLSafeTimedSerializer
from starlette.requests import Request
from starlette.responses import Response

from utsyn.web.security import new_secret

SESSION_COOKIE = "utsyn_session"
RESIGN_AFTER = 60.0  # seconds: keep the idle timeout sliding without a cookie per response


@dataclass
class WebSession:
    sid: str
    csrf: str
    user_id: int | None = None
    password_tag: str = ""
    authenticated_at: float = 0.0
    signed_at: float = field(default=0.0, compare=False)
    dirty: bool = field(default=False, compare=False)  # to be (re)sent as a cookie
    ended: bool = field(default=False, compare=False)  # to be deleted (logout)

    @classmethod
    def fresh(cls) -> WebSession:
        return cls(sid=new_secret(), csrf=new_secret(), dirty=True)

    def log_in(self, user_id: int, password_hash: str) -> WebSession:
        """A new session (new id and CSRF token) for the user: never reuse a pre-login id."""
        session = WebSession.fresh()
        session.user_id = user_id
        session.password_tag = password_tag(password_hash)
        session.authenticated_at = time.time()
        return session


def sid_hash(sid: str) -> str:
    """What the database keeps of a revoked session id."""
    return hashlib.sha256(sid.encode("utf-8")).hexdigest()


def password_tag(password_hash: str) -> str:
    return hashlib.sha256(password_hash.encode("utf-8")).hexdigest()[:16]


class SessionCodec:
    """Signs and checks session cookies (revocations: see the module docstring)."""

    def __init__(self, key: str, idle_seconds: int, max_seconds: int) -> None:
        self._serializer = URLSafeTimedSerializer(key, salt="utsyn.session")
        self.idle_seconds = idle_seconds
        self.max_seconds = max_seconds

    def dumps(self, session: WebSession) -> str:
        payload = {
            "sid": session.sid,
            "csrf": session.csrf,
            "uid": session.user_id,
            "pw": session.password_tag,
            "at": session.authenticated_at,
        }
        return self._serializer.dumps(payload)

    def loads(self, cookie: str | None) -> WebSession | None:
        if not cookie:
            return None
        try:
            payload, signed = self._serializer.loads(
                cookie, max_age=self.idle_seconds, return_timestamp=True
            )
        except (BadSignature, SignatureExpired):
            return None
        session = _from_payload(payload, signed.timestamp())
        if session is None:
            return None
        if (
            session.user_id is not None
            and time.time() - session.authenticated_at > self.max_seconds
        ):
            return None  # the absolute limit, however active the session was
        return session


def _from_payload(payload: object, signed_at: float) -> WebSession | None:
    if not isinstance(payload, dict):
        return None
    sid, csrf, uid = payload.get("sid"), payload.get("csrf"), payload.get("uid")
    if not isinstance(sid, str) or not isinstance(csrf, str) or not isinstance(uid, int | None):
        return None
    tag, at = payload.get("pw", ""), payload.get("at", 0.0)
    if not isinstance(tag, str) or not isinstance(at, int | float):
        return None
    return WebSession(sid, csrf, uid, tag, float(at), signed_at)


def current_session(request: Request) -> WebSession | None:
    """The request's session, if its cookie was valid (set by `session_middleware`)."""
    session = getattr(request.state, "web_session", None)
    return session if isinstance(session, WebSession) else None


def ensure_session(request: Request) -> WebSession:
    """The request's session, started now (anonymous) when there is none: forms need one."""
    session = current_session(request)
    if session is None or session.ended:
        session = WebSession.fresh()
        request.state.web_session = session
    return session


def replace_session(request: Request, session: WebSession | None) -> None:
    """Put `session` in the request's place (None: the cookie's was revoked)."""
    request.state.web_session = session


def session_middleware(
    codec: SessionCodec,
) -> Callable[[Request, Callable[[Request], Awaitable[Response]]], Awaitable[Response]]:
    async def middleware(
        request: Request, call_next: Callable[[Request], Awaitable[Response]]
    ) -> Response:
        request.state.web_session = codec.loads(request.cookies.get(SESSION_COOKIE))
        response = await call_next(request)
        _write_cookie(request, response, codec)
        return response

    return middleware


def _write_cookie(request: Request, response: Response, codec: SessionCodec) -> None:
    session = current_session(request)
    if session is None:
        return
    secure = request.url.scheme == "https"
    if session.ended:
        response.delete_cookie(SESSION_COOKIE, secure=secure, httponly=True, samesite="lax")
        return
    stale = time.time() - session.signed_at > RESIGN_AFTER
    if session.dirty or stale:
        response.set_cookie(
            SESSION_COOKIE,
            codec.dumps(session),
            max_age=codec.idle_seconds,
            secure=secure,
            httponly=True,
            samesite="lax",
        )
