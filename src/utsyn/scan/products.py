"""Product identification: what a banner says about the software behind a service.

`identify_banner(protocol, banner)` turns the text a service volunteered (an SSH
identification line, the text of an SMTP, IMAP, POP3 or FTP greeting, a database version,
an HTTP `Server` header) into products with a CPE 2.3 name, ready to be matched against CVEs.

CPE names follow NVD's conventions, checked against NVD records: OpenSSH's portable
release goes into the update field (`openssh:7.4:p1`, a release without one is `7.4:-`),
ProFTPD's letter releases too (`proftpd:1.3.5:e`), OpenSSL keeps its letter in the
version (`openssl:1.1.1f`), SQL Server is named by release year (`sql_server:2019`) and
nginx is filed under F5 (`f5:nginx`). A product whose version the banner hides gets `*`.

Distributions backport security fixes without changing the upstream version
(`OpenSSH_7.4p1 Debian-10+deb9u7` has fixes 7.4p1 never had), so a banner that names a
distribution package is flagged `distro_patched`, and the package revision it shows
(`10+deb9u7`) is kept as `revision`: the matcher (`vuln.backport`) compares it with the
revision that fixed a CVE in that release.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

# A banner longer than this is cut before matching: real ones are a line or two.
BANNER_MATCH_LIMIT = 4096
_VERSION_LIMIT = 64

# How sure an identification is, 0-100: the product and its version as the software
# itself announces them; the product alone; a product inferred from a vendor's wording.
CONFIDENT = 90
PRODUCT_ONLY = 70
INFERRED = 50


@dataclass(frozen=True, slots=True)
class Product:
    """One identified product. `vendor`/`product` are CPE names; `name` is for people."""

    name: str
    vendor: str
    product: str
    version: str | None
    cpe: str
    distro_patched: bool = False
    distro: str | None = None
    source: str = ""
    confidence: int = CONFIDENT
    revision: str | None = None  # the distribution package revision shown ("2+deb12u1")

    def to_json(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "product": self.product,
            "vendor": self.vendor,
            "version": self.version,
            "cpe": self.cpe,
            "distro_patched": self.distro_patched,
            "distro": self.distro,
            "revision": self.revision,
            "source": self.source,
            "confidence": self.confidence,
        }


# ---------------------------------------------------------------- CPE names

_CPE_PLAIN = re.compile(r"[a-z0-9._-]")


def cpe_escape(value: str) -> str:
    """A CPE 2.3 formatted-string component: lower case, specials backslash-escaped."""
    lowered = value.lower()
    return "".join(c if _CPE_PLAIN.fullmatch(c) else "\\" + c for c in lowered)


def cpe_name(
    vendor: str, product: str, version: str | None, update: str = "*", part: str = "a"
) -> str:
    """`cpe:2.3:part:vendor:product:version:update:*:*:*:*:*:*`; no version is `*` (ANY)."""
    fields = [part, vendor, product, version or "*", update]
    escaped = [f if f in ("*", "-") else cpe_escape(f) for f in fields]
    return "cpe:2.3:" + ":".join(escaped) + ":*:*:*:*:*:*"


# ---------------------------------------------------------------- distributions

# Package-revision markers, searched only in the text that follows a product's version so
# that a host name such as "ubuntu-mail.example" cannot pass for a distribution.
_DISTROS: tuple[tuple[re.Pattern[str], str], ...] = (
    (re.compile(r"ubuntu", re.I), "Ubuntu"),
    (re.compile(r"raspbian", re.I), "Raspbian"),
    (re.compile(r"debian|\+deb\d+u\d+|~deb\d+", re.I), "Debian"),
    (re.compile(r"red ?hat|\brhel\b|\.el\d+", re.I), "Red Hat"),
    (re.compile(r"centos", re.I), "CentOS"),
    (re.compile(r"fedora|\.fc\d+", re.I), "Fedora"),
    (re.compile(r"suse", re.I), "SUSE"),
    (re.compile(r"freebsd", re.I), "FreeBSD"),
    (re.compile(r"alpine", re.I), "Alpine"),
    (re.compile(r"amazon|\.amzn\d", re.I), "Amazon Linux"),
)
# In a header naming several products ("Apache/2.4.41 (Ubuntu) OpenSSL/1.1.1f"), the text
# that belongs to one product ends where the next `Name/digit` token begins.
_NEXT_PRODUCT = re.compile(r"\s[\w.+-]+/\d")


# The package revision right after a version: `OpenSSH_9.2p1 Debian-2+deb12u1`,
# `PHP/7.3.31-1~deb10u5`, `5.7.33-0ubuntu0.16.04.1`. A bare `-suffix` counts only when it
# carries a distribution's mark, so that a build tag is not taken for a package revision.
_REVISION = re.compile(r"^(?:[ _](?:Debian|Ubuntu|Raspbian)-|-)(?P<revision>[0-9][\w.+~]*)", re.I)
_DISTRO_MARK = re.compile(r"deb\d|ubuntu|\.el\d|rpi", re.I)


def _own(tail: str) -> str:
    end = _NEXT_PRODUCT.search(tail)
    return tail[: end.start()] if end else tail


def package_revision(tail: str) -> str | None:
    """The distribution package revision in the text right after a version, if shown."""
    found = _REVISION.match(_own(tail))
    if found is None:
        return None
    revision = found.group("revision")[:_VERSION_LIMIT]
    named = not found.group(0).startswith("-")  # "Debian-2" names its distribution
    return revision if named or _DISTRO_MARK.search(revision) else None


def detect_distro(tail: str) -> str | None:
    """The distribution named in the text right after a product's version, if any."""
    own = _own(tail)
    for pattern, name in _DISTROS:
        if pattern.search(own):
            return name
    return None


# ---------------------------------------------------------------- rules


@dataclass(frozen=True, slots=True)
class _Rule:
    """A banner pattern: group `version`, optionally `update`, names one product."""

    pattern: re.Pattern[str]
    name: str
    vendor: str
    product: str
    no_update: str = "*"  # the CPE update field when the banner names none
    confidence: int = CONFIDENT
    part: str = "a"


def _rule(pattern: str, name: str, vendor: str, product: str, **kw: Any) -> _Rule:
    return _Rule(re.compile(pattern, re.I), name, vendor, product, **kw)


_SSH = (
    _rule(
        r"OpenSSH_(?P<version>\d+\.\d+)(?:p(?P<update>\d+))?",
        "OpenSSH",
        "openbsd",
        "openssh",
        no_update="-",
    ),
    _rule(
        r"dropbear_(?P<version>\d+\.\d+(?:\.\d+)?)",
        "Dropbear SSH",
        "dropbear_ssh_project",
        "dropbear_ssh",
    ),
    _rule(r"libssh[_-](?P<version>\d+\.\d+\.\d+)", "libssh", "libssh", "libssh"),
    _rule(r"mod_sftp(?:/(?P<version>[\d.]+))?", "ProFTPD", "proftpd", "proftpd"),
)
_FTP = (
    _rule(r"vsFTPd (?P<version>\d+\.\d+\.\d+)", "vsftpd", "vsftpd_project", "vsftpd"),
    _rule(
        r"ProFTPD (?P<version>\d+\.\d+\.\d+)(?P<update>[a-z]|rc\d+)?",
        "ProFTPD",
        "proftpd",
        "proftpd",
        no_update="-",
    ),
    _rule(r"ProFTPD\b", "ProFTPD", "proftpd", "proftpd", confidence=PRODUCT_ONLY),
    _rule(r"Pure-FTPd", "Pure-FTPd", "pureftpd", "pure-ftpd", confidence=PRODUCT_ONLY),
    _rule(
        r"FileZilla Server (?:version )?(?P<version>\d+\.\d+\.\d+)(?: (?P<update>beta))?",
        "FileZilla Server",
        "filezilla-project",
        "filezilla_server",
    ),
    _rule(r"Serv-U FTP Server v(?P<version>\d+\.\d+(?:\.\d+)*)", "Serv-U", "solarwinds", "serv-u"),
    _rule(
        r"Microsoft FTP Service",
        "Microsoft IIS FTP",
        "microsoft",
        "internet_information_services",
        confidence=PRODUCT_ONLY,
    ),
)
_SMTP = (
    _rule(r"\bExim (?P<version>\d+\.\d+(?:\.\d+)?)", "Exim", "exim", "exim"),
    _rule(r"\bPostfix\b", "Postfix", "postfix", "postfix", confidence=PRODUCT_ONLY),
    _rule(r"\bSendmail (?P<version>\d+\.\d+\.\d+)", "Sendmail", "sendmail", "sendmail"),
    _rule(r"\bOpenSMTPD\b", "OpenSMTPD", "openbsd", "opensmtpd", confidence=PRODUCT_ONLY),
    # IIS's SMTP service gives its build; Exchange 2007+ says the same words without one.
    _rule(
        r"Microsoft ESMTP MAIL Service, Version: (?P<version>\d+\.\d+)",
        "Microsoft IIS SMTP",
        "microsoft",
        "internet_information_services",
    ),
    _rule(
        r"Microsoft ESMTP MAIL Service",
        "Microsoft Exchange Server",
        "microsoft",
        "exchange_server",
        confidence=INFERRED,
    ),
)
# Mailbox access (IMAP and POP3) and its greetings. Dovecot says only "Dovecot (Debian)
# ready." by default (its `login_greeting`), Courier names no version, Exchange 2007 and
# later name neither version nor host; Cyrus names its release.
_MAILBOX = (
    _rule(
        r"\bDovecot(?: v?(?P<version>\d+\.\d+\.\d+(?:\.\d+)?))?\b",
        "Dovecot",
        "dovecot",
        "dovecot",
        confidence=PRODUCT_ONLY,
    ),
    _rule(r"\bCyrus (?:IMAP4?|POP3) v?(?P<version>\d+\.\d+\.\d+)", "Cyrus IMAP", "cyrus", "imap"),
    _rule(r"\bCyrus (?:IMAP4?|POP3)\b", "Cyrus IMAP", "cyrus", "imap", confidence=PRODUCT_ONLY),
    # NVD files the Courier programs of Double Precision, Inc. under that vendor's name.
    _rule(
        r"\bCourier-IMAP\b",
        "Courier-IMAP",
        "double_precision_incorporated",
        "courier-imap",
        confidence=PRODUCT_ONLY,
    ),
    _rule(
        r"\bMicrosoft Exchange\b",
        "Microsoft Exchange Server",
        "microsoft",
        "exchange_server",
        confidence=PRODUCT_ONLY,
    ),
)
_HTTP = (
    _rule(r"\bnginx(?:/(?P<version>\d+\.\d+\.\d+))?", "nginx", "f5", "nginx"),
    _rule(
        r"\bApache(?:/(?P<version>\d+\.\d+\.\d+))?(?![\w-])(?! Tomcat)",
        "Apache HTTP Server",
        "apache",
        "http_server",
    ),
    _rule(
        r"\bMicrosoft-IIS/(?P<version>\d+\.\d+)",
        "Microsoft IIS",
        "microsoft",
        "internet_information_services",
    ),
    _rule(r"\bPHP/(?P<version>\d+\.\d+\.\d+)", "PHP", "php", "php"),
    _rule(r"\bOpenSSL/(?P<version>\d+\.\d+\.\d+[a-z]*)", "OpenSSL", "openssl", "openssl"),
    _rule(r"\blighttpd/(?P<version>\d+\.\d+\.\d+)", "lighttpd", "lighttpd", "lighttpd"),
    _rule(r"\bApache Tomcat/(?P<version>\d+\.\d+\.\d+)", "Apache Tomcat", "apache", "tomcat"),
)


def _version_rule(name: str, vendor: str, product: str, prefix: str = "") -> tuple[_Rule, ...]:
    """Services whose banner is the bare version number (what our probes extract)."""
    return (_rule(rf"^{prefix}(?P<version>\d+\.\d+(?:\.\d+)*)", name, vendor, product),)


_MYSQL = (
    # MariaDB puts a fake 5.5.5- in front so that old clients accept it.
    _rule(r"^(?:5\.5\.5-)?(?P<version>\d+\.\d+\.\d+)-MariaDB", "MariaDB", "mariadb", "mariadb"),
    _rule(r"^(?P<version>\d+\.\d+\.\d+)", "MySQL", "oracle", "mysql"),
)
_LDAP = (
    _rule(
        r"389-Directory/(?P<version>\d+\.\d+\.\d+(?:\.\d+)?)",
        "389 Directory Server",
        "redhat",
        "389_directory_server",
    ),
    _rule(r"OpenLDAP:? (?:slapd )?(?P<version>\d+\.\d+\.\d+)", "OpenLDAP", "openldap", "openldap"),
)
_TELNET = (  # the login banner (/etc/issue) names the operating system, not telnetd
    _rule(
        r"Debian GNU/Linux (?P<version>\d+)", "Debian GNU/Linux", "debian", "debian_linux", part="o"
    ),
    _rule(r"Ubuntu (?P<version>\d+\.\d+)", "Ubuntu", "canonical", "ubuntu_linux", part="o"),
)

_RULES: dict[str, tuple[_Rule, ...]] = {
    "ssh": _SSH,
    "ftp": _FTP,
    "smtp": _SMTP,
    "smtps": _SMTP,
    "imap": _MAILBOX,
    "imaps": _MAILBOX,
    "pop3": _MAILBOX,
    "pop3s": _MAILBOX,
    "http": _HTTP,
    "https": _HTTP,
    "mysql": _MYSQL,
    "postgres": _version_rule("PostgreSQL", "postgresql", "postgresql", "(?:PostgreSQL )?"),
    "redis": _version_rule("Redis", "redis", "redis"),
    "mongodb": _version_rule("MongoDB", "mongodb", "mongodb"),
    "elasticsearch": _version_rule("Elasticsearch", "elastic", "elasticsearch"),
    "opensearch": _version_rule("OpenSearch", "amazon", "opensearch"),
    "memcached": _version_rule("memcached", "memcached", "memcached"),
    "ldap": _LDAP,
    "telnet": _TELNET,
}

# Headers that may name a stack of products ("Apache/2.4.41 (Ubuntu) OpenSSL/1.1.1f").
_SEVERAL_PRODUCTS = frozenset({"http", "https"})

# SQL Server major version → the release NVD names it by (10.50 is 2008 R2).
_SQL_SERVER_RELEASES: dict[tuple[int, int], tuple[str, str]] = {
    (8, 0): ("2000", "*"),
    (9, 0): ("2005", "*"),
    (10, 0): ("2008", "*"),
    (10, 50): ("2008", "r2"),
    (11, 0): ("2012", "*"),
    (12, 0): ("2014", "*"),
    (13, 0): ("2016", "*"),
    (14, 0): ("2017", "*"),
    (15, 0): ("2019", "*"),
    (16, 0): ("2022", "*"),
}
_MSSQL_VERSION = re.compile(r"^(?P<major>\d+)\.(?P<minor>\d+)\.\d+(?:\.\d+)?$")


# ---------------------------------------------------------------- identification


def identify_banner(protocol: str, banner: str) -> list[Product]:
    """Products named by `banner`, as announced over `protocol` (best first; may be [])."""
    text = banner[:BANNER_MATCH_LIMIT]
    source = f"{protocol} banner"
    if protocol == "mssql":
        found = _sql_server(text.strip(), source)
        return [found] if found else []
    products: list[Product] = []
    taken: set[tuple[str, str]] = set()
    for rule in _RULES.get(protocol, ()):
        if (rule.vendor, rule.product) in taken:
            continue  # a more specific rule for the same product matched first
        match = rule.pattern.search(text)
        if match is None:
            continue
        taken.add((rule.vendor, rule.product))
        products.append(_product(rule, match, text, source))
        if protocol not in _SEVERAL_PRODUCTS:
            break  # one service, one product: the first (most specific) rule wins
    return sorted(products, key=lambda p: -p.confidence)


def _product(rule: _Rule, match: re.Match[str], text: str, source: str) -> Product:
    groups = match.groupdict()
    version = (groups.get("version") or "")[:_VERSION_LIMIT] or None
    update = (groups.get("update") or "")[:_VERSION_LIMIT]
    if rule.product == "openssh" and update:
        update = "p" + update
    cpe_update = update or (rule.no_update if version else "*")
    distro = detect_distro(text[match.end() :]) if rule.part == "a" else None
    revision = package_revision(text[match.end() :]) if distro and version else None
    # As announced ("7.4p1", "1.3.5e"): NVD writes its range bounds the same way.
    shown = f"{version}{update}" if version else None
    confidence = rule.confidence if version else min(rule.confidence, PRODUCT_ONLY)
    return Product(
        name=rule.name,
        vendor=rule.vendor,
        product=rule.product,
        version=shown,
        cpe=cpe_name(rule.vendor, rule.product, version, cpe_update, rule.part),
        distro_patched=distro is not None,
        distro=distro,
        source=source,
        confidence=confidence,
        revision=revision,
    )


def _sql_server(version: str, source: str) -> Product | None:
    """SQL Server from its PRELOGIN build number (`15.0.2000.5` is 2019 RTM)."""
    match = _MSSQL_VERSION.match(version)
    if match is None:
        return None
    key = (int(match["major"]), int(match["minor"]))
    release, update = _SQL_SERVER_RELEASES.get(key, ("*", "*"))
    # NVD files SQL Server by release year; the exact build stays in `version`.
    return Product(
        name=f"Microsoft SQL Server {release}" if release != "*" else "Microsoft SQL Server",
        vendor="microsoft",
        product="sql_server",
        version=version,
        cpe=cpe_name("microsoft", "sql_server", None if release == "*" else release, update),
        source=source,
        confidence=CONFIDENT if release != "*" else PRODUCT_ONLY,
    )
