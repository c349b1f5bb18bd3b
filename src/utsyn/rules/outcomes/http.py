"""The web (`scan.http`): transport, security headers, the page, and what it gives away."""

from __future__ import annotations

import re
from collections.abc import Iterator

from utsyn.rules.outcomes.model import Hit, Outcome
from utsyn.rules.outcomes.view import VERSION_NUMBER, TargetView, hit
from utsyn.scan.model import Observation

ONE_YEAR = 31_536_000  # seconds; HSTS preload list minimum (hstspreload.org)
_MAX_AGE = re.compile(r"max-age\s*=\s*\"?(\d+)", re.IGNORECASE)
# Cookies that carry a session. CSRF tokens (XSRF-TOKEN) are meant to be read by scripts.
_SESSION_COOKIE = re.compile(r"sess|sid|token|auth|login|jwt", re.IGNORECASE)
_CSRF_COOKIE = re.compile(r"csrf|xsrf", re.IGNORECASE)
# Headers whose absence is an outcome: the hit names the check that found nothing.
_HSTS = "http.header.strict-transport-security"
_CSP = "http.header.content-security-policy"
_XFO = "http.header.x-frame-options"
_NOSNIFF = "http.header.x-content-type-options"
_REFERRER = "http.header.referrer-policy"
_XSS = "http.header.x-xss-protection"


def http_transport(view: TargetView) -> Iterator[Hit]:
    kinds = {a: view.kind(a) for a in view.assets}
    has_https = "https" in kinds.values()
    for asset, o in view.assets_with("http.redirects_to_https"):
        yield hit(
            Outcome.HTTP_HTTPS_REDIRECT if o.value else Outcome.HTTP_NO_HTTPS_REDIRECT, asset, o
        )
        if view.value(asset, "http.redirect_http_hop") is True:
            yield hit(
                Outcome.HTTP_REDIRECT_HTTP_HOP,
                asset,
                view.assets[asset].get("http.redirect_http_hop"),
            )
        if view.value(asset, "http.status") == 200 and not has_https:
            yield hit(Outcome.HTTP_NO_HTTPS, asset, view.assets[asset].get("http.status"))
        if view.value(asset, "http.login_form") is True:
            yield hit(Outcome.HTTP_LOGIN_OVER_HTTP, asset, view.assets[asset]["http.login_form"])


def _https_assets(view: TargetView) -> Iterator[tuple[str, dict[str, Observation]]]:
    for asset, checks in view.assets.items():
        if view.kind(asset) == "https" and "http.status" in checks:
            yield asset, checks


def http_headers(view: TargetView) -> Iterator[Hit]:
    for asset, checks in _https_assets(view):
        hsts = checks.get(_HSTS)
        yield _hsts(asset, hsts)
        yield from _hsts_scope(asset, hsts, checks.get("http.zone_apex"))
        if checks["http.status"].value != 200:
            continue  # a redirect has no page of its own to protect
        csp = checks.get(_CSP)
        yield _csp(asset, csp)
        yield _framing(asset, checks.get(_XFO), csp)
        nosniff = checks.get(_NOSNIFF)
        ok = nosniff is not None and str(nosniff.value).strip().lower() == "nosniff"
        outcome = Outcome.NOSNIFF_OK if ok else Outcome.NOSNIFF_MISSING
        yield hit(outcome, asset, nosniff, check=_NOSNIFF)
        yield _referrer(asset, checks.get(_REFERRER))
        xss = checks.get(_XSS)
        enabled = xss is not None and str(xss.value or "").strip().startswith("1")
        outcome = Outcome.XSS_FILTER_ENABLED if enabled else Outcome.XSS_FILTER_OK
        yield hit(outcome, asset, xss, check=_XSS)


def _hsts(asset: str, o: Observation | None) -> Hit:
    if o is None or not o.value:
        return hit(Outcome.HSTS_MISSING, asset, o, check=_HSTS)
    match = _MAX_AGE.search(str(o.value))
    if match is not None and int(match.group(1)) == 0:
        return hit(Outcome.HSTS_MISSING, asset, o)  # max-age=0 tells browsers to forget HSTS
    if match is None or int(match.group(1)) < ONE_YEAR:
        return hit(Outcome.HSTS_SHORT, asset, o)
    return hit(Outcome.HSTS_OK, asset, o)


def _hsts_scope(asset: str, o: Observation | None, apex: Observation | None) -> Iterator[Hit]:
    """includeSubDomains where it matters (the zone apex), and `preload` that can be kept.

    hstspreload.org takes and keeps a domain only with max-age of a year or more and
    includeSubDomains; on the apex, includeSubDomains also covers every name below it
    (RFC 6797 section 14.4). Without HSTS in force there is nothing more to judge.
    """
    match = _MAX_AGE.search(str(o.value)) if o is not None and o.value else None
    if o is None or match is None or int(match.group(1)) == 0:
        return
    directives = {d.strip().lower() for d in str(o.value).split(";")}
    subdomains = "includesubdomains" in directives
    if "preload" in directives:
        kept = subdomains and int(match.group(1)) >= ONE_YEAR
        yield hit(Outcome.HSTS_PRELOAD_OK if kept else Outcome.HSTS_PRELOAD_UNMET, asset, o)
    if apex is not None and apex.value is True:
        outcome = Outcome.HSTS_SUBDOMAINS_OK if subdomains else Outcome.HSTS_NO_SUBDOMAINS
        yield hit(outcome, asset, o)


# The HTTP Observatory's reading: the last policy a browser knows wins (W3C Referrer Policy
# section 11.1); no-referrer-when-downgrade and invalid values leave the browser's default.
_REFERRER_PRIVATE = frozenset(
    {"no-referrer", "same-origin", "strict-origin", "strict-origin-when-cross-origin"}
)
_REFERRER_UNSAFE = frozenset({"origin", "origin-when-cross-origin", "unsafe-url"})
_REFERRER_KNOWN = _REFERRER_PRIVATE | _REFERRER_UNSAFE | {"no-referrer-when-downgrade"}


def _referrer(asset: str, o: Observation | None) -> Hit:
    tokens = [t.strip() for t in str(o.value or "").lower().split(",")] if o else []
    policy = next((t for t in reversed(tokens) if t in _REFERRER_KNOWN), None)
    if policy in _REFERRER_UNSAFE:
        return hit(Outcome.REFERRER_POLICY_UNSAFE, asset, o)
    if policy in _REFERRER_PRIVATE:
        return hit(Outcome.REFERRER_POLICY_OK, asset, o)
    return hit(Outcome.REFERRER_POLICY_MISSING, asset, o, check=_REFERRER)


def _csp(asset: str, o: Observation | None) -> Hit:
    if o is None or not o.value:
        return hit(Outcome.CSP_MISSING, asset, o, check=_CSP)
    directives = _csp_directives(str(o.value))
    scripts = directives.get("script-src", directives.get("default-src"))
    if scripts is None:
        return hit(Outcome.CSP_UNSAFE, asset, o)
    unsafe = {"'unsafe-inline'", "'unsafe-eval'", "*", "http:", "https:", "data:"}
    nonce_or_hash = any(s.startswith(("'nonce-", "'sha")) for s in scripts)
    risky = unsafe & set(scripts)
    if nonce_or_hash and risky <= {"'unsafe-inline'"}:
        risky = set()  # CSP level 2: a nonce or hash makes browsers ignore 'unsafe-inline'
    return hit(Outcome.CSP_UNSAFE if risky else Outcome.CSP_OK, asset, o)


def _csp_directives(value: str) -> dict[str, list[str]]:
    directives: dict[str, list[str]] = {}
    for part in value.split(";"):
        tokens = part.strip().split()
        if tokens:
            directives.setdefault(tokens[0].lower(), [t.lower() for t in tokens[1:]])
    return directives


def _framing(asset: str, xfo: Observation | None, csp: Observation | None) -> Hit:
    ancestors = _csp_directives(str(csp.value or "")).get("frame-ancestors") if csp else None
    if ancestors is not None and not {"*", "http:", "https:"} & set(ancestors):
        return hit(Outcome.FRAMING_OK, asset, csp)
    if xfo is not None and str(xfo.value or "").strip().upper() in ("DENY", "SAMEORIGIN"):
        return hit(Outcome.FRAMING_OK, asset, xfo)
    return hit(Outcome.FRAMING_UNPROTECTED, asset, xfo, check=_XFO)


def http_page(view: TargetView) -> Iterator[Hit]:
    for asset, checks in _https_assets(view):
        if "http.cookies" in checks:
            yield from _cookies(asset, checks["http.cookies"])
        if "http.sri_missing" in checks:
            missing = checks["http.sri_missing"]
            yield hit(Outcome.SRI_MISSING if missing.value else Outcome.SRI_OK, asset, missing)
        if "http.mixed_content" in checks:
            mixed = checks["http.mixed_content"]
            outcome = Outcome.MIXED_CONTENT if mixed.value else Outcome.MIXED_CONTENT_NONE
            yield hit(outcome, asset, mixed)
        if "http.security_txt" in checks:
            found = checks["http.security_txt"]
            outcome = {
                "valid": Outcome.SECURITY_TXT_OK,
                "expired": Outcome.SECURITY_TXT_EXPIRED,
            }.get(str(found.value), Outcome.SECURITY_TXT_MISSING)
            yield hit(outcome, asset, found)


def _cookies(asset: str, o: Observation) -> Iterator[Hit]:
    cookies = o.value if isinstance(o.value, list) else []
    flawless = True
    for cookie in cookies:
        name = str(cookie.get("name", ""))
        if not cookie.get("secure"):
            flawless = False
            yield hit(Outcome.COOKIE_NO_SECURE, asset, o, detail=name)
        session = _SESSION_COOKIE.search(name) and not _CSRF_COOKIE.search(name)
        if not cookie.get("httponly") and session:
            flawless = False
            yield hit(Outcome.COOKIE_NO_HTTPONLY, asset, o, detail=name)
        if not cookie.get("samesite"):
            flawless = False
            yield hit(Outcome.COOKIE_NO_SAMESITE, asset, o, detail=name)
    if flawless:
        yield hit(Outcome.COOKIES_OK, asset, o)


def leakage(view: TargetView) -> Iterator[Hit]:
    for asset, checks in view.assets.items():
        if view.kind(asset) not in ("http", "https") or "http.status" not in checks:
            continue
        leaks = [
            (Outcome.LEAK_SERVER_VERSION, checks.get("http.header.server")),
            (Outcome.LEAK_POWERED_BY, checks.get("http.header.x-powered-by")),
            (Outcome.LEAK_GENERATOR_VERSION, checks.get("http.generator")),
        ]
        versioned = [
            (out, o)
            for out, o in leaks
            if o is not None and VERSION_NUMBER.search(str(o.value or ""))
        ]
        for outcome, o in versioned:
            yield hit(outcome, asset, o)
        if not versioned:
            yield hit(Outcome.LEAK_NO_VERSION, asset, checks["http.status"])
        exposed = [
            (Outcome.LEAK_GIT, checks.get("http.exposed.git")),
            (Outcome.LEAK_ENV, checks.get("http.exposed.env")),
            (Outcome.LEAK_DIRECTORY_LISTING, checks.get("http.exposed.directory_listing")),
        ]
        found = [(out, o) for out, o in exposed if o is not None and o.value is True]
        for outcome, o in found:
            yield hit(outcome, asset, o)
        if not found and any(o is not None for _, o in exposed):
            yield hit(Outcome.LEAK_NOTHING_EXPOSED, asset, checks["http.status"])
