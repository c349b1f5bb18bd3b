"""Product identification from banners (scan.products) and web pages (scan.fingerprint).

CPE names are NVD's: checked against the NVD records in shared/data/cve/nvd2 (OpenSSH
`7.4:p1` and `9.8:-`, `f5:nginx`, `exim:exim`, `microsoft:internet_information_services`).
"""

from __future__ import annotations

import re
import time

import pytest

from utsyn.scan.fingerprint import identify_web, required_literal, technologies, windows
from utsyn.scan.products import Product, cpe_name, identify_banner


def only(protocol: str, banner: str) -> Product:
    found = identify_banner(protocol, banner)
    assert len(found) == 1, found
    return found[0]


@pytest.mark.parametrize(
    ("protocol", "banner", "cpe", "version", "distro"),
    [
        ("ssh", "SSH-2.0-OpenSSH_7.4p1 Debian-10+deb9u7",
         "cpe:2.3:a:openbsd:openssh:7.4:p1:*:*:*:*:*:*", "7.4p1", "Debian"),
        ("ssh", "SSH-2.0-OpenSSH_7.4", "cpe:2.3:a:openbsd:openssh:7.4:-:*:*:*:*:*:*", "7.4", None),
        ("ssh", "SSH-2.0-OpenSSH_8.2p1 Ubuntu-4ubuntu0.5",
         "cpe:2.3:a:openbsd:openssh:8.2:p1:*:*:*:*:*:*", "8.2p1", "Ubuntu"),
        ("ssh", "SSH-2.0-OpenSSH_8.9p1 Ubuntu-3ubuntu0.6",
         "cpe:2.3:a:openbsd:openssh:8.9:p1:*:*:*:*:*:*", "8.9p1", "Ubuntu"),
        ("http", "nginx/1.18.0", "cpe:2.3:a:f5:nginx:1.18.0:*:*:*:*:*:*:*", "1.18.0", None),
        ("http", "Apache/2.4.29 (Ubuntu)",
         "cpe:2.3:a:apache:http_server:2.4.29:*:*:*:*:*:*:*", "2.4.29", "Ubuntu"),
        ("http", "Microsoft-IIS/8.5",
         "cpe:2.3:a:microsoft:internet_information_services:8.5:*:*:*:*:*:*:*", "8.5", None),
        ("http", "PHP/7.4.3", "cpe:2.3:a:php:php:7.4.3:*:*:*:*:*:*:*", "7.4.3", None),
        ("smtp", "mail.lyngoy.test ESMTP Exim 4.92",
         "cpe:2.3:a:exim:exim:4.92:*:*:*:*:*:*:*", "4.92", None),
        ("smtp", "mail.holmvik.test ESMTP Exim 4.92 #2",
         "cpe:2.3:a:exim:exim:4.92:*:*:*:*:*:*:*", "4.92", None),
        ("smtp", "mail.ddb.test ESMTP Postfix",
         "cpe:2.3:a:postfix:postfix:*:*:*:*:*:*:*:*", None, None),
        ("smtp", "mail.fjordvik.test ESMTP Postfix (Debian/GNU)",
         "cpe:2.3:a:postfix:postfix:*:*:*:*:*:*:*:*", None, "Debian"),
        ("smtp", "mail.havnoy.test Microsoft ESMTP MAIL Service ready",
         "cpe:2.3:a:microsoft:exchange_server:*:*:*:*:*:*:*:*", None, None),
        ("ftp", "(vsFTPd 3.0.3)", "cpe:2.3:a:vsftpd_project:vsftpd:3.0.3:*:*:*:*:*:*:*", "3.0.3",
         None),
        ("ftp", "ProFTPD 1.3.5e Server (Debian)",
         "cpe:2.3:a:proftpd:proftpd:1.3.5:e:*:*:*:*:*:*", "1.3.5e", "Debian"),
        ("mysql", "5.5.62-0ubuntu0.14.04.1",
         "cpe:2.3:a:oracle:mysql:5.5.62:*:*:*:*:*:*:*", "5.5.62", "Ubuntu"),
        ("mysql", "5.5.5-10.3.34-MariaDB-0+deb10u1",
         "cpe:2.3:a:mariadb:mariadb:10.3.34:*:*:*:*:*:*:*", "10.3.34", "Debian"),
        ("postgres", "14.11", "cpe:2.3:a:postgresql:postgresql:14.11:*:*:*:*:*:*:*", "14.11",
         None),
        ("redis", "5.0.7", "cpe:2.3:a:redis:redis:5.0.7:*:*:*:*:*:*:*", "5.0.7", None),
        ("mongodb", "3.4.24", "cpe:2.3:a:mongodb:mongodb:3.4.24:*:*:*:*:*:*:*", "3.4.24", None),
        ("elasticsearch", "6.8.23",
         "cpe:2.3:a:elastic:elasticsearch:6.8.23:*:*:*:*:*:*:*", "6.8.23", None),
        ("memcached", "1.4.25", "cpe:2.3:a:memcached:memcached:1.4.25:*:*:*:*:*:*:*", "1.4.25",
         None),
        ("mssql", "15.0.2000.5", "cpe:2.3:a:microsoft:sql_server:2019:*:*:*:*:*:*:*",
         "15.0.2000.5", None),
        ("mssql", "10.50.6000.34", "cpe:2.3:a:microsoft:sql_server:2008:r2:*:*:*:*:*:*",
         "10.50.6000.34", None),
        ("ldap", "389-Directory/1.4.4.17 B2021.224.1647",
         "cpe:2.3:a:redhat:389_directory_server:1.4.4.17:*:*:*:*:*:*:*", "1.4.4.17", None),
        ("ldap", "OpenLDAP: slapd 2.4.57", "cpe:2.3:a:openldap:openldap:2.4.57:*:*:*:*:*:*:*",
         "2.4.57", None),
        ("telnet", "Debian GNU/Linux 9", "cpe:2.3:o:debian:debian_linux:9:*:*:*:*:*:*:*", "9",
         None),
        # IMAP and POP3 greetings: Dovecot names only itself (and its distribution's build),
        # Courier and Exchange no version, Cyrus its release.
        ("imap", "Dovecot (Debian) ready.", "cpe:2.3:a:dovecot:dovecot:*:*:*:*:*:*:*:*", None,
         "Debian"),
        ("pop3s", "Dovecot ready.", "cpe:2.3:a:dovecot:dovecot:*:*:*:*:*:*:*:*", None, None),
        ("imaps", "mail.x.test Cyrus IMAP 3.6.1 server ready",
         "cpe:2.3:a:cyrus:imap:3.6.1:*:*:*:*:*:*:*", "3.6.1", None),
        ("pop3", "mail.x.test Cyrus POP3 v2.4.17-Debian-2.4.17+caldav~beta9-3 server ready",
         "cpe:2.3:a:cyrus:imap:2.4.17:*:*:*:*:*:*:*", "2.4.17", "Debian"),
        ("imap", "Courier-IMAP ready. Copyright 1998-2018 Double Precision, Inc.  See COPYING.",
         "cpe:2.3:a:double_precision_incorporated:courier-imap:*:*:*:*:*:*:*:*", None, None),
        ("imap", "The Microsoft Exchange IMAP4 service is ready.",
         "cpe:2.3:a:microsoft:exchange_server:*:*:*:*:*:*:*:*", None, None),
        ("pop3s", "The Microsoft Exchange POP3 service is ready.",
         "cpe:2.3:a:microsoft:exchange_server:*:*:*:*:*:*:*:*", None, None),
        ("smtps", "mail.x.test ESMTP Postfix (Ubuntu)",
         "cpe:2.3:a:postfix:postfix:*:*:*:*:*:*:*:*", None, "Ubuntu"),
    ],
)  # fmt: skip
def test_banner_names_product_version_and_cpe(
    protocol: str, banner: str, cpe: str, version: str | None, distro: str | None
) -> None:
    product = only(protocol, banner)
    assert (product.cpe, product.version, product.distro) == (cpe, version, distro)
    assert product.distro_patched is (distro is not None)


def test_a_greeting_that_names_no_product_names_none() -> None:
    """Courier's POP3 says only "Hello there.": nothing is guessed from it."""
    assert identify_banner("pop3", "Hello there.") == []
    assert identify_banner("imap", "IMAP4rev1 server ready") == []


def test_a_backported_distribution_build_is_flagged_and_a_plain_one_is_not() -> None:
    patched = only("ssh", "SSH-2.0-OpenSSH_7.4p1 Debian-10+deb9u7")
    plain = only("ssh", "SSH-2.0-OpenSSH_7.4")
    assert patched.distro_patched and patched.distro == "Debian"
    assert not plain.distro_patched and plain.distro is None


def test_a_server_header_may_name_a_stack_of_products_each_with_its_own_distro() -> None:
    found = identify_banner("http", "Apache/2.4.41 (Ubuntu) OpenSSL/1.1.1f PHP/7.4.3")
    by_product = {p.product: p for p in found}
    assert set(by_product) == {"http_server", "openssl", "php"}
    assert by_product["http_server"].distro == "Ubuntu"
    assert by_product["openssl"].cpe == "cpe:2.3:a:openssl:openssl:1.1.1f:*:*:*:*:*:*:*"
    assert by_product["php"].distro is None  # "(Ubuntu)" belongs to Apache, not to PHP


def test_a_host_name_is_not_mistaken_for_a_distribution() -> None:
    product = only("smtp", "ubuntu-mail.example ESMTP Postfix")
    assert product.distro is None


def test_version_hidden_means_lower_confidence_and_any_version_in_the_cpe() -> None:
    exim = only("smtp", "mx ESMTP Exim 4.96")
    postfix = only("smtp", "mx ESMTP Postfix")
    assert exim.confidence > postfix.confidence
    assert postfix.version is None and ":postfix:postfix:*:" in postfix.cpe


def test_product_to_json_is_plain_data_with_the_agreed_keys() -> None:
    data = only("ssh", "SSH-2.0-OpenSSH_7.4p1 Debian-10+deb9u7").to_json()
    assert {"product", "vendor", "version", "cpe", "distro_patched", "distro", "source"} <= set(
        data
    )
    assert data["source"] == "ssh banner" and data["vendor"] == "openbsd"


def test_cpe_components_are_escaped() -> None:
    assert cpe_name("x", "y", "1.0+build:2") == r"cpe:2.3:a:x:y:1.0\+build\:2:*:*:*:*:*:*:*"


@pytest.mark.parametrize(
    ("protocol", "banner"),
    [
        ("ssh", "SSH-2.0-\x1b[31mEvil\x00"),
        ("ssh", "SSH-2.0-OpenSSH_" + "9" * 100_000),
        ("ftp", "\ufffd\ufffd" * 500_000),
        ("vnc", "RFB 003.008"),
        ("nonsense", "OpenSSH_7.4"),
    ],
)
def test_garbage_and_huge_banners_give_nothing_or_bounded_answers_quickly(
    protocol: str, banner: str
) -> None:
    began = time.perf_counter()
    found = identify_banner(protocol, banner)
    assert time.perf_counter() - began < 0.5
    for product in found:
        assert len(product.cpe) < 200 and (product.version or "") == (product.version or "")[:64]


# ---------------------------------------------------------------- web fingerprints


def by_name(found: list[dict[str, object]]) -> dict[str, dict[str, object]]:
    return {str(f["name"]): f for f in found}


def test_jquery_version_from_a_script_src_like_the_felles_cdn_legacy_copy() -> None:
    scripts = ["https://cdn.felles.test/jquery/1.12.4/jquery.min.js"]
    jquery = by_name(identify_web({}, "", scripts, []))["jQuery"]
    assert jquery["version"] == "1.12.4"
    assert jquery["cpe"] == "cpe:2.3:a:jquery:jquery:1.12.4:*:*:*:*:*:*:*"
    assert jquery["categories"] == ["JavaScript libraries"]


def test_wordpress_generator_meta_and_its_implied_php() -> None:
    html = '<html><head><meta name="generator" content="WordPress 6.1.1" /></head></html>'
    found = by_name(identify_web({}, html, [], []))
    assert found["WordPress"]["version"] == "6.1.1"
    assert found["WordPress"]["cpe"] == "cpe:2.3:a:wordpress:wordpress:6.1.1:*:*:*:*:*:*:*"
    assert "PHP" in found and found["PHP"]["version"] is None  # implied, version unknown


def test_headers_and_cookies_with_nvd_cpe_names() -> None:
    headers = {"Server": "Microsoft-IIS/8.5", "X-Powered-By": "PHP/7.4.3"}
    found = by_name(identify_web(headers, "", [], ["PHPSESSID=abc; Path=/; HttpOnly"]))
    iis = found["IIS"]
    assert iis["cpe"] == "cpe:2.3:a:microsoft:internet_information_services:8.5:*:*:*:*:*:*:*"
    assert found["PHP"]["version"] == "7.4.3"
    assert by_name(identify_web({"server": "nginx/1.18.0"}, "", [], []))["Nginx"]["cpe"] == (
        "cpe:2.3:a:f5:nginx:1.18.0:*:*:*:*:*:*:*"
    )


def test_a_plain_page_names_nothing() -> None:
    assert identify_web({}, "<html><body><p>Hei</p></body></html>", [], []) == []


@pytest.mark.parametrize(
    ("pattern", "text"),
    [
        (r"//.*glpi.+common\.min\.js\?v=(\d+\.\d+\.\d+)", "//x/glpi/js/common.min.js?v=9.5.1"),
        (r"<link[^>]+s\d+\.wp\.com", '<link href="https://s0.wp.com/x"'),
        (r"https?://x\.com", "http://x.com"),
        (r"a{2,3}bcd", "aabcd"),
        (r"^WordPress(?: ([\d.]+))?", "WordPress 6.1"),
    ],
)
def test_a_required_literal_occurs_in_every_match(pattern: str, text: str) -> None:
    literal = required_literal(pattern)
    match = re.search(pattern, text, re.I)
    assert literal is not None and match is not None
    assert literal in match.group(0).lower()


def test_no_literal_is_claimed_where_alternatives_or_classes_decide() -> None:
    assert required_literal("foo|bar") is None
    assert required_literal(r"[a-z\s]+([\d.]+)") is None
    assert required_literal(r"(?:jquery|zepto)\.js") == ".js"


def test_every_literal_of_the_data_is_lower_case_ascii_of_three_or_more() -> None:
    for tech in technologies().values():
        for p in (*tech.html, *tech.script_src):
            if p.literal is not None:
                assert p.literal == p.literal.lower() and len(p.literal) >= 3


def test_html_windows_overlap_so_a_short_match_is_never_cut() -> None:
    text = "x" * 5000 + "<meta name=generator content=Drupal>" + "y" * 5000
    assert any("<meta name=generator content=Drupal>" in w for w in windows(text))


@pytest.mark.parametrize(
    "html",
    [
        "<" * 262_144,
        "a" * 262_144,
        "<meta " * 50_000,
        '<link rel="stylesheet" ' * 12_000,
        ("phabricator livefyre contentful drupal commerce" + "<" * 2000) * 130,
        "\x00\x1b[31m\udcff" * 60_000,
        "x" * 5_000_000,
    ],
    ids=["lt", "a", "meta", "link", "literals-then-backtracking", "control", "5MB"],
)
def test_hostile_pages_are_answered_in_bounded_time(html: str) -> None:
    technologies()  # compile outside the measurement
    began = time.perf_counter()
    identify_web(
        {"Server": "a" * 100_000, "Liferay-Portal": "a" * 100_000},
        html,
        ["/" * 10_000] * 1000,
        ["x=" + "a" * 10_000] * 1000,
    )
    assert time.perf_counter() - began < 2.5  # TIME_BUDGET (1.5 s) plus one search
