"""The closed set of outcomes, and what the rating needs to know of each.

Like the HTTP Observatory's test results, every outcome a classifier can produce is a member
of `Outcome`; the rulebook maps each failing outcome to exactly one rule, and `PASSING`
lists the outcomes that cost nothing. A test holds the two tables in agreement, and
docs/vocabulary.md lists, for each outcome, the checks it is read from and its rules.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum


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
    # The observation check the outcome was read from (docs/vocabulary.md is built from it);
    # provenance only, so two hits that differ in nothing else are the same finding.
    check: str = field(default="", compare=False)


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
