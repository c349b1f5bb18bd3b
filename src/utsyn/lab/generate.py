"""Synthetic scenarios: N fictional public bodies with weighted host profiles, for scale tests.

`generate(orgs, seed)` is deterministic for a seed. Each organisation gets a posture (good,
average or poor) that sets its DNS and e-mail hygiene and weights the quality of each of
its 1–12 hosts, so a large scenario spreads over the whole grade scale like a real sector
does. The result is validated as any hand-written manifest is.

Everything is built as plain data and validated once at the end: constructing the pydantic
models field by field would validate every shared profile again at each level.
"""

from __future__ import annotations

import hashlib
import random
from typing import Any, Literal

from utsyn import geo
from utsyn.errors import ManifestError
from utsyn.lab.context import FIRST_HOST_OCTET
from utsyn.lab.manifest import Manifest, Sector, parse_manifest
from utsyn.orgnr import make_orgnr

Quality = Literal["good", "average", "poor"]
Data = dict[str, Any]

# context.host_address puts organisation i on 127.(20 + i // 256).(i % 256).x and stops at
# 127.52.255.x, just below the lab's DNS server on 127.53.0.1.
_LAST_HOST_OCTET = 52
MAX_ORGANISATIONS = (_LAST_HOST_OCTET - FIRST_HOST_OCTET + 1) * 256
MAX_HOSTS_PER_ORG = 12

_QUALITIES: tuple[Quality, ...] = ("good", "average", "poor")
# An organisation's posture weights the quality of each of its hosts: even a careful body
# has a forgotten server now and then, and a careless one a decent main site.
_POSTURE_WEIGHTS = (25, 50, 25)
_HOST_QUALITY_WEIGHTS: dict[Quality, tuple[int, int, int]] = {
    "good": (80, 18, 2),
    "average": (20, 60, 20),
    "poor": (5, 35, 60),
}
# Hosts per organisation, 1..12: most bodies expose a handful, a few expose many.
_HOST_COUNT_WEIGHTS = (10, 20, 20, 15, 10, 7, 5, 4, 3, 2, 2, 2)

SECTOR_WEIGHTS: tuple[tuple[Sector, int], ...] = (
    (Sector.MUNICIPALITY, 55),
    (Sector.STATE_AGENCY, 14),
    (Sector.MUNICIPAL_ENTERPRISE, 8),
    (Sector.INTERMUNICIPAL, 8),
    (Sector.COUNTY, 4),
    (Sector.HEALTH_TRUST, 4),
    (Sector.UNIVERSITY, 4),
    (Sector.MINISTRY, 3),
)

# ---------------------------------------------------------------- names

_PLACE_HEADS = (
    "Fjord", "Strand", "Nord", "Sør", "Øst", "Vest", "Berg", "Dal", "Ås", "Li", "Haug",
    "Vik", "Holm", "Elv", "Skog", "Lyng", "Bjørk", "Furu", "Stein", "Sand", "Eik", "Rogn",
    "Lauv", "Ravn", "Ørn", "Havn", "Kyst", "Myr", "Tind", "Fjell", "Heim", "Gran", "Sjø",
    "Brekk", "Hegg", "Nes", "Vang", "Rud", "Bø", "Hav", "Sol", "Mo", "Å", "Ask", "Hell",
    "Lund", "Kvern", "Tjern", "Breid", "Svart",
)  # fmt: skip
_PLACE_TAILS = (
    "vik", "dal", "berg", "heim", "nes", "øy", "fjord", "li", "mo", "ås", "strand", "haug",
    "vang", "lund", "myr", "set", "stad", "bø", "land", "sund", "voll", "eid", "hamn", "bu",
)  # fmt: skip
# Most places have a plain name; some are told apart by a qualifier, as Norwegian ones are.
_QUALIFIERS = ("", "", "", "", "", "", "Indre", "Ytre", "Øvre", "Nedre", "Nordre", "Søndre")
_TOPICS = (
    ("digital beredskap", "digital"), ("havressurser", "hav"), ("kulturminner", "kultur"),
    ("jord og skog", "jordskog"), ("geodata", "geodata"), ("arkiv", "arkiv"),
    ("byggkvalitet", "bygg"), ("vassdrag", "vassdrag"), ("samferdsel", "samferdsel"),
    ("folkehelse", "folkehelse"), ("utdanning", "utdanning"), ("energi", "energi"),
    ("forvaltning", "forvaltning"), ("kystsikkerhet", "kyst"), ("matkvalitet", "mat"),
)  # fmt: skip
_MINISTRY_TOPICS = (
    "Kyst", "Distrikt", "Kultur", "Skog", "Energi", "Samferdsel", "Helse", "Beredskap",
    "Utdanning", "Forvaltning", "Hav", "Fjell",
)  # fmt: skip
_ENTERPRISES = (("havn", "havn"), ("eiendom", "eiendom"), ("parkering", "parkering"),
                ("vann og avløp", "va"), ("kultur", "kultur"))  # fmt: skip
_JOINT_SERVICES = (("IKT", "ikt"), ("renovasjon", "renovasjon"), ("revisjon", "revisjon"),
                   ("brann og redning", "brann"), ("legevakt", "legevakt"))  # fmt: skip

# Host labels after www and mail; 12 hosts need at most 10 of them (11 minus mta-sts).
_HOST_LABELS = (
    "minside", "intranett", "portal", "api", "kart", "innsyn", "sak", "bibliotek", "skole",
    "booking", "status", "arkiv", "ansatt", "selvbetjening", "timebestilling", "kurs", "data",
    "sok", "app", "drift",
)  # fmt: skip

_ASCII = str.maketrans({"æ": "ae", "ø": "o", "å": "a", " ": "-"})


def _slugify(text: str) -> str:
    return text.lower().translate(_ASCII)


# ---------------------------------------------------------------- profiles

_TLS: dict[str, Data] = {
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
_POOR_CERTS: tuple[tuple[Data, int], ...] = (
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

_WEB: dict[Quality, Data] = {
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
_POOR_SERVERS: tuple[Installed, ...] = (
    ("Apache/2.4.29 (Ubuntu)", "ubuntu", False),  # Ubuntu 18.04, left without updates
    ("nginx/1.18.0", "ubuntu", False),
    ("Microsoft-IIS/8.5", "upstream", True),
)
_UPSTREAM_APACHE: Installed = ("Apache/2.4.49", "upstream", True)  # no distribution shipped it
# Debian 12's nginx, which names no distribution: its CVEs are potential.
_DEBIAN_NGINX: Installed = ("nginx/1.22.1", "debian", True)

# Share of average and poor bodies with four hosts or more that run their own name server,
# and what it answers to `version.bind`: "" nothing (BIND `version none;`), None REFUSED
# (NSD `hide-version: yes`), a custom text tells nothing either; the rest is what BIND and
# Windows DNS say out of the box.
_OWN_NAME_SERVER = 0.25
_NAME_SERVER_VERSIONS: dict[Quality, tuple[str | None, ...]] = {
    "good": ("", "unknown"),
    "average": ("9.18.28-1~deb12u2-Debian", "9.18.28-0ubuntu0.22.04.1-Ubuntu", None),
    "poor": ("9.11.5-P4-5.1+deb10u11-Debian", "Microsoft DNS 6.1.7601 (1DB15CD4)"),
}

_SMTP_BANNERS: dict[Quality, tuple[Installed, ...]] = {
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
_UPSTREAM_EXIM: Installed = ("ESMTP Exim 4.94 #2", "upstream", True)  # built from source
_SSH_BANNERS: dict[Quality, tuple[Installed, ...]] = {
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
_RISKY: tuple[tuple[str, str | None], ...] = (
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


# The chances of the details added with issue 14's checks, drawn by `_chance` (see there).
_CHANCE_DHE = 0.2  # a DHE group beside ECDHE: ffdhe2048 on average hosts, 1024 bits on poor
_CHANCE_APEX = 0.2  # the zone apex answers HTTPS itself and redirects to www
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


def _chance(name: str, what: str) -> float:
    """A draw in [0, 1) fixed by a name and a purpose.

    Details added after the generator first shipped draw from here rather than from the
    seeded stream, so that a seed still gives the scenario it gave before (every later
    draw of the stream would shift otherwise).
    """
    digest = hashlib.sha256(f"{what}:{name}".encode()).digest()
    return int.from_bytes(digest[:8], "big") / 2**64


def _with_dhe(tls: Data, name: str, quality: Quality) -> Data:
    """DHE beside ECDHE on some profiles that can serve it (RSA keys, AEAD or CBC suites)."""
    bits = {"average": 2048, "poor": 1024}.get(quality)
    rsa = str(tls.get("cert", {}).get("key", "")).startswith("rsa")
    servable = rsa and bool({"aead", "cbc"} & set(tls["ciphers"])) and tls is not _TLS["legacy"]
    if bits is None or not servable or _chance(name, "dhe") >= _CHANCE_DHE:
        return tls
    return dict(tls, dhe=bits)


def _ssh_details(service: Data, name: str, quality: Quality) -> Data:
    """Password login on many average and poor hosts; some poor ones on an old release."""
    spec: Data = {}
    if _chance(name, "ssh-password") < _SSH_PASSWORDS[quality]:
        spec["auth"] = ["publickey", "password"]
    legacy = _chance(name, "ssh-legacy") if quality == "poor" else 1.0
    if legacy < 0.15:  # Ubuntu 14.04 as installed, out of support: its CVEs are there
        service = service | {"package": "ubuntu", "package_patched": False}
        service["banner"] = "SSH-2.0-OpenSSH_6.6.1p1 Ubuntu-2ubuntu2.13"
        spec["host_keys"] = ["rsa2048", "dsa1024", "ecdsa256", "ed25519"]
    elif legacy < 0.3:  # a vendor image with a small key
        spec["host_keys"] = ["rsa1024"]
    return dict(service, ssh=spec) if spec else service


def _web_details(http: Data, name: str, quality: Quality) -> Data:
    """Referrer-Policy values that leak, and `preload` asked for without its requirements."""
    chance = _chance(name, "referrer")
    if quality == "poor" and chance < 0.25:
        http["referrer_policy"] = "unsafe-url" if chance < 0.15 else "origin-when-cross-origin"
    elif quality == "average" and chance < 0.1:
        http["referrer_policy"] = "no-referrer-when-downgrade"
    if quality == "average" and _chance(name, "preload") < 0.1:
        http["hsts"] = "max-age=31536000; preload"
    return http


def _apex(domain: str, posture: Quality) -> Data:
    """The apex redirecting to www: preload-grade HSTS when good, no includeSubDomains else."""
    good = posture == "good"
    hsts = "max-age=63072000; includeSubDomains; preload" if good else "max-age=31536000"
    https = {"server": "nginx", "redirect": f"https://www.{domain}/", "hsts": hsts}
    return {
        "name": domain,
        "services": [
            {"kind": "http", "http": {"redirect": f"https://{domain}/"}},
            {"kind": "https", "tls": _TLS["modern" if good else "typical"], "http": https},
        ],
    }


# ---------------------------------------------------------------- the generator


def generate(orgs: int, seed: int) -> Manifest:
    """A validated synthetic scenario of `orgs` organisations, the same for the same seed."""
    if not 1 <= orgs <= MAX_ORGANISATIONS:
        raise ManifestError(
            f"cannot generate {orgs} organisations: the lab's address plan holds 1 to "
            f"{MAX_ORGANISATIONS}"
        )
    # How software is installed is drawn from a second generator, so that adding those cases
    # left every other draw of a seed's scenario as it was.
    builder = _Builder(random.Random(seed), random.Random(f"installs-{seed}"))
    data: Data = {
        "version": 1,
        "name": f"generated-{orgs}-{seed}",
        "description": f"{orgs} synthetic organisations generated with seed {seed}",
        "organisations": [builder.organisation() for _ in range(orgs)],
    }
    return parse_manifest(data, source=f"<generated orgs={orgs} seed={seed}>")


class _Builder:
    """Draws organisations one by one, keeping slugs and organisation numbers unique."""

    def __init__(self, rng: random.Random, installs: random.Random) -> None:
        self.rng = rng
        self.installs = installs
        self.slugs: set[str] = set()
        self.orgnrs: set[str] = set()
        # Sorted so the draw does not depend on the order of the CSV files.
        self.municipalities = sorted(geo.municipalities())
        # Oslo is a municipality with county duties: it has no county authority of its own.
        self.counties = sorted(c for c in geo.counties() if c != "03")
        self.sectors = [s for s, _ in SECTOR_WEIGHTS]
        self.sector_weights = [w for _, w in SECTOR_WEIGHTS]

    def organisation(self) -> Data:
        rng = self.rng
        sector = rng.choices(self.sectors, self.sector_weights)[0]
        name, slug = self._unique_name(sector)
        posture: Quality = rng.choices(_QUALITIES, _POSTURE_WEIGHTS)[0]
        count = rng.choices(range(1, MAX_HOSTS_PER_ORG + 1), _HOST_COUNT_WEIGHTS)[0]
        domain = f"{slug}.test"
        hosts = self._hosts(domain, posture, count)
        org: Data = {
            "slug": slug,
            "name": name,
            "orgnr": self._unique_orgnr(),
            "sector": str(sector),
            "domains": self._domains(domain, posture, hosts),
            "hosts": hosts,
        }
        if sector == Sector.COUNTY:
            org["county"] = rng.choice(self.counties)
        else:
            municipality = rng.choice(self.municipalities)
            org["county"] = municipality[:2]
            org["municipality"] = municipality
        return org

    # -------------------------------------------------------- identity

    def _place(self) -> str:
        rng = self.rng
        head = rng.choice(_PLACE_HEADS)
        tail = rng.choice([t for t in _PLACE_TAILS if t not in head.lower()])  # no "Heimheim"
        place = head + tail
        qualifier = rng.choice(_QUALIFIERS)
        return f"{qualifier} {place}" if qualifier else place

    def _candidate(self, sector: Sector) -> tuple[str, str]:
        rng = self.rng
        if sector == Sector.MINISTRY:
            first, second = rng.sample(_MINISTRY_TOPICS, 2)
            return f"{first}- og {second.lower()}departementet", _slugify(f"{first}{second}dep")
        if sector == Sector.STATE_AGENCY and rng.random() < 0.5:
            topic, short = rng.choice(_TOPICS)
            return f"Direktoratet for {topic}", f"dir-{short}"
        place = self._place()
        p = _slugify(place)
        if sector == Sector.STATE_AGENCY:
            topic, short = rng.choice(_TOPICS)
            return f"Statens kontor for {topic}, {place}", f"{short}-{p}"
        if sector == Sector.MUNICIPALITY:
            return f"{place} kommune", p
        if sector == Sector.COUNTY:
            return f"{place} fylkeskommune", f"{p}-fk"
        if sector == Sector.MUNICIPAL_ENTERPRISE:
            what, short = rng.choice(_ENTERPRISES)
            return f"{place} {what} KF", f"{p}-{short}-kf"
        if sector == Sector.INTERMUNICIPAL:
            what, short = rng.choice(_JOINT_SERVICES)
            return f"{place} {what} IKS", f"{p}-{short}-iks"
        if sector == Sector.HEALTH_TRUST:
            return f"Helse {place} HF", f"helse-{p}"
        if rng.random() < 0.5:
            return f"Universitetet i {place}", f"ui-{p}"
        return f"{place} høgskole", f"{p}-hs"

    def _unique_name(self, sector: Sector) -> tuple[str, str]:
        # A few redraws find a free name while the name space is sparse; when it is crowded
        # (thousands of organisations) a number tells the rest apart.
        for _ in range(8):
            name, slug = self._candidate(sector)
            if slug not in self.slugs:
                break
        number = 2
        base_name, base_slug = name, slug
        while slug in self.slugs:
            name, slug = f"{base_name} {number}", f"{base_slug}-{number}"
            number += 1
        self.slugs.add(slug)
        return name, slug

    def _unique_orgnr(self) -> str:
        orgnr = make_orgnr(self.rng.randrange(100_000_000))
        while orgnr in self.orgnrs:  # make_orgnr can map two seeds onto one number
            orgnr = make_orgnr(self.rng.randrange(100_000_000))
        self.orgnrs.add(orgnr)
        return orgnr

    # -------------------------------------------------------- hosts

    def _hosts(self, domain: str, posture: Quality, count: int) -> list[Data]:
        rng = self.rng
        labels = ["www"]
        if count >= 2:
            labels.append("mail")
        if posture == "good" and count >= 3:
            labels.append("mta-sts")
        labels += rng.sample(_HOST_LABELS, count - len(labels))
        if posture != "good" and count >= 4 and rng.random() < _OWN_NAME_SERVER:
            labels[-1] = "ns1"  # the body runs its own name server next to the lab's
        weights = _HOST_QUALITY_WEIGHTS[posture]
        apex = posture != "poor" and 3 <= count < MAX_HOSTS_PER_ORG
        apex = apex and _chance(domain, "apex") < _CHANCE_APEX
        hosts = []
        for label in labels:
            quality: Quality = rng.choices(_QUALITIES, weights)[0]
            name = f"{label}.{domain}"
            host: Data = {"name": name, "services": self._services(label, name, quality)}
            if label == "www" and not apex:
                host["aliases"] = [domain]
            hosts.append(host)
        return [*hosts, _apex(domain, posture)] if apex else hosts

    def _services(self, label: str, name: str, quality: Quality) -> list[Data]:
        if label == "ns1":
            version = self.rng.choice(_NAME_SERVER_VERSIONS[quality])
            return [{"kind": "dns_authoritative", "version_bind": version}]
        if label == "mail":
            smtp = self._smtp(name, quality)
            return [smtp, *_mail_access(smtp, name, quality)]
        if label == "mta-sts":
            return [{"kind": "https", "tls": _TLS["modern"], "http": {"title": "MTA-STS"}}]
        services = self._web(name, quality)
        if label != "www" and quality == "poor":
            services += self._exposed_extras(name, quality)
        elif label != "www" and self.rng.random() < 0.15:
            services.append(self._ssh(name, quality))
        return services

    def _ssh(self, name: str, quality: Quality) -> Data:
        installed = self.installs.choice(_SSH_BANNERS[quality])
        return _ssh_details(_installed({"kind": "ssh"}, "banner", installed), name, quality)

    def _web(self, name: str, quality: Quality) -> list[Data]:
        rng = self.rng
        http = _web_details(dict(_WEB[quality], title=name), name, quality)
        if quality == "good":
            return [
                {"kind": "http", "http": {"redirect": f"https://{name}/"}},
                {"kind": "https", "tls": _TLS["modern"], "http": http},
            ]
        if quality == "average":
            tls = _with_dhe(_TLS["typical" if rng.random() < 0.7 else "dated"], name, quality)
            site: Data = {"kind": "https", "tls": tls, "http": http}
            if self.installs.random() < 0.3:
                site = _installed(site, "server", _DEBIAN_NGINX)
            return [{"kind": "http", "http": {"redirect": f"https://{name}/"}}, site]
        server, package, patched = rng.choice(_POOR_SERVERS)
        if self.installs.random() < 0.2:
            server, package, patched = _UPSTREAM_APACHE
        http["server"] = server
        if rng.random() < 0.2:
            http["exposed"] = [rng.choice(("git", "env", "directory_listing"))]
        if rng.random() < 0.3:
            http["login_form"] = True
        # A poor site often answers on plain HTTP instead of redirecting.
        plain = http if rng.random() < 0.5 else {"redirect": f"https://{name}/"}
        installed = {"package": package, "package_patched": patched}
        return [
            {"kind": "http", "http": plain} | (installed if plain is http else {}),
            {"kind": "https", "tls": _with_dhe(self._poor_tls(), name, quality), "http": http}
            | installed,
        ]

    def _poor_tls(self, legacy_ok: bool = True) -> Data:
        rng = self.rng
        if legacy_ok and rng.random() < 0.05:
            return _TLS["legacy"]
        certs = [c for c, _ in _POOR_CERTS]
        cert = rng.choices(certs, [w for _, w in _POOR_CERTS])[0]
        return dict(_TLS["dated"], cert=cert)

    def _smtp(self, name: str, quality: Quality) -> Data:
        rng = self.rng
        text, package, patched = rng.choice(_SMTP_BANNERS[quality])
        if "Exim" in text and self.installs.random() < 0.5:
            text, package, patched = _UPSTREAM_EXIM
        smtp = _installed({"kind": "smtp"}, "banner", (f"{name} {text}", package, patched))
        if quality == "poor" and rng.random() < 0.4:
            return _with_vrfy(smtp, name, quality)  # no STARTTLS: mail in the clear
        if quality == "good":
            tls = _TLS["modern"]
        elif quality == "average":
            tls = _TLS["typical"]
        else:
            # The lab serves SSLv3/RC4/3DES (through tlslite-ng) on https only, not STARTTLS.
            tls = self._poor_tls(legacy_ok=False)
        smtp = smtp | {"starttls": True, "tls": _with_dhe(tls, name, quality)}
        return _with_vrfy(smtp, name, quality)

    def _exposed_extras(self, name: str, quality: Quality) -> list[Data]:
        rng = self.rng
        extras: list[Data] = [self._ssh(name, quality)]
        for kind, banner in rng.sample(_RISKY, rng.randint(1, 3)):
            service: Data = {"kind": kind}
            if banner is not None:
                service["banner"] = banner
            if kind in ("telnet", "mysql"):  # Debian 11's prompt; Ubuntu 16.04's MySQL
                service |= {"package": "debian" if kind == "telnet" else "ubuntu"}
                service["package_patched"] = kind == "telnet"
            extras.append(service)
        return extras

    # -------------------------------------------------------- DNS and e-mail

    def _domains(self, domain: str, posture: Quality, hosts: list[Data]) -> list[Data]:
        main = self._domain(domain, posture, hosts)
        if any(h["name"] == f"ns1.{domain}" for h in hosts):
            main["name_servers"] = [f"ns1.{domain}", "ns2.test"]
        if main.get("dnssec") != "island":
            return [main]
        # A signed school zone delegated below the island, its DS in place: no chain of
        # trust reaches it past the island (a validator's "insecure", Utsyn's "cannot
        # validate"), though its own provider did everything right.
        school = {"name": f"oppvekst.{domain}", "spf": ["v=spf1 -all"], "dnssec": "signed"}
        return [main, school | {"dmarc": "v=DMARC1; p=reject"}]

    def _domain(self, domain: str, posture: Quality, hosts: list[Data]) -> Data:
        rng = self.rng
        names = [h["name"] for h in hosts]
        mx = [n for n in names if n.startswith("mail.")]
        data: Data = {"name": domain, "mx": mx}
        sends = "mx" if mx else None  # no mail host: the SPF record authorises nobody
        if posture == "good":
            data["spf"] = [_spf(sends, "-all")]
            data["dmarc"] = f"v=DMARC1; p=reject; rua=mailto:dmarc@{domain}"
            data["dkim"] = {"selector1": 2048}
            data["caa"] = ['0 issue "buypass.com"']
            # Signed, or signed by a provider whose DS never reached the registrar (an
            # island), or unsigned; one draw, as before islands were drawn.
            draw = rng.random()
            data["dnssec"] = "signed" if draw < 0.45 else "island" if draw < 0.6 else "unsigned"
            policy_host = f"mta-sts.{domain}"
            if mx and policy_host in names:
                data["mta_sts"] = {"mode": "enforce", "policy_host": policy_host}
                data["tls_rpt"] = f"v=TLSRPTv1; rua=mailto:tlsrpt@{domain}"
        elif posture == "average":
            data["spf"] = [_spf(sends, "~all")]
            policy = rng.choice(("none", "quarantine", "quarantine"))
            data["dmarc"] = f"v=DMARC1; p={policy}; rua=mailto:dmarc@{domain}"
            data["dkim"] = {rng.choice(("selector1", "default", "s1")): rng.choice((1024, 2048))}
        else:
            all_term = rng.choice(("", "+all", "?all", "~all", "~all"))
            if all_term:
                data["spf"] = [_spf(sends, all_term)]
            dmarc = rng.choice((None, None, "v=DMARC1; p=none", "v=DMARC1; p=rejct"))
            if dmarc is not None:
                data["dmarc"] = dmarc
            data["zone_transfer"] = rng.random() < 0.1
            data["dnssec"] = "broken" if rng.random() < 0.05 else "unsigned"
        return data


def _installed(service: Data, field: str, installed: Installed) -> Data:
    """The service with its banner (or Server header) and how that software is installed."""
    text, package, patched = installed
    if field == "server":
        service["http"] = dict(service["http"], server=text)
    else:
        service[field] = text
    return service | {"package": package, "package_patched": patched}


def _with_vrfy(smtp: Data, name: str, quality: Quality) -> Data:
    """Postfix answers VRFY from its recipient table unless told not to (Exim and
    Exchange answer 252 to every name: the lab's default)."""
    if "Postfix" not in smtp["banner"]:
        return smtp
    draw = _chance(name, "vrfy")
    return dict(smtp, vrfy=next(v for limit, v in _POSTFIX_VRFY[quality] if draw < limit))


def _mail_access(smtp: Data, name: str, quality: Quality) -> list[Data]:
    """Submission and mailbox access on some mail hosts: as RFC 8314 asks on good ones
    (587 with STARTTLS, 465, 993), with IMAP on 143 on average ones, and on poor ones often
    with passwords before TLS and POP3 without TLS. Exchange greets in its own words."""
    if _chance(name, "mail-access") >= _MAIL_ACCESS[quality]:
        return []
    installed: Data = {k: smtp[k] for k in ("package", "package_patched") if k in smtp}
    tls = smtp.get("tls", _TLS["dated"])
    exchange = "Microsoft" in smtp["banner"]
    imap = (
        "The Microsoft Exchange IMAP4 service is ready." if exchange else "Dovecot (Debian) ready."
    )
    pop3 = (
        "The Microsoft Exchange POP3 service is ready." if exchange else "Dovecot (Debian) ready."
    )
    mailbox = {} if exchange else {"package": "debian"}
    lax = quality == "poor" and _chance(name, "cleartext-login") < _CHANCE_CLEARTEXT_LOGIN
    submission: Data = {"kind": "submission", "banner": smtp["banner"], "starttls": True}
    submission |= {"tls": tls, "vrfy": smtp.get("vrfy", "uniform"), **installed}
    services = [submission | ({"plaintext_login": True} if lax else {})]
    if quality == "good":
        services.append({"kind": "submissions", "banner": smtp["banner"], "tls": tls, **installed})
    else:
        imap_143 = {"kind": "imap", "banner": imap, "starttls": True, "tls": tls, **mailbox}
        services.append(imap_143 | ({"plaintext_login": True} if lax else {}))
    services.append({"kind": "imaps", "banner": imap, "tls": tls, **mailbox})
    if quality == "poor" and _chance(name, "pop3") < _CHANCE_POP3_IN_CLEAR:
        services.append({"kind": "pop3", "banner": pop3, "plaintext_login": True, **mailbox})
    return services


def _spf(*terms: str | None) -> str:
    return " ".join(["v=spf1", *(t for t in terms if t)])
