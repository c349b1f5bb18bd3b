"""Secrets and defences: password hashes, API tokens, CSRF tokens, login throttling and
the security headers of every response.

Login throttling is kept in memory: it is exact for one process (`utsyn serve` runs one)
and per process when several serve behind a balancer, where the per-account limit then
multiplies by the number of processes. A shared store (Redis) would make it global.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import threading
import time
from collections import deque
from collections.abc import Awaitable, Callable

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from starlette.requests import Request
from starlette.responses import Response

API_TOKEN_PREFIX = "utsyn_"
MIN_PASSWORD_LENGTH = 12

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


def new_secret(nbytes: int = 32) -> str:
    return secrets.token_urlsafe(nbytes)


def same_secret(given: str | None, expected: str | None) -> bool:
    """Constant-time comparison; a missing value never matches."""
    if not given or not expected:
        return False
    return hmac.compare_digest(given.encode("utf-8"), expected.encode("utf-8"))


class LoginThrottle:
    """Failed logins per account and per client address in a sliding window (in memory)."""

    MAX_KEYS = 10_000

    def __init__(
        self,
        per_account: int,
        per_address: int,
        window: float,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.per_account = per_account
        self.per_address = per_address
        self.window = window
        self.clock = clock
        self._failures: dict[str, deque[float]] = {}
        self._lock = threading.Lock()  # sync endpoints run in a thread pool

    def retry_after(self, account: str, address: str) -> int:
        """Seconds to wait before the next attempt may be checked; 0 when it may now."""
        with self._lock:
            now = self.clock()
            waits = [
                self._wait(f"account:{account}", self.per_account, now),
                self._wait(f"address:{address}", self.per_address, now),
            ]
        return max(waits)

    def failed(self, account: str, address: str) -> None:
        with self._lock:
            now = self.clock()
            if len(self._failures) > self.MAX_KEYS:
                self._prune(now)
            for key in (f"account:{account}", f"address:{address}"):
                self._failures.setdefault(key, deque()).append(now)

    def _prune(self, now: float) -> None:
        # Keys of accounts and addresses that never came back are dropped here.
        for key in list(self._failures):
            self._wait(key, 1, now)

    def succeeded(self, account: str) -> None:
        """A correct password clears the account's failures (not the address's)."""
        with self._lock:
            self._failures.pop(f"account:{account}", None)

    def _wait(self, key: str, limit: int, now: float) -> int:
        times = self._failures.get(key)
        if times is None:
            return 0
        while times and now - times[0] >= self.window:
            times.popleft()
        if not times:
            del self._failures[key]  # memory stays bounded by recent failures
            return 0
        if len(times) < limit:
            return 0
        return max(1, int(self.window - (now - times[0])) + 1)
