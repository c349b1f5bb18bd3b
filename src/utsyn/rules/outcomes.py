"""From observations to outcomes: one closed set of outcomes, one classifier per check family.

Like the HTTP Observatory's test results, every outcome a classifier can produce is a member
of `Outcome`; the rulebook maps each failing outcome to exactly one rule, and `PASSING`
lists the outcomes that cost nothing. A test holds the two tables in agreement.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from utsyn.scan.model import Observation, TargetResult


class Outcome(StrEnum):
    # TLS (on https and on SMTP after STARTTLS)
    TLS_SSL3 = "tls.ssl3"
    TLS_TLS10 = "tls.tls10"
    TLS_TLS11 = "tls.tls11"
    TLS_NO_TLS13 = "tls.no_tls13"
    TLS_MODERN = "tls.modern"
    TLS_RC4 = "tls.rc4"
    TLS_3DES = "tls.3des"
    TLS_NULL = "tls.null"
    TLS_ANON = "tls.anon"
    TLS_NO_FS = "tls.no_forward_secrecy"
    TLS_CBC_ONLY = "tls.cbc_only"
    TLS_CIPHERS_OK = "tls.ciphers_ok"
    TLS_DHE_WEAK = "tls.dhe_weak"
    TLS_DHE_OK = "tls.dhe_ok"
    CERT_VALID = "cert.valid"
    CERT_EXPIRED = "cert.expired"
    CERT_NOT_YET_VALID = "cert.not_yet_valid"
    CERT_SELF_SIGNED = "cert.self_signed"
    CERT_UNTRUSTED = "cert.untrusted"
    CERT_WRONG_HOST = "cert.wrong_host"
    CERT_INCOMPLETE_CHAIN = "cert.incomplete_chain"
    CERT_WEAK_KEY = "cert.weak_key"
    CERT_KEY_OK = "cert.key_ok"
    CERT_SHA1 = "cert.sha1"
    CERT_SIGNATURE_OK = "cert.signature_ok"
    CERT_EXPIRING_SOON = "cert.expiring_soon"
    # Web
    HTTP_NO_HTTPS_REDIRECT = "web.no_https_redirect"
    HTTP_HTTPS_REDIRECT = "web.https_redirect"
    HTTP_REDIRECT_HTTP_HOP = "web.redirect_http_hop"
    HTTP_NO_HTTPS = "web.no_https"
    HTTP_LOGIN_OVER_HTTP = "web.login_over_http"
    HSTS_MISSING = "web.hsts_missing"
    HSTS_SHORT = "web.hsts_short"
    HSTS_OK = "web.hsts_ok"
    HSTS_NO_SUBDOMAINS = "web.hsts_no_subdomains"
    HSTS_SUBDOMAINS_OK = "web.hsts_subdomains_ok"
    HSTS_PRELOAD_UNMET = "web.hsts_preload_unmet"
    HSTS_PRELOAD_OK = "web.hsts_preload_ok"
    CSP_MISSING = "web.csp_missing"
    CSP_UNSAFE = "web.csp_unsafe"
    CSP_OK = "web.csp_ok"
    FRAMING_UNPROTECTED = "web.framing_unprotected"
    FRAMING_OK = "web.framing_ok"
    NOSNIFF_MISSING = "web.nosniff_missing"
    NOSNIFF_OK = "web.nosniff_ok"
    REFERRER_POLICY_MISSING = "web.referrer_policy_missing"
    REFERRER_POLICY_UNSAFE = "web.referrer_policy_unsafe"
    REFERRER_POLICY_OK = "web.referrer_policy_ok"
    XSS_FILTER_ENABLED = "web.xss_filter_enabled"
    XSS_FILTER_OK = "web.xss_filter_ok"
    COOKIE_NO_SECURE = "web.cookie_no_secure"
    COOKIE_NO_HTTPONLY = "web.cookie_no_httponly"
    COOKIE_NO_SAMESITE = "web.cookie_no_samesite"
    COOKIES_OK = "web.cookies_ok"
    SRI_MISSING = "web.sri_missing"
    SRI_OK = "web.sri_ok"
    MIXED_CONTENT = "web.mixed_content"
    MIXED_CONTENT_NONE = "web.mixed_content_none"
    SECURITY_TXT_MISSING = "web.security_txt_missing"
    SECURITY_TXT_EXPIRED = "web.security_txt_expired"
    SECURITY_TXT_OK = "web.security_txt_ok"
    # Information leakage
    LEAK_SERVER_VERSION = "leak.server_version"
    LEAK_POWERED_BY = "leak.powered_by"
    LEAK_GENERATOR_VERSION = "leak.generator_version"
    LEAK_NO_VERSION = "leak.no_version"
    LEAK_GIT = "leak.git"
    LEAK_ENV = "leak.env"
    LEAK_DIRECTORY_LISTING = "leak.directory_listing"
    LEAK_NOTHING_EXPOSED = "leak.nothing_exposed"
    LEAK_DNS_VERSION = "leak.dns_version"
    LEAK_DNS_VERSION_HIDDEN = "leak.dns_version_hidden"
    # E-mail
    SPF_MISSING = "email.spf_missing"
    SPF_PASS_ALL = "email.spf_pass_all"
    SPF_NEUTRAL = "email.spf_neutral"
    SPF_TOO_MANY_LOOKUPS = "email.spf_too_many_lookups"
    SPF_MULTIPLE = "email.spf_multiple"
    SPF_INVALID = "email.spf_invalid"
    SPF_OK = "email.spf_ok"
    DMARC_MISSING = "email.dmarc_missing"
    DMARC_NONE = "email.dmarc_none"
    DMARC_MALFORMED = "email.dmarc_malformed"
    DMARC_ENFORCED = "email.dmarc_enforced"
    DKIM_NOT_FOUND = "email.dkim_not_found"
    DKIM_WEAK_KEY = "email.dkim_weak_key"
    DKIM_OK = "email.dkim_ok"
    MTA_STS_MISSING = "email.mta_sts_missing"
    MTA_STS_NOT_ENFORCED = "email.mta_sts_not_enforced"
    MTA_STS_ENFORCED = "email.mta_sts_enforced"
    TLS_RPT_MISSING = "email.tls_rpt_missing"
    TLS_RPT_OK = "email.tls_rpt_ok"
    STARTTLS_MISSING = "email.starttls_missing"
    STARTTLS_OK = "email.starttls_ok"
    SMTP_USER_ENUMERATION = "email.smtp_user_enumeration"
    SMTP_NO_USER_ENUMERATION = "email.smtp_no_user_enumeration"
    CLEARTEXT_LOGIN = "email.cleartext_login"
    NO_CLEARTEXT_LOGIN = "email.no_cleartext_login"
    LOGIN_STARTTLS_MISSING = "email.login_starttls_missing"
    LOGIN_STARTTLS_OK = "email.login_starttls_ok"
    # DNS
    DNSSEC_MISSING = "dns.dnssec_missing"
    DNSSEC_BROKEN = "dns.dnssec_broken"
    DNSSEC_OK = "dns.dnssec_ok"
    DNSSEC_ISLAND = "dns.dnssec_island"
    DNSSEC_CANNOT_VALIDATE = "dns.dnssec_cannot_validate"
    CAA_MISSING = "dns.caa_missing"
    CAA_OK = "dns.caa_ok"
    ZONE_TRANSFER = "dns.zone_transfer"
    ZONE_TRANSFER_REFUSED = "dns.zone_transfer_refused"
    DANGLING_CNAME = "dns.dangling_cname"
    DANGLING_NONE = "dns.dangling_none"
    # Network exposure
    OPEN_RESOLVER = "net.open_resolver"
    EXPOSED_TELNET = "net.telnet"
    EXPOSED_FTP = "net.ftp"
    EXPOSED_RDP = "net.rdp"
    EXPOSED_SMB = "net.smb"
    EXPOSED_VNC = "net.vnc"
    EXPOSED_DATABASE = "net.database"
    EXPOSED_NOSQL = "net.nosql"
    EXPOSED_LDAP = "net.ldap"
    EXPECTED_SERVICE = "net.expected_service"
    SSH_PASSWORD_LOGIN = "net.ssh_password_login"
    SSH_KEY_LOGIN_ONLY = "net.ssh_key_login_only"
    SSH_WEAK_KEX = "net.ssh_weak_kex"
    SSH_SHA1_KEX = "net.ssh_sha1_kex"
    SSH_WEAK_HOST_KEY = "net.ssh_weak_host_key"
    SSH_WEAK_CIPHERS = "net.ssh_weak_ciphers"
    SSH_ALGORITHMS_OK = "net.ssh_algorithms_ok"
    # Software vulnerabilities (from vuln/enrich.py: products matched to CVEs)
    VULN_KEV = "vuln.kev"
    VULN_CRITICAL = "vuln.critical"
    VULN_HIGH = "vuln.high"
    VULN_MEDIUM = "vuln.medium"
    VULN_LOW = "vuln.low"
    VULN_POTENTIAL = "vuln.potential"
    VULN_NONE_KNOWN = "vuln.none_known"


@dataclass(frozen=True, slots=True)
class Hit:
    """One outcome on one asset, with the observation behind it."""

    outcome: Outcome
    asset: str  # "host:port" or a zone name
    evidence: str = ""
    detail: str = ""  # distinguishes hits of one outcome on one asset (a cookie's name)


class TargetView:
    """The observations of one target result, looked up by (asset, check)."""

    def __init__(self, result: TargetResult) -> None:
        self.result = result
        self.by_key: dict[tuple[str, str], Observation] = {}
        self.assets: dict[str, dict[str, Observation]] = {}
        for o in result.observations:
            if o.error is None:
                self.by_key[(o.target, o.check)] = o
                self.assets.setdefault(o.target, {})[o.check] = o

    def value(self, asset: str, check: str) -> Any:
        o = self.by_key.get((asset, check))
        return None if o is None else o.value

    def has(self, asset: str, check: str) -> bool:
        return (asset, check) in self.by_key

    def kind(self, asset: str) -> str | None:
        value = self.value(asset, "service.kind")
        return value if isinstance(value, str) else None

    def assets_with(self, check: str) -> Iterator[tuple[str, Observation]]:
        for asset, checks in self.assets.items():
            if check in checks:
                yield asset, checks[check]


Classifier = Callable[[TargetView], Iterator[Hit]]
CLASSIFIERS: list[Classifier] = []


def classifier(fn: Classifier) -> Classifier:
    CLASSIFIERS.append(fn)
    return fn


def classify(result: TargetResult) -> list[Hit]:
    view = TargetView(result)
    return [hit for fn in CLASSIFIERS for hit in fn(view)]


def _hit(outcome: Outcome, asset: str, o: Observation | None, detail: str = "") -> Hit:
    evidence = (o.evidence or f"{o.check} = {o.value!r}") if o is not None else ""
    return Hit(outcome, asset, evidence[:500], detail)


# ------------------------------------------------------------------ TLS


_VERSION_OUTCOMES = {
    "tls.version.ssl3": Outcome.TLS_SSL3,
    "tls.version.tls1.0": Outcome.TLS_TLS10,
    "tls.version.tls1.1": Outcome.TLS_TLS11,
}
_CIPHER_OUTCOMES = {
    "tls.cipher.rc4": Outcome.TLS_RC4,
    "tls.cipher.3des": Outcome.TLS_3DES,
    "tls.cipher.null": Outcome.TLS_NULL,
    "tls.cipher.anon": Outcome.TLS_ANON,
    "tls.cipher.rsa_kex": Outcome.TLS_NO_FS,
}
_CERT_STATUS = {
    "valid": Outcome.CERT_VALID,
    "expired": Outcome.CERT_EXPIRED,
    "not_yet_valid": Outcome.CERT_NOT_YET_VALID,
    "self_signed": Outcome.CERT_SELF_SIGNED,
    "unknown_issuer": Outcome.CERT_UNTRUSTED,
    "wrong_host": Outcome.CERT_WRONG_HOST,
    "incomplete_chain": Outcome.CERT_INCOMPLETE_CHAIN,
}


@classifier
def tls_protocols(view: TargetView) -> Iterator[Hit]:
    for asset, o in view.assets_with("tls.version.tls1.3"):
        checks = view.assets[asset]
        old = [(c, out) for c, out in _VERSION_OUTCOMES.items() if view.value(asset, c) is True]
        for check, outcome in old:
            yield _hit(outcome, asset, checks[check])
        if o.value is not True:
            yield _hit(Outcome.TLS_NO_TLS13, asset, o)
        elif not old:
            yield _hit(Outcome.TLS_MODERN, asset, o)


@classifier
def tls_ciphers(view: TargetView) -> Iterator[Hit]:
    for asset, aead in view.assets_with("tls.cipher.aead"):
        checks = view.assets[asset]
        weak = [(c, out) for c, out in _CIPHER_OUTCOMES.items() if view.value(asset, c) is True]
        for check, outcome in weak:
            yield _hit(outcome, asset, checks[check])
        cbc_only = view.value(asset, "tls.cipher.cbc") is True and aead.value is not True
        if cbc_only:
            yield _hit(Outcome.TLS_CBC_ONLY, asset, checks.get("tls.cipher.cbc"))
        if not weak and not cbc_only:
            yield _hit(Outcome.TLS_CIPHERS_OK, asset, aead)


# Mozilla's intermediate configuration asks for ffdhe2048 at least; 1024-bit groups are
# within reach of a well-funded attacker's precomputation (Logjam).
DHE_MIN_BITS = 2048


@classifier
def tls_dhe(view: TargetView) -> Iterator[Hit]:
    for asset, o in view.assets_with("tls.dhe.bits"):
        weak = isinstance(o.value, int) and o.value < DHE_MIN_BITS
        yield _hit(Outcome.TLS_DHE_WEAK if weak else Outcome.TLS_DHE_OK, asset, o)


@classifier
def certificates(view: TargetView) -> Iterator[Hit]:
    for asset, o in view.assets_with("tls.cert.status"):
        outcome = _CERT_STATUS.get(str(o.value))
        if outcome is not None:
            yield _hit(outcome, asset, o)
        key = view.assets[asset].get("tls.cert.key")
        if key is not None:
            weak = key.value in ("rsa1024", "rsa512")
            yield _hit(Outcome.CERT_WEAK_KEY if weak else Outcome.CERT_KEY_OK, asset, key)
        sig = view.assets[asset].get("tls.cert.signature")
        if sig is not None:
            sha1 = sig.value in ("sha1", "md5")
            yield _hit(Outcome.CERT_SHA1 if sha1 else Outcome.CERT_SIGNATURE_OK, asset, sig)
        soon = view.assets[asset].get("tls.cert.expiring_soon")
        if soon is not None and soon.value is True:
            yield _hit(Outcome.CERT_EXPIRING_SOON, asset, soon)


# ------------------------------------------------------------------ web

ONE_YEAR = 31_536_000  # seconds; HSTS preload list minimum (hstspreload.org)
_MAX_AGE = re.compile(r"max-age\s*=\s*\"?(\d+)", re.IGNORECASE)
_VERSION = re.compile(r"\d+\.\d+")
# Cookies that carry a session. CSRF tokens (XSRF-TOKEN) are meant to be read by scripts.
_SESSION_COOKIE = re.compile(r"sess|sid|token|auth|login|jwt", re.IGNORECASE)
_CSRF_COOKIE = re.compile(r"csrf|xsrf", re.IGNORECASE)


@classifier
def http_transport(view: TargetView) -> Iterator[Hit]:
    kinds = {a: view.kind(a) for a in view.assets}
    has_https = "https" in kinds.values()
    for asset, o in view.assets_with("http.redirects_to_https"):
        yield _hit(
            Outcome.HTTP_HTTPS_REDIRECT if o.value else Outcome.HTTP_NO_HTTPS_REDIRECT, asset, o
        )
        if view.value(asset, "http.redirect_http_hop") is True:
            yield _hit(
                Outcome.HTTP_REDIRECT_HTTP_HOP,
                asset,
                view.assets[asset].get("http.redirect_http_hop"),
            )
        if view.value(asset, "http.status") == 200 and not has_https:
            yield _hit(Outcome.HTTP_NO_HTTPS, asset, view.assets[asset].get("http.status"))
        if view.value(asset, "http.login_form") is True:
            yield _hit(Outcome.HTTP_LOGIN_OVER_HTTP, asset, view.assets[asset]["http.login_form"])


def _https_assets(view: TargetView) -> Iterator[tuple[str, dict[str, Observation]]]:
    for asset, checks in view.assets.items():
        if view.kind(asset) == "https" and "http.status" in checks:
            yield asset, checks


@classifier
def http_headers(view: TargetView) -> Iterator[Hit]:
    for asset, checks in _https_assets(view):
        hsts = checks.get("http.header.strict-transport-security")
        yield _hsts(asset, hsts)
        yield from _hsts_scope(asset, hsts, checks.get("http.zone_apex"))
        if checks["http.status"].value != 200:
            continue  # a redirect has no page of its own to protect
        csp = checks.get("http.header.content-security-policy")
        yield _csp(asset, csp)
        yield _framing(asset, checks.get("http.header.x-frame-options"), csp)
        nosniff = checks.get("http.header.x-content-type-options")
        ok = nosniff is not None and str(nosniff.value).strip().lower() == "nosniff"
        yield _hit(Outcome.NOSNIFF_OK if ok else Outcome.NOSNIFF_MISSING, asset, nosniff)
        yield _referrer(asset, checks.get("http.header.referrer-policy"))
        xss = checks.get("http.header.x-xss-protection")
        enabled = xss is not None and str(xss.value or "").strip().startswith("1")
        yield _hit(Outcome.XSS_FILTER_ENABLED if enabled else Outcome.XSS_FILTER_OK, asset, xss)


def _hsts(asset: str, o: Observation | None) -> Hit:
    if o is None or not o.value:
        return _hit(Outcome.HSTS_MISSING, asset, o)
    match = _MAX_AGE.search(str(o.value))
    if match is not None and int(match.group(1)) == 0:
        return _hit(Outcome.HSTS_MISSING, asset, o)  # max-age=0 tells browsers to forget HSTS
    if match is None or int(match.group(1)) < ONE_YEAR:
        return _hit(Outcome.HSTS_SHORT, asset, o)
    return _hit(Outcome.HSTS_OK, asset, o)


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
        yield _hit(Outcome.HSTS_PRELOAD_OK if kept else Outcome.HSTS_PRELOAD_UNMET, asset, o)
    if apex is not None and apex.value is True:
        outcome = Outcome.HSTS_SUBDOMAINS_OK if subdomains else Outcome.HSTS_NO_SUBDOMAINS
        yield _hit(outcome, asset, o)


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
        return _hit(Outcome.REFERRER_POLICY_UNSAFE, asset, o)
    if policy in _REFERRER_PRIVATE:
        return _hit(Outcome.REFERRER_POLICY_OK, asset, o)
    return _hit(Outcome.REFERRER_POLICY_MISSING, asset, o)


def _csp(asset: str, o: Observation | None) -> Hit:
    if o is None or not o.value:
        return _hit(Outcome.CSP_MISSING, asset, o)
    directives = _csp_directives(str(o.value))
    scripts = directives.get("script-src", directives.get("default-src"))
    if scripts is None:
        return _hit(Outcome.CSP_UNSAFE, asset, o)
    unsafe = {"'unsafe-inline'", "'unsafe-eval'", "*", "http:", "https:", "data:"}
    nonce_or_hash = any(s.startswith(("'nonce-", "'sha")) for s in scripts)
    risky = unsafe & set(scripts)
    if nonce_or_hash and risky <= {"'unsafe-inline'"}:
        risky = set()  # CSP level 2: a nonce or hash makes browsers ignore 'unsafe-inline'
    return _hit(Outcome.CSP_UNSAFE if risky else Outcome.CSP_OK, asset, o)


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
        return _hit(Outcome.FRAMING_OK, asset, csp)
    if xfo is not None and str(xfo.value or "").strip().upper() in ("DENY", "SAMEORIGIN"):
        return _hit(Outcome.FRAMING_OK, asset, xfo)
    return _hit(Outcome.FRAMING_UNPROTECTED, asset, xfo)


@classifier
def http_page(view: TargetView) -> Iterator[Hit]:
    for asset, checks in _https_assets(view):
        if "http.cookies" in checks:
            yield from _cookies(asset, checks["http.cookies"])
        if "http.sri_missing" in checks:
            missing = checks["http.sri_missing"]
            yield _hit(Outcome.SRI_MISSING if missing.value else Outcome.SRI_OK, asset, missing)
        if "http.mixed_content" in checks:
            mixed = checks["http.mixed_content"]
            outcome = Outcome.MIXED_CONTENT if mixed.value else Outcome.MIXED_CONTENT_NONE
            yield _hit(outcome, asset, mixed)
        if "http.security_txt" in checks:
            found = checks["http.security_txt"]
            outcome = {
                "valid": Outcome.SECURITY_TXT_OK,
                "expired": Outcome.SECURITY_TXT_EXPIRED,
            }.get(str(found.value), Outcome.SECURITY_TXT_MISSING)
            yield _hit(outcome, asset, found)


def _cookies(asset: str, o: Observation) -> Iterator[Hit]:
    cookies = o.value if isinstance(o.value, list) else []
    flawless = True
    for cookie in cookies:
        name = str(cookie.get("name", ""))
        if not cookie.get("secure"):
            flawless = False
            yield _hit(Outcome.COOKIE_NO_SECURE, asset, o, detail=name)
        session = _SESSION_COOKIE.search(name) and not _CSRF_COOKIE.search(name)
        if not cookie.get("httponly") and session:
            flawless = False
            yield _hit(Outcome.COOKIE_NO_HTTPONLY, asset, o, detail=name)
        if not cookie.get("samesite"):
            flawless = False
            yield _hit(Outcome.COOKIE_NO_SAMESITE, asset, o, detail=name)
    if flawless:
        yield _hit(Outcome.COOKIES_OK, asset, o)


@classifier
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
            (out, o) for out, o in leaks if o is not None and _VERSION.search(str(o.value or ""))
        ]
        for outcome, o in versioned:
            yield _hit(outcome, asset, o)
        if not versioned:
            yield _hit(Outcome.LEAK_NO_VERSION, asset, checks["http.status"])
        exposed = [
            (Outcome.LEAK_GIT, checks.get("http.exposed.git")),
            (Outcome.LEAK_ENV, checks.get("http.exposed.env")),
            (Outcome.LEAK_DIRECTORY_LISTING, checks.get("http.exposed.directory_listing")),
        ]
        found = [(out, o) for out, o in exposed if o is not None and o.value is True]
        for outcome, o in found:
            yield _hit(outcome, asset, o)
        if not found and any(o is not None for _, o in exposed):
            yield _hit(Outcome.LEAK_NOTHING_EXPOSED, asset, checks["http.status"])


@classifier
def name_server_versions(view: TargetView) -> Iterator[Hit]:
    """A name server that answers `version.bind` with a version number tells which CVEs
    apply to it; a refusal or a string without one ("none", "unknown") tells nothing."""
    for asset, o in view.assets_with("dns.ns_version"):
        answers = o.value if isinstance(o.value, dict) else {}
        telling = sorted(ns for ns, text in answers.items() if _VERSION.search(str(text or "")))
        for server in telling:
            yield _hit(Outcome.LEAK_DNS_VERSION, asset, o, detail=str(server))
        if answers and not telling:
            yield _hit(Outcome.LEAK_DNS_VERSION_HIDDEN, asset, o)


# ------------------------------------------------------------------ e-mail and DNS

_SPF = {
    "missing": Outcome.SPF_MISSING,
    "pass_all": Outcome.SPF_PASS_ALL,
    "neutral": Outcome.SPF_NEUTRAL,
    "too_many_lookups": Outcome.SPF_TOO_MANY_LOOKUPS,
    "multiple": Outcome.SPF_MULTIPLE,
    "invalid": Outcome.SPF_INVALID,
    "strict": Outcome.SPF_OK,
    "softfail": Outcome.SPF_OK,  # ~all with an enforcing DMARC policy is the common norm
}
_DMARC = {
    "missing": Outcome.DMARC_MISSING,
    "none": Outcome.DMARC_NONE,
    "malformed": Outcome.DMARC_MALFORMED,
    "quarantine": Outcome.DMARC_ENFORCED,
    "reject": Outcome.DMARC_ENFORCED,
}
_DNSSEC = {
    "unsigned": Outcome.DNSSEC_MISSING,
    "broken": Outcome.DNSSEC_BROKEN,
    "signed": Outcome.DNSSEC_OK,
    "island": Outcome.DNSSEC_ISLAND,
    "cannot_validate": Outcome.DNSSEC_CANNOT_VALIDATE,
}


def _table(view: TargetView, check: str, table: Mapping[str, Outcome]) -> Iterator[Hit]:
    for asset, o in view.assets_with(check):
        outcome = table.get(str(o.value))
        if outcome is not None:
            yield _hit(outcome, asset, o)


def _flag(
    view: TargetView, check: str, bad: Outcome, good: Outcome, bad_when: bool
) -> Iterator[Hit]:
    for asset, o in view.assets_with(check):
        yield _hit(bad if bool(o.value) == bad_when else good, asset, o)


@classifier
def email(view: TargetView) -> Iterator[Hit]:
    yield from _table(view, "dns.spf", _SPF)
    yield from _table(view, "dns.dmarc", _DMARC)
    for asset, o in view.assets_with("dns.dkim"):
        keys = o.value if isinstance(o.value, dict) else {}
        if not keys:
            yield _hit(Outcome.DKIM_NOT_FOUND, asset, o)
        elif min(keys.values()) < 2048:
            yield _hit(Outcome.DKIM_WEAK_KEY, asset, o)
        else:
            yield _hit(Outcome.DKIM_OK, asset, o)
    for asset, o in view.assets_with("dns.mta_sts"):
        if view.value(asset, "dns.mx") in (None, []):
            continue  # no mail, no transport policy to ask for
        outcome = {
            None: Outcome.MTA_STS_MISSING,
            "enforce": Outcome.MTA_STS_ENFORCED,
        }.get(o.value, Outcome.MTA_STS_NOT_ENFORCED)
        yield _hit(outcome, asset, o)
    for asset, o in view.assets_with("dns.tls_rpt"):
        if view.value(asset, "dns.mx") not in (None, []):
            yield _hit(Outcome.TLS_RPT_OK if o.value else Outcome.TLS_RPT_MISSING, asset, o)
    for asset, o in view.assets_with("smtp.starttls"):
        if asset.endswith(f":{MAIL_TRANSFER_PORT}"):  # between servers; the rest is submission
            yield _hit(Outcome.STARTTLS_OK if o.value else Outcome.STARTTLS_MISSING, asset, o)


# Where other mail servers deliver (RFC 5321); SMTP on any other port is users' submission.
MAIL_TRANSFER_PORT = 25
_LOGIN_STARTTLS = ("smtp.starttls", "imap.starttls", "pop3.starttls")


@classifier
def mail_logins(view: TargetView) -> Iterator[Hit]:
    """Where users log in to mail (submission, IMAP, POP3; see `scan.mail.mailproto`): whether a
    password is accepted before TLS, and whether TLS can be had on the port at all."""
    for asset, o in view.assets_with("mail.cleartext_login"):
        cleartext = o.value is True
        yield _hit(Outcome.CLEARTEXT_LOGIN if cleartext else Outcome.NO_CLEARTEXT_LOGIN, asset, o)
    for asset, checks in view.assets.items():
        if asset.endswith(f":{MAIL_TRANSFER_PORT}"):
            continue
        for check in _LOGIN_STARTTLS:
            if check in checks:
                o = checks[check]
                outcome = Outcome.LOGIN_STARTTLS_OK if o.value else Outcome.LOGIN_STARTTLS_MISSING
                yield _hit(outcome, asset, o)


@classifier
def smtp_users(view: TargetView) -> Iterator[Hit]:
    """VRFY/EXPN that tell a real mailbox from a made-up one (see `scan.mail.smtp`)."""
    for asset, checks in view.assets.items():
        answers = [checks[c] for c in ("smtp.vrfy", "smtp.expn") if c in checks]
        leaking = [o for o in answers if o.value == "enumerates"]
        for o in leaking:
            yield _hit(Outcome.SMTP_USER_ENUMERATION, asset, o, detail=o.check[5:].upper())
        if answers and not leaking and all(o.value in ("uniform", "disabled") for o in answers):
            yield _hit(Outcome.SMTP_NO_USER_ENUMERATION, asset, answers[0])


@classifier
def dns_health(view: TargetView) -> Iterator[Hit]:
    yield from _table(view, "dns.dnssec", _DNSSEC)
    yield from _flag(view, "dns.caa", Outcome.CAA_MISSING, Outcome.CAA_OK, False)
    yield from _flag(
        view, "dns.zone_transfer", Outcome.ZONE_TRANSFER, Outcome.ZONE_TRANSFER_REFUSED, True
    )
    for asset, o in view.assets_with("dns.dangling_cname"):
        names = o.value if isinstance(o.value, list) else []
        for name in names:
            yield _hit(Outcome.DANGLING_CNAME, asset, o, detail=str(name))
        if not names:
            yield _hit(Outcome.DANGLING_NONE, asset, o)


# ------------------------------------------------------------------ network exposure

_EXPOSED = {
    "telnet": Outcome.EXPOSED_TELNET,
    "ftp": Outcome.EXPOSED_FTP,
    "rdp": Outcome.EXPOSED_RDP,
    "smb": Outcome.EXPOSED_SMB,
    "vnc": Outcome.EXPOSED_VNC,
    "mysql": Outcome.EXPOSED_DATABASE,
    "postgres": Outcome.EXPOSED_DATABASE,
    "mssql": Outcome.EXPOSED_DATABASE,
    "redis": Outcome.EXPOSED_NOSQL,
    "mongodb": Outcome.EXPOSED_NOSQL,
    "elasticsearch": Outcome.EXPOSED_NOSQL,
    "memcached": Outcome.EXPOSED_NOSQL,
    "ldap": Outcome.EXPOSED_LDAP,
}


@classifier
def exposure(view: TargetView) -> Iterator[Hit]:
    # A closed resolver is simply a DNS service: only an open one is an outcome of its own.
    for asset, o in view.assets_with("dns.open_resolver"):
        if o.value is True:
            yield _hit(Outcome.OPEN_RESOLVER, asset, o)
    for asset, o in view.assets_with("service.kind"):
        yield _hit(_EXPOSED.get(str(o.value), Outcome.EXPECTED_SERVICE), asset, o)


# ------------------------------------------------------------------ SSH

# A `none` login answered with one of these lets anyone guess passwords: keyboard-interactive
# is PAM's password prompt unless a first factor (publickey) is required before it.
_SSH_PASSWORD_METHODS = frozenset({"password", "keyboard-interactive"})
_SSH_WEAK_LISTS = {
    "ssh.kex.weak": Outcome.SSH_WEAK_KEX,
    "ssh.kex.sha1": Outcome.SSH_SHA1_KEX,
    "ssh.host_key.weak": Outcome.SSH_WEAK_HOST_KEY,
    "ssh.cipher.weak": Outcome.SSH_WEAK_CIPHERS,
}
SSH_RSA_MIN_BITS = 2048  # NIST SP 800-131A Rev. 2: RSA under 2048 bits is disallowed
_KEY_BITS = re.compile(r"^(rsa|dsa)(\d+)$")


def weak_ssh_key(kind: str) -> bool:
    """ "dsa1024", "rsa1024": DSA keys, and RSA keys under 2048 bits."""
    match = _KEY_BITS.match(kind)
    return match is not None and (match[1] == "dsa" or int(match[2]) < SSH_RSA_MIN_BITS)


@classifier
def ssh_login(view: TargetView) -> Iterator[Hit]:
    for asset, o in view.assets_with("ssh.auth_methods"):
        methods = set(o.value) if isinstance(o.value, list) else set()
        password = bool(methods & _SSH_PASSWORD_METHODS)
        yield _hit(Outcome.SSH_PASSWORD_LOGIN if password else Outcome.SSH_KEY_LOGIN_ONLY, asset, o)


@classifier
def ssh_algorithms(view: TargetView) -> Iterator[Hit]:
    for asset, checks in view.assets.items():
        found = {
            outcome: checks[check]
            for check, outcome in _SSH_WEAK_LISTS.items()
            if check in checks and checks[check].value
        }
        key = checks.get("ssh.host_key")
        if key is not None and weak_ssh_key(str(key.value)):
            found.setdefault(Outcome.SSH_WEAK_HOST_KEY, key)
        for outcome, o in found.items():
            yield _hit(outcome, asset, o)
        if not found and "ssh.kex.weak" in checks:
            yield _hit(Outcome.SSH_ALGORITHMS_OK, asset, checks["ssh.kex.weak"])


# ------------------------------------------------------------------ tables

# Outcomes that cost nothing: the question was asked and the answer was good (or neutral).
PASSING: frozenset[Outcome] = frozenset(
    {
        Outcome.TLS_MODERN,
        Outcome.TLS_CIPHERS_OK,
        Outcome.TLS_DHE_OK,
        Outcome.CERT_VALID,
        Outcome.CERT_KEY_OK,
        Outcome.CERT_SIGNATURE_OK,
        Outcome.HTTP_HTTPS_REDIRECT,
        Outcome.HSTS_OK,
        Outcome.HSTS_SUBDOMAINS_OK,
        Outcome.HSTS_PRELOAD_OK,
        Outcome.CSP_OK,
        Outcome.FRAMING_OK,
        Outcome.NOSNIFF_OK,
        Outcome.REFERRER_POLICY_OK,
        Outcome.XSS_FILTER_OK,
        Outcome.COOKIES_OK,
        Outcome.SRI_OK,
        Outcome.MIXED_CONTENT_NONE,
        Outcome.SECURITY_TXT_OK,
        Outcome.LEAK_NO_VERSION,
        Outcome.LEAK_NOTHING_EXPOSED,
        Outcome.LEAK_DNS_VERSION_HIDDEN,
        Outcome.SPF_OK,
        Outcome.DMARC_ENFORCED,
        Outcome.DKIM_OK,
        Outcome.MTA_STS_ENFORCED,
        Outcome.TLS_RPT_OK,
        Outcome.STARTTLS_OK,
        Outcome.SMTP_NO_USER_ENUMERATION,
        Outcome.NO_CLEARTEXT_LOGIN,
        Outcome.LOGIN_STARTTLS_OK,
        Outcome.DNSSEC_OK,
        Outcome.CAA_OK,
        Outcome.ZONE_TRANSFER_REFUSED,
        Outcome.DANGLING_NONE,
        Outcome.EXPECTED_SERVICE,
        Outcome.SSH_KEY_LOGIN_ONLY,
        Outcome.SSH_ALGORITHMS_OK,
        Outcome.VULN_NONE_KNOWN,
    }
)
# Vulnerability outcomes need the products a real scan identifies: the lab's ground truth
# (banners, not products) cannot produce them, a scan of the demo lab does.
VULNERABILITY_OUTCOMES: frozenset[Outcome] = frozenset(
    o for o in Outcome if o.value.startswith("vuln.")
)

# Each outcome belongs to one rating factor, named by its prefix.
_FACTOR_OF_PREFIX = {
    "tls": "tls",
    "cert": "tls",
    "web": "web",
    "leak": "leakage",
    "email": "email",
    "dns": "dns",
    "net": "network",
    "vuln": "vulnerabilities",
}


def factor_of(outcome: Outcome) -> str:
    return _FACTOR_OF_PREFIX[outcome.value.split(".", 1)[0]]


# ------------------------------------------------------------------ vulnerabilities

# CVSS v3 qualitative ratings (FIRST CVSS v3.1 specification, section 5).
_CVSS_BANDS: tuple[tuple[float, Outcome], ...] = (
    (9.0, Outcome.VULN_CRITICAL),
    (7.0, Outcome.VULN_HIGH),
    (4.0, Outcome.VULN_MEDIUM),
    (0.0, Outcome.VULN_LOW),
)


def cve_outcome(fact: Mapping[str, Any]) -> Outcome:
    """Known exploitation first (CISA KEV), then the CVSS band; unconfirmed = potential."""
    if not fact.get("confirmed"):
        return Outcome.VULN_POTENTIAL
    if fact.get("kev"):
        return Outcome.VULN_KEV
    score = fact.get("cvss")
    if score is None:
        return Outcome.VULN_MEDIUM  # unscored: neither ignored nor assumed the worst
    return next(outcome for floor, outcome in _CVSS_BANDS if float(score) >= floor)


@classifier
def vulnerabilities(view: TargetView) -> Iterator[Hit]:
    versioned = {
        o.target
        for o in view.result.observations
        if o.check == "service.product"
        and o.error is None
        and isinstance(o.value, dict)
        and o.value.get("version")
    }
    vulnerable: set[str] = set()
    potential: dict[tuple[str, str], list[dict[str, Any]]] = {}
    for o in view.result.observations:
        if o.check != "vuln.cve" or not isinstance(o.value, dict):
            continue
        outcome = cve_outcome(o.value)
        if outcome == Outcome.VULN_POTENTIAL:
            potential.setdefault((o.target, _product_version(o.value)), []).append(o.value)
            continue
        vulnerable.add(o.target)
        yield _hit(outcome, o.target, o, detail=str(o.value.get("id", "")))
    # Potential matches cost nothing and are advice: one per product, listing its CVEs, so
    # that 70 CVEs of a Debian-packaged Apache read as one "check your package" item.
    for (asset, product), facts in sorted(potential.items()):
        yield Hit(Outcome.VULN_POTENTIAL, asset, _potential_evidence(product, facts), product)
    for asset in sorted(versioned - vulnerable):
        yield Hit(Outcome.VULN_NONE_KNOWN, asset, "no known vulnerability for this version")


def _product_version(fact: Mapping[str, Any]) -> str:
    return f"{fact.get('product', '')} {fact.get('version') or ''}".strip()


def _potential_evidence(product: str, facts: list[dict[str, Any]]) -> str:
    ids = sorted({str(f.get("id", "")) for f in facts})
    kev = sorted({str(f.get("id", "")) for f in facts if f.get("kev")})
    shipped = list(dict.fromkeys(r for f in facts for r in f.get("shipped_by") or ()))
    why = list(dict.fromkeys(str(r) for f in facts for r in (f.get("reasons") or ())[:1]))
    parts = [f"{product}: {len(ids)} CVEs whose affected ranges hold it: {', '.join(ids)}"]
    if kev:
        parts.append(f"in CISA KEV: {', '.join(kev)}")
    if shipped:
        parts.append(f"this version is shipped by {', '.join(shipped)}")
    parts += why[:3]
    return " | ".join(parts)
