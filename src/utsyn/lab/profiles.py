"""Host profiles for synthetic scenarios (`generate`): what a good, average or poor host
serves (TLS, web headers, banners and how their software is installed), and the details
that vary by a host's name rather than by the seeded draw.

Everything is plain manifest data; `generate` validates the whole scenario once.
"""

from __future__ import annotations

import hashlib
from typing import Any, Literal

Quality = Literal["good", "average", "poor"]
Data = dict[str, Any]

# ---------------------------------------------------------------- profiles

TLS: dict[str, Data] = {
    "modern": {"versions": ["tls1.2", "tls1.3"], "ciphers": ["aead"]},
    "typical": {
        "versions": ["tls1.2", "tls1.3"],
        "ciphers": ["aead", "cbc"],
        "cert": {"key": "rsa2048"},
    },
    "dated": {
        "versions": ["tls1.0", "tls1.1", "tls1.2"],
        "ciphers": ["aead", "cbc"],
        "cert": {"key": "rsa2048"},
    },
    # Served by tlslite-ng, not OpenSSL: rare, as in reality, and slow to serve at scale.
    "legacy": {
        "versions": ["ssl3", "tls1.0"],
        "ciphers": ["rc4", "3des", "rsa_kex"],
        "cert": {"key": "rsa2048"},
    },
}
# What goes wrong with the certificates of poor hosts, weighted.
POOR_CERTS: tuple[tuple[Data, int], ...] = (
    ({"key": "rsa2048"}, 30),
    ({"status": "expired", "key": "rsa2048", "days_left": -30}, 12),
    ({"status": "self_signed", "key": "rsa2048"}, 12),
    ({"status": "unknown_issuer", "key": "rsa2048"}, 6),
    ({"status": "wrong_host", "key": "rsa2048"}, 8),
    ({"key": "rsa1024"}, 6),
    ({"key": "rsa2048", "signature": "sha1"}, 6),
    ({"key": "rsa2048", "chain": "missing_intermediate"}, 10),
    ({"key": "rsa2048", "days_left": 10}, 10),
)

WEB: dict[Quality, Data] = {
    "good": {
        "server": "nginx",
        "hsts": "max-age=63072000; includeSubDomains; preload",
        "csp": "default-src 'self'; frame-ancestors 'none'; base-uri 'none'; object-src 'none'",
        "x_frame_options": "DENY",
        "x_content_type_options": "nosniff",
        "referrer_policy": "no-referrer",
        "cookies": ["sesjon=1; Path=/; Secure; HttpOnly; SameSite=Strict"],
        "security_txt": "valid",
    },
    "average": {
        "server": "nginx",
        "hsts": "max-age=31536000",
        "csp": "default-src 'self'; script-src 'self' 'unsafe-inline'",
        "x_frame_options": "SAMEORIGIN",
        "x_content_type_options": "nosniff",
        "referrer_policy": "strict-origin-when-cross-origin",
        "x_xss_protection": "1; mode=block",
        "cookies": ["JSESSIONID=1; Path=/; Secure; HttpOnly"],
    },
    "poor": {
        "server": "Apache/2.4.29 (Ubuntu)",
        "powered_by": "PHP/7.4.3",
        "cookies": ["PHPSESSID=1; path=/"],
        "generator": "WordPress 5.8.1",
        "scripts": [{"src": "https://cdn.felles.test/libs/jquery/1.12.4/jquery.min.js"}],
    },
}
# What answers, and how it is installed (the ground truth for CVE matching, `package` and
# `package_patched` in the manifest): a distribution's package kept up to date, one that
# lacks fixes, or an upstream build whose version is its code's.
Installed = tuple[str, str, bool]  # banner or Server header, package, patched
POOR_SERVERS: tuple[Installed, ...] = (
    ("Apache/2.4.29 (Ubuntu)", "ubuntu", False),  # Ubuntu 18.04, left without updates
    ("nginx/1.18.0", "ubuntu", False),
    ("Microsoft-IIS/8.5", "upstream", True),
)
UPSTREAM_APACHE: Installed = ("Apache/2.4.49", "upstream", True)  # no distribution shipped it
# Debian 12's nginx, which names no distribution: its CVEs are potential.
DEBIAN_NGINX: Installed = ("nginx/1.22.1", "debian", True)

# Share of average and poor bodies with four hosts or more that run their own name server,
# and what it answers to `version.bind`: "" nothing (BIND `version none;`), None REFUSED
# (NSD `hide-version: yes`), a custom text tells nothing either; the rest is what BIND and
# Windows DNS say out of the box.
OWN_NAME_SERVER = 0.25
NAME_SERVER_VERSIONS: dict[Quality, tuple[str | None, ...]] = {
    "good": ("", "unknown"),
    "average": ("9.18.28-1~deb12u2-Debian", "9.18.28-0ubuntu0.22.04.1-Ubuntu", None),
    "poor": ("9.11.5-P4-5.1+deb10u11-Debian", "Microsoft DNS 6.1.7601 (1DB15CD4)"),
}

SMTP_BANNERS: dict[Quality, tuple[Installed, ...]] = {
    "good": (("ESMTP Postfix", "debian", True),),
    "average": (
        ("ESMTP Postfix (Debian/GNU)", "debian", True),
        ("Microsoft ESMTP MAIL Service ready", "upstream", True),
    ),
    "poor": (
        ("ESMTP Exim 4.92", "debian", False),  # Debian 10's, out of support since 2024
        ("Microsoft ESMTP MAIL Service ready", "upstream", True),
        ("ESMTP Postfix", "debian", False),
    ),
}
UPSTREAM_EXIM: Installed = ("ESMTP Exim 4.94 #2", "upstream", True)  # built from source
SSH_BANNERS: dict[Quality, tuple[Installed, ...]] = {
    "good": (("SSH-2.0-OpenSSH_9.2p1 Debian-2+deb12u10", "debian", True),),
    "average": (
        ("SSH-2.0-OpenSSH_8.2p1 Ubuntu-4ubuntu0.5", "ubuntu", False),
        ("SSH-2.0-OpenSSH_9.2p1 Debian-2+deb12u2", "debian", False),  # before regreSSHion's fix
    ),
    "poor": (
        ("SSH-2.0-OpenSSH_7.4p1 Debian-10+deb9u7", "debian", False),  # Debian 9, unsupported
        ("SSH-2.0-OpenSSH_7.4", "rhel", False),  # RHEL 7's sshd announces 7.4p1 so
    ),
}
# Services no public body should expose, with the banners their old versions show.
RISKY: tuple[tuple[str, str | None], ...] = (
    ("ftp", "(vsFTPd 3.0.3)"),
    ("telnet", None),  # the prompt names Debian 11: an operating system, no program's CVE
    ("mysql", "5.7.33-0ubuntu0.16.04.1"),
    ("postgres", None),
    ("redis", "3.2.12"),
    ("mongodb", "3.6.23"),
    ("elasticsearch", "6.8.23"),
    ("memcached", "1.4.25"),
    ("rdp", None),
    ("smb", None),
    ("ldap", None),
    ("vnc", "RFB 003.008"),
    ("mssql", None),
)


# The chances of the details added with issue 14's checks, drawn by `name_chance` (see there).
_CHANCE_DHE = 0.2  # a DHE group beside ECDHE: ffdhe2048 on average hosts, 1024 bits on poor
CHANCE_APEX = 0.2  # the zone apex answers HTTPS itself and redirects to www
_SSH_PASSWORDS: dict[Quality, float] = {"good": 0.0, "average": 0.5, "poor": 0.7}
# Users' mail beside the MTA (submission, IMAP, POP3), and how often a poor one takes
# passwords before TLS: Dovecot's `disable_plaintext_auth = no`, Postfix without
# `smtpd_tls_auth_only`.
_MAIL_ACCESS: dict[Quality, float] = {"good": 0.6, "average": 0.5, "poor": 0.5}
_CHANCE_CLEARTEXT_LOGIN = 0.6
_CHANCE_POP3_IN_CLEAR = 0.3
_POSTFIX_VRFY: dict[Quality, tuple[tuple[float, str], ...]] = {
    "good": ((0.6, "disabled"), (1.0, "uniform")),
    "average": ((0.6, "enumerates"), (1.0, "uniform")),
    "poor": ((0.8, "enumerates"), (1.0, "uniform")),
}


def name_chance(name: str, what: str) -> float:
    """A draw in [0, 1) fixed by a name and a purpose.

    Details added after the generator first shipped draw from here rather than from the
    seeded stream, so that a seed still gives the scenario it gave before (every later
    draw of the stream would shift otherwise).
    """
    digest = hashlib.sha256(f"{what}:{name}".encode()).digest()
    return int.from_bytes(digest[:8], "big") / 2**64


def with_dhe(tls: Data, name: str, quality: Quality) -> Data:
    """DHE beside ECDHE on some profiles that can serve it (RSA keys, AEAD or CBC suites)."""
    bits = {"average": 2048, "poor": 1024}.get(quality)
    rsa = str(tls.get("cert", {}).get("key", "")).startswith("rsa")
    servable = rsa and bool({"aead", "cbc"} & set(tls["ciphers"])) and tls is not TLS["legacy"]
    if bits is None or not servable or name_chance(name, "dhe") >= _CHANCE_DHE:
        return tls
    return dict(tls, dhe=bits)


def ssh_details(service: Data, name: str, quality: Quality) -> Data:
    """Password login on many average and poor hosts; some poor ones on an old release."""
    spec: Data = {}
    if name_chance(name, "ssh-password") < _SSH_PASSWORDS[quality]:
        spec["auth"] = ["publickey", "password"]
    legacy = name_chance(name, "ssh-legacy") if quality == "poor" else 1.0
    if legacy < 0.15:  # Ubuntu 14.04 as installed, out of support: its CVEs are there
        service = service | {"package": "ubuntu", "package_patched": False}
        service["banner"] = "SSH-2.0-OpenSSH_6.6.1p1 Ubuntu-2ubuntu2.13"
        spec["host_keys"] = ["rsa2048", "dsa1024", "ecdsa256", "ed25519"]
    elif legacy < 0.3:  # a vendor image with a small key
        spec["host_keys"] = ["rsa1024"]
    return dict(service, ssh=spec) if spec else service


def web_details(http: Data, name: str, quality: Quality) -> Data:
    """Referrer-Policy values that leak, and `preload` asked for without its requirements."""
    chance = name_chance(name, "referrer")
    if quality == "poor" and chance < 0.25:
        http["referrer_policy"] = "unsafe-url" if chance < 0.15 else "origin-when-cross-origin"
    elif quality == "average" and chance < 0.1:
        http["referrer_policy"] = "no-referrer-when-downgrade"
    if quality == "average" and name_chance(name, "preload") < 0.1:
        http["hsts"] = "max-age=31536000; preload"
    return http


def apex_site(domain: str, posture: Quality) -> Data:
    """The apex redirecting to www: preload-grade HSTS when good, no includeSubDomains else."""
    good = posture == "good"
    hsts = "max-age=63072000; includeSubDomains; preload" if good else "max-age=31536000"
    https = {"server": "nginx", "redirect": f"https://www.{domain}/", "hsts": hsts}
    return {
        "name": domain,
        "services": [
            {"kind": "http", "http": {"redirect": f"https://{domain}/"}},
            {"kind": "https", "tls": TLS["modern" if good else "typical"], "http": https},
        ],
    }


def with_installed(service: Data, field: str, installed: Installed) -> Data:
    """The service with its banner (or Server header) and how that software is installed."""
    text, package, patched = installed
    if field == "server":
        service["http"] = dict(service["http"], server=text)
    else:
        service[field] = text
    return service | {"package": package, "package_patched": patched}


def with_vrfy(smtp: Data, name: str, quality: Quality) -> Data:
    """Postfix answers VRFY from its recipient table unless told not to (Exim and
    Exchange answer 252 to every name: the lab's default)."""
    if "Postfix" not in smtp["banner"]:
        return smtp
    draw = name_chance(name, "vrfy")
    return dict(smtp, vrfy=next(v for limit, v in _POSTFIX_VRFY[quality] if draw < limit))


def mail_access(smtp: Data, name: str, quality: Quality) -> list[Data]:
    """Submission and mailbox access on some mail hosts: as RFC 8314 asks on good ones
    (587 with STARTTLS, 465, 993), with IMAP on 143 on average ones, and on poor ones often
    with passwords before TLS and POP3 without TLS. Exchange greets in its own words."""
    if name_chance(name, "mail-access") >= _MAIL_ACCESS[quality]:
        return []
    installed: Data = {k: smtp[k] for k in ("package", "package_patched") if k in smtp}
    tls = smtp.get("tls", TLS["dated"])
    exchange = "Microsoft" in smtp["banner"]
    imap = (
        "The Microsoft Exchange IMAP4 service is ready." if exchange else "Dovecot (Debian) ready."
    )
    pop3 = (
        "The Microsoft Exchange POP3 service is ready." if exchange else "Dovecot (Debian) ready."
    )
    mailbox = {} if exchange else {"package": "debian"}
    lax = quality == "poor" and name_chance(name, "cleartext-login") < _CHANCE_CLEARTEXT_LOGIN
    submission: Data = {"kind": "submission", "banner": smtp["banner"], "starttls": True}
    submission |= {"tls": tls, "vrfy": smtp.get("vrfy", "uniform"), **installed}
    services = [submission | ({"plaintext_login": True} if lax else {})]
    if quality == "good":
        services.append({"kind": "submissions", "banner": smtp["banner"], "tls": tls, **installed})
    else:
        imap_143 = {"kind": "imap", "banner": imap, "starttls": True, "tls": tls, **mailbox}
        services.append(imap_143 | ({"plaintext_login": True} if lax else {}))
    services.append({"kind": "imaps", "banner": imap, "tls": tls, **mailbox})
    if quality == "poor" and name_chance(name, "pop3") < _CHANCE_POP3_IN_CLEAR:
        services.append({"kind": "pop3", "banner": pop3, "plaintext_login": True, **mailbox})
    return services
