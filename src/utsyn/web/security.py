"""Secrets and defences: password hashes, API tokens, CSRF tokens, reset links and the
security headers of every response. (Login throttling:
`web.throttle`; the password policy: `web.passwords`.)
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from collections.abc import Awaitable, Callable

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from starlette.requests import Request
from starlette.responses import Response

API_TOKEN_PREFIX = "utsyn_"

# No inline script or style anywhere: pages load /static files only. Images may also be
# data: URLs: the design system draws its icons (sort arrows, alert symbols) as SVG masks
# written into its CSS that way; an image cannot run script.
CONTENT_SECURITY_POLICY = (
    "default-src 'self'; script-src 'self'; img-src 'self' data:; object-src 'none'; "
    "base-uri 'none'; frame-ancestors 'none'; form-action 'self'"
)
HSTS = "max-age=63072000; includeSubDomains"  # two years, as hstspreload.org asks
SECURITY_HEADERS: dict[str, str] = {
    "Content-Security-Policy": CONTENT_SECURITY_POLICY,
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",  # for browsers older than frame-ancestors
    "Referrer-Policy": "no-referrer",
    "Permissions-Policy": (
        "camera=(), microphone=(), geolocation=(), payment=(), usb=(), interest-cohort=()"
    ),
    "Cross-Origin-Opener-Policy": "same-origin",
    "Cross-Origin-Resource-Policy": "same-origin",
}


def apply_security_headers(request: Request, response: Response) -> None:
    """Utsyn's own headers on one response (HSTS only where it means something: https)."""
    for name, value in SECURITY_HEADERS.items():
        response.headers.setdefault(name, value)
    if request.url.scheme == "https":
        response.headers.setdefault("Strict-Transport-Security", HSTS)
    # Pages and API answers are per user: no shared cache may keep them.
    if not request.url.path.startswith("/static/"):
        response.headers.setdefault("Cache-Control", "no-store")


def security_headers_middleware() -> Callable[
    [Request, Callable[[Request], Awaitable[Response]]], Awaitable[Response]
]:
    async def middleware(
        request: Request, call_next: Callable[[Request], Awaitable[Response]]
    ) -> Response:
        response = await call_next(request)
        apply_security_headers(request, response)
        return response

    return middleware


_hasher = PasswordHasher()
# Checked when an account does not exist, so that an unknown e-mail costs the same time as
# a wrong password and response times do not tell which accounts exist.
_DUMMY_HASH = _hasher.hash(secrets.token_urlsafe(16))


def hash_password(password: str) -> str:
    return _hasher.hash(password)


def check_password(password_hash: str | None, password: str) -> bool:
    """True when `password` matches; an unknown account (None) is checked against a decoy."""
    try:
        _hasher.verify(password_hash or _DUMMY_HASH, password)
    except (VerificationError, InvalidHashError):
        return False
    return password_hash is not None


def needs_rehash(password_hash: str) -> bool:
    return _hasher.check_needs_rehash(password_hash)


def new_api_token() -> tuple[str, str]:
    """A new token (32 random bytes, shown once) and the SHA-256 hex that is stored."""
    token = API_TOKEN_PREFIX + secrets.token_urlsafe(32)
    return token, token_hash(token)


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def new_reset_token() -> tuple[str, str]:
    """A new password reset token (for the link, shown once) and the SHA-256 hex stored."""
    token = secrets.token_urlsafe(32)
    return token, token_hash(token)


def new_secret(nbytes: int = 32) -> str:
    return secrets.token_urlsafe(nbytes)


def same_secret(given: str | None, expected: str | None) -> bool:
    """Constant-time comparison; a missing value never matches."""
    if not given or not expected:
        return False
    return hmac.compare_digest(given.encode("utf-8"), expected.encode("utf-8"))
