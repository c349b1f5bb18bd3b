"""Product keys: every feed's and every banner's way of naming a product, mapped to one
`vendor:product` key as NVD's CPE dictionary spells it.

The same software appears under several names: nginx is `f5:nginx` in NVD since 2020 and
`nginx:nginx` / `igor_sysoev:nginx` in older CPEs; CISA's ADP writes `php_group:php` where
NVD has `php:php`; a CNA writes "Apache Software Foundation" / "Apache HTTP Server".
"""

from __future__ import annotations

import re

# CPE vendor:product spellings that NVD has deprecated or that ADP writes differently.
_CPE_ALIASES = {
    "nginx:nginx": "f5:nginx",
    "igor_sysoev:nginx": "f5:nginx",
    "php_group:php": "php:php",
    "apache_software_foundation:apache_http_server": "apache:http_server",
    "apache:httpd": "apache:http_server",
    "twitter:bootstrap": "getbootstrap:bootstrap",
}

# Free-text names (a CNA's vendor/product, a scanner's product name, a web technology's
# name), lower case with runs of non-alphanumerics as one space.
_NAMES = {
    "nginx": "f5:nginx",
    "f5 nginx": "f5:nginx",
    "f5 nginx open source": "f5:nginx",
    "f5 nginx plus": "f5:nginx_plus",
    "openssh": "openbsd:openssh",
    "openbsd openssh": "openbsd:openssh",
    "apache": "apache:http_server",
    "apache httpd": "apache:http_server",
    "apache http server": "apache:http_server",
    "apache software foundation apache http server": "apache:http_server",
    "apache software foundation apache tomcat": "apache:tomcat",
    "apache tomcat": "apache:tomcat",
    "php": "php:php",
    "php group php": "php:php",
    "exim": "exim:exim",
    "exim exim": "exim:exim",
    "postfix": "postfix:postfix",
    "dovecot": "dovecot:dovecot",
    "cyrus imap": "cyrus:imap",
    "cyrus imapd": "cyrus:imap",
    "openssl": "openssl:openssl",
    "openssl openssl": "openssl:openssl",
    "lighttpd": "lighttpd:lighttpd",
    "lighttpd lighttpd": "lighttpd:lighttpd",
    "microsoft iis": "microsoft:internet_information_services",
    "iis": "microsoft:internet_information_services",
    "microsoft exchange server": "microsoft:exchange_server",
    "exchange server": "microsoft:exchange_server",
    "fortinet fortios": "fortinet:fortios",
    "fortios": "fortinet:fortios",
    "fortinet fortiproxy": "fortinet:fortiproxy",
    "citrix netscaler adc": "citrix:netscaler_application_delivery_controller",
    "citrix netscaler gateway": "citrix:netscaler_gateway",
    "ivanti connect secure": "ivanti:connect_secure",
    "ivanti ics": "ivanti:connect_secure",
    "ivanti policy secure": "ivanti:policy_secure",
    "ivanti ips": "ivanti:policy_secure",
    "wordpress": "wordpress:wordpress",
    "drupal": "drupal:drupal",
    "drupal core": "drupal:drupal",
    "jquery": "jquery:jquery",
    "jquery ui": "jquery:jquery_ui",
    "bootstrap": "getbootstrap:bootstrap",
    "bootstrap bootstrap": "getbootstrap:bootstrap",
    "moment js": "momentjs:moment",
    "lodash": "lodash:lodash",
    "angularjs": "angularjs:angular.js",
    "handlebars": "handlebarsjs:handlebars",
    "dompurify": "cure53:dompurify",
    "tinymce": "tiny:tinymce",
}

# RetireJS library names with a CPE product in NVD; the others keep a `retirejs:` key,
# which a web technology of the same name still reaches (see `key_for_name`).
_RETIREJS = {
    "jquery": "jquery:jquery",
    "jquery-ui": "jquery:jquery_ui",
    "bootstrap": "getbootstrap:bootstrap",
    "moment.js": "momentjs:moment",
    "lodash": "lodash:lodash",
    "angularjs": "angularjs:angular.js",
    "handlebars": "handlebarsjs:handlebars",
    "DOMPurify": "cure53:dompurify",
    "tinyMCE": "tiny:tinymce",
}

_NOT_ALNUM = re.compile(r"[^a-z0-9]+")

# Operating-system distributions as NVD names them. A distribution is a collection of
# packages: a CVE record that lists `debian_linux 11.0` as affected next to Tomcat says that
# Debian 11's Tomcat package was, not that every Debian 11 machine runs Tomcat.
_DISTRIBUTIONS = frozenset(
    {
        "debian:debian_linux",
        "canonical:ubuntu_linux",
        "fedoraproject:fedora",
        "centos:centos",
        "opensuse:leap",
        "opensuse:opensuse",
        "opensuse:tumbleweed",
        "oracle:linux",
        "amazon:linux",
        "amazon:linux_2",
        "amazon:linux_2023",
        "rockylinux:rocky_linux",
        "almalinux:almalinux",
    }
)
# Families NVD splits by edition: `enterprise_linux_server`, `enterprise_linux_eus`, ...
_DISTRIBUTION_FAMILIES = ("redhat:enterprise_linux", "suse:linux_enterprise", "suse:suse_linux")


def normalise_name(text: str) -> str:
    """`Apache Software Foundation` → `apache software foundation`; `Moment.js` → `moment js`."""
    return _NOT_ALNUM.sub(" ", text.lower()).strip()


def canonical_key(key: str) -> str:
    """A CPE `vendor:product` with deprecated or ADP spellings replaced by NVD's."""
    lowered = key.lower()
    return _CPE_ALIASES.get(lowered, lowered)


def key_for_name(vendor: str | None, product: str) -> str | None:
    """The key of a product named in free text, or None when the name is not known."""
    name = normalise_name(product)
    if vendor:
        both = normalise_name(f"{vendor} {product}")
        if both in _NAMES:
            return _NAMES[both]
    if name in _NAMES:
        return _NAMES[name]
    return None


def is_distribution(key: str) -> bool:
    """Whether a product key names an operating-system distribution, not one program."""
    return key in _DISTRIBUTIONS or key.startswith(_DISTRIBUTION_FAMILIES)


def fallback_key(vendor: str, product: str) -> str:
    """A key made of the names themselves (`n/a` aside): a product nobody observes by CPE."""
    return f"{normalise_name(vendor).replace(' ', '_')}:{normalise_name(product).replace(' ', '_')}"


def retirejs_key(library: str) -> str:
    return _RETIREJS.get(library, f"retirejs:{normalise_name(library).replace(' ', '_')}")
