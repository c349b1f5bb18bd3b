"""Synthetic scenarios: N fictional public bodies with weighted host profiles, for scale tests.

`generate(orgs, seed)` is deterministic for a seed. Each organisation gets a posture (good,
average or poor) that sets its DNS and e-mail hygiene and weights the quality of each of
its 1–12 hosts, so a large scenario spreads over the whole grade scale like a real sector
does. The result is validated as any hand-written manifest is.

Everything is built as plain data and validated once at the end: constructing the pydantic
models field by field would validate every shared profile again at each level.
"""

from __future__ import annotations

import random

from utsyn import geo
from utsyn.errors import ManifestError
from utsyn.lab.context import FIRST_HOST_OCTET
from utsyn.lab.manifest import Manifest, Sector, parse_manifest
from utsyn.lab.profiles import (
    CHANCE_APEX,
    DEBIAN_NGINX,
    NAME_SERVER_VERSIONS,
    OWN_NAME_SERVER,
    POOR_CERTS,
    POOR_SERVERS,
    RISKY,
    SMTP_BANNERS,
    SSH_BANNERS,
    TLS,
    UPSTREAM_APACHE,
    UPSTREAM_EXIM,
    WEB,
    Data,
    Quality,
    apex_site,
    mail_access,
    name_chance,
    ssh_details,
    web_details,
    with_dhe,
    with_installed,
    with_vrfy,
)
from utsyn.orgnr import make_orgnr

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


# ---------------------------------------------------------------- the generator


def generate(orgs: int, seed: int) -> Manifest:
    """A validated synthetic scenario of `orgs` organisations, the same for the same seed."""
    if not 1 <= orgs <= MAX_ORGANISATIONS:
        raise ManifestError(
            "cannot generate %(orgs)s organisations: the lab's address plan holds 1 to %(most)s",
            orgs=orgs,
            most=MAX_ORGANISATIONS,
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
        if posture != "good" and count >= 4 and rng.random() < OWN_NAME_SERVER:
            labels[-1] = "ns1"  # the body runs its own name server next to the lab's
        weights = _HOST_QUALITY_WEIGHTS[posture]
        apex = posture != "poor" and 3 <= count < MAX_HOSTS_PER_ORG
        apex = apex and name_chance(domain, "apex") < CHANCE_APEX
        hosts = []
        for label in labels:
            quality: Quality = rng.choices(_QUALITIES, weights)[0]
            name = f"{label}.{domain}"
            host: Data = {"name": name, "services": self._services(label, name, quality)}
            if label == "www" and not apex:
                host["aliases"] = [domain]
            hosts.append(host)
        return [*hosts, apex_site(domain, posture)] if apex else hosts

    def _services(self, label: str, name: str, quality: Quality) -> list[Data]:
        if label == "ns1":
            version = self.rng.choice(NAME_SERVER_VERSIONS[quality])
            return [{"kind": "dns_authoritative", "version_bind": version}]
        if label == "mail":
            smtp = self._smtp(name, quality)
            return [smtp, *mail_access(smtp, name, quality)]
        if label == "mta-sts":
            return [{"kind": "https", "tls": TLS["modern"], "http": {"title": "MTA-STS"}}]
        services = self._web(name, quality)
        if label != "www" and quality == "poor":
            services += self._exposed_extras(name, quality)
        elif label != "www" and self.rng.random() < 0.15:
            services.append(self._ssh(name, quality))
        return services

    def _ssh(self, name: str, quality: Quality) -> Data:
        installed = self.installs.choice(SSH_BANNERS[quality])
        return ssh_details(with_installed({"kind": "ssh"}, "banner", installed), name, quality)

    def _web(self, name: str, quality: Quality) -> list[Data]:
        rng = self.rng
        http = web_details(dict(WEB[quality], title=name), name, quality)
        if quality == "good":
            return [
                {"kind": "http", "http": {"redirect": f"https://{name}/"}},
                {"kind": "https", "tls": TLS["modern"], "http": http},
            ]
        if quality == "average":
            tls = with_dhe(TLS["typical" if rng.random() < 0.7 else "dated"], name, quality)
            site: Data = {"kind": "https", "tls": tls, "http": http}
            if self.installs.random() < 0.3:
                site = with_installed(site, "server", DEBIAN_NGINX)
            return [{"kind": "http", "http": {"redirect": f"https://{name}/"}}, site]
        server, package, patched = rng.choice(POOR_SERVERS)
        if self.installs.random() < 0.2:
            server, package, patched = UPSTREAM_APACHE
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
            {"kind": "https", "tls": with_dhe(self._poor_tls(), name, quality), "http": http}
            | installed,
        ]

    def _poor_tls(self, legacy_ok: bool = True) -> Data:
        rng = self.rng
        if legacy_ok and rng.random() < 0.05:
            return TLS["legacy"]
        certs = [c for c, _ in POOR_CERTS]
        cert = rng.choices(certs, [w for _, w in POOR_CERTS])[0]
        return dict(TLS["dated"], cert=cert)

    def _smtp(self, name: str, quality: Quality) -> Data:
        rng = self.rng
        text, package, patched = rng.choice(SMTP_BANNERS[quality])
        if "Exim" in text and self.installs.random() < 0.5:
            text, package, patched = UPSTREAM_EXIM
        smtp = with_installed({"kind": "smtp"}, "banner", (f"{name} {text}", package, patched))
        if quality == "poor" and rng.random() < 0.4:
            return with_vrfy(smtp, name, quality)  # no STARTTLS: mail in the clear
        if quality == "good":
            tls = TLS["modern"]
        elif quality == "average":
            tls = TLS["typical"]
        else:
            # The lab serves SSLv3/RC4/3DES (through tlslite-ng) on https only, not STARTTLS.
            tls = self._poor_tls(legacy_ok=False)
        smtp = smtp | {"starttls": True, "tls": with_dhe(tls, name, quality)}
        return with_vrfy(smtp, name, quality)

    def _exposed_extras(self, name: str, quality: Quality) -> list[Data]:
        rng = self.rng
        extras: list[Data] = [self._ssh(name, quality)]
        for kind, banner in rng.sample(RISKY, rng.randint(1, 3)):
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


def _spf(*terms: str | None) -> str:
    return " ".join(["v=spf1", *(t for t in terms if t)])
