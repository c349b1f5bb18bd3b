"""What the HTTP jobs report: the observations made of a home page, its headers, its HTML
and its products, and of a redirect chain. Pure functions of what was read."""

from __future__ import annotations

from urllib.parse import urlsplit

from utsyn.scan.fingerprint import identify_web
from utsyn.scan.http.html import (
    TEXT_LIMIT,
    Page,
    mixed_content,
    page_text,
    parse_cookie,
    parse_page,
    sri_missing,
)
from utsyn.scan.http.response import BODY_LIMIT, HEAD_LIMIT, Response
from utsyn.scan.model import Observation, ServiceTarget, excerpt, failed, observe
from utsyn.scan.products import identify_banner

VALUE_LIMIT = 8192  # a reported header value; a CSP of a few KiB is normal
REPORTED_HEADERS = (
    "server",
    "x-powered-by",
    "strict-transport-security",
    "content-security-policy",
    "x-frame-options",
    "x-content-type-options",
    "referrer-policy",
    "x-xss-protection",
)


def home_observations(target: ServiceTarget, home: Response) -> list[Observation]:
    probe = "GET /"
    head = home.head[:HEAD_LIMIT]
    out = [
        observe(target, "http.status", home.status, probe, head.split(b"\n", 1)[0]),
        observe(target, "http.redirect", _optional(home.location, VALUE_LIMIT), probe),
    ]
    for name in REPORTED_HEADERS:
        value = _optional(home.header(name), VALUE_LIMIT)
        out.append(observe(target, f"http.header.{name}", value, probe))
    return out


def page_observations(target: ServiceTarget, url: str, home: Response) -> list[Observation]:
    probe = "GET /"
    html = page_text(home) if home.is_html else ""
    page = parse_page(html)
    cookies = [c for c in map(parse_cookie, home.all("set-cookie")) if c is not None]
    out = [
        observe(target, "http.title", _optional(page.title, TEXT_LIMIT), probe),
        observe(target, "http.cookies", cookies, probe),
        observe(
            target,
            "http.sri_missing",
            [_clean(u, TEXT_LIMIT) for u in sri_missing(page, url)],
            probe,
        ),
        observe(target, "http.mixed_content", mixed_content(page, url), probe),
        observe(target, "http.login_form", page.login_form, probe),
        observe(target, "http.generator", _optional(page.generator, TEXT_LIMIT), probe),
    ]
    if home.truncated:
        out.append(observe(target, "http.truncated", True, probe, f"capped at {BODY_LIMIT}"))
    return out + _products(target, home, html, page)


def _products(target: ServiceTarget, home: Response, html: str, page: Page) -> list[Observation]:
    """Products named by the headers and the HTML.

    The Server and X-Powered-By banners are read by `identify_banner`, which knows the
    distribution suffixes (`Apache/2.4.29 (Ubuntu)`) that make a CVE match only potential;
    web fingerprints add what the banners do not name.
    """
    banners = [home.header("server") or "", home.header("x-powered-by") or ""]
    named = [p.to_json() for b in banners if b for p in identify_banner("http", b)]
    covered = {_product_key(p.get("cpe")) for p in named} - {None}
    headers = {name: home.header(name) or "" for name, _ in home.headers}
    scripts = [url for kind, url, _ in page.assets if kind == "script"]
    try:
        found = identify_web(headers, html, scripts, home.all("set-cookie"))
    except Exception as exc:  # its bug must not cost the page's other results
        return [failed(target, "service.product", f"fingerprint failed: {exc!r}", "GET /")]
    extra = [p for p in found if _product_key(p.get("cpe")) not in covered]
    return [observe(target, "service.product", product, "GET /") for product in named + extra]


def _product_key(cpe: object) -> str | None:
    """`vendor:product` of a CPE 2.3 name, to tell two sources naming one product."""
    if not isinstance(cpe, str) or not cpe.startswith("cpe:2.3:"):
        return None
    parts = cpe.split(":")
    return f"{parts[3]}:{parts[4]}" if len(parts) > 4 else None


def chain_observations(
    target: ServiceTarget, hops: list[str], notes: list[str]
) -> list[Observation]:
    probe = "redirect chain from /"
    evidence = "; ".join(notes)
    schemes = [urlsplit(hop).scheme for hop in hops]
    first_https = schemes.index("https") if "https" in schemes else len(schemes)
    return [
        observe(
            target, "http.redirect_chain", [_clean(h, TEXT_LIMIT) for h in hops], probe, evidence
        ),
        observe(target, "http.redirects_to_https", bool(hops) and schemes[-1] == "https", probe),
        observe(target, "http.redirect_http_hop", "http" in schemes[first_https:], probe),
    ]


def _clean(text: str, limit: int) -> str:
    # Values go to JSON, the database and terminals: control characters (NUL, ANSI
    # escapes) are escaped and the size is capped, exactly as for evidence.
    return excerpt(text, limit)


def _optional(text: str | None, limit: int) -> str | None:
    return None if text is None else _clean(text, limit)
