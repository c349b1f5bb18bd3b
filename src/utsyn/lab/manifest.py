"""The lab manifest: fictional public bodies, their hosts and services.

The manifest is both the lab's configuration and the ground truth a correct scanner must
find (see `expected.py`). Values are what a real server would be configured with (header
values, DNS records, banners), so that the lab serves exactly what the manifest says.
"""

from __future__ import annotations

import ipaddress
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Literal

import yaml
from pydantic import Field, ValidationError, field_validator, model_validator

from utsyn import geo
from utsyn.errors import ManifestError
from utsyn.lab.specs import HttpSpec, SshSpec, Strict, TlsSpec
from utsyn.orgnr import is_valid_orgnr

LAB_TLD = "test"
# The lab's own name servers, on the lab DNS address: every zone's NS unless it names others.
SHARED_NAME_SERVERS = ("ns1.test", "ns2.test")


# ---------------------------------------------------------------- organisations


class Sector(StrEnum):
    MINISTRY = "ministry"
    STATE_AGENCY = "state_agency"
    COUNTY = "county"
    MUNICIPALITY = "municipality"
    HEALTH_TRUST = "health_trust"
    MUNICIPAL_ENTERPRISE = "municipal_enterprise"
    INTERMUNICIPAL = "intermunicipal"
    UNIVERSITY = "university"


# ---------------------------------------------------------------- services


class ServiceKind(StrEnum):
    HTTP = "http"
    HTTPS = "https"
    SMTP = "smtp"
    SSH = "ssh"
    FTP = "ftp"
    TELNET = "telnet"
    MYSQL = "mysql"
    POSTGRES = "postgres"
    REDIS = "redis"
    MONGODB = "mongodb"
    ELASTICSEARCH = "elasticsearch"
    MEMCACHED = "memcached"
    RDP = "rdp"
    SMB = "smb"
    LDAP = "ldap"
    VNC = "vnc"
    MSSQL = "mssql"
    DNS_RESOLVER = "dns_resolver"  # an open recursive resolver on UDP/TCP 53
    DNS_AUTHORITATIVE = "dns_authoritative"  # a name server of the lab's zones (never recursive)
    # Where users send mail passwords: submission (RFC 6409; 465 with implicit TLS, RFC 8314)
    # and mailbox access, IMAP and POP3 with STARTTLS or with implicit TLS.
    SUBMISSION = "submission"
    SUBMISSIONS = "submissions"
    IMAP = "imap"
    IMAPS = "imaps"
    POP3 = "pop3"
    POP3S = "pop3s"


DEFAULT_PORTS: dict[ServiceKind, int] = {
    ServiceKind.HTTP: 80,
    ServiceKind.HTTPS: 443,
    ServiceKind.SMTP: 25,
    ServiceKind.SSH: 22,
    ServiceKind.FTP: 21,
    ServiceKind.TELNET: 23,
    ServiceKind.MYSQL: 3306,
    ServiceKind.POSTGRES: 5432,
    ServiceKind.REDIS: 6379,
    ServiceKind.MONGODB: 27017,
    ServiceKind.ELASTICSEARCH: 9200,
    ServiceKind.MEMCACHED: 11211,
    ServiceKind.RDP: 3389,
    ServiceKind.SMB: 445,
    ServiceKind.LDAP: 389,
    ServiceKind.VNC: 5900,
    ServiceKind.MSSQL: 1433,
    ServiceKind.DNS_RESOLVER: 53,
    ServiceKind.DNS_AUTHORITATIVE: 53,
    ServiceKind.SUBMISSION: 587,
    ServiceKind.SUBMISSIONS: 465,
    ServiceKind.IMAP: 143,
    ServiceKind.IMAPS: 993,
    ServiceKind.POP3: 110,
    ServiceKind.POP3S: 995,
}
# SMTP servers: between mail servers, and users' submission (STARTTLS, or implicit TLS).
SMTP_KINDS = frozenset({ServiceKind.SMTP, ServiceKind.SUBMISSION, ServiceKind.SUBMISSIONS})
# Services that start in the clear and may offer STARTTLS (and a login before it).
STARTTLS_KINDS = frozenset(
    {ServiceKind.SMTP, ServiceKind.SUBMISSION, ServiceKind.IMAP, ServiceKind.POP3}
)
# Services that speak TLS from the first byte.
IMPLICIT_TLS_KINDS = frozenset(
    {ServiceKind.HTTPS, ServiceKind.SUBMISSIONS, ServiceKind.IMAPS, ServiceKind.POP3S}
)


class Packaging(StrEnum):
    """Ground truth: how the software that answers on a service is installed."""

    UPSTREAM = "upstream"  # built from the vendor's release: the announced version is the code's
    DEBIAN = "debian"  # Debian's package: fixes backported without a version change
    UBUNTU = "ubuntu"
    RHEL = "rhel"  # Red Hat Enterprise Linux and its rebuilds (Rocky Linux, AlmaLinux)


class Service(Strict):
    kind: ServiceKind
    port: int | None = Field(default=None, ge=1, le=65535)
    # The greeting or version string: SSH identification, the text after "220 " of SMTP
    # and FTP greetings,
    # MySQL server version, Redis/Elasticsearch/memcached version, ...
    banner: str | None = None
    tls: TlsSpec | None = None  # https, smtps, imaps, pop3s; smtp, imap, pop3 with STARTTLS
    http: HttpSpec | None = None  # http and https
    starttls: bool = False  # smtp, submission, imap, pop3
    # smtp, submission, imap, pop3: a password login offered before TLS. IMAP without
    # LOGINDISABLED (Dovecot `disable_plaintext_auth = no`), POP3 with USER and SASL PLAIN in
    # CAPA, SMTP with AUTH PLAIN LOGIN before STARTTLS (Postfix `smtpd_tls_auth_only = no`).
    # False: logins only after TLS (submission, imap, pop3), or none at all (smtp).
    plaintext_login: bool = False
    # dns_authoritative: the TXT answer to `version.bind` in class CHAOS. BIND answers its
    # real version unless told otherwise (`version "...";`); Knot and NSD have `version:`
    # and `hide-version`, PowerDNS `version-string`. "": no data, as BIND 9.18 answers with
    # `version none;`. None: REFUSED, as NSD answers with `hide-version: yes`.
    version_bind: str | None = None
    # Ground truth for CVE matching: how the software named by the banner or the Server and
    # X-Powered-By headers is installed. A site's own web application (generator, scripts)
    # is its files, at the version they say, whatever this is.
    package: Packaging = Packaging.UPSTREAM
    # A distribution package without fixes its release needs: an old revision, or a release
    # that was out of support when the flaws became known. Its CVEs are really there.
    package_patched: bool = True
    # smtp: how VRFY and EXPN answer for an existing and a missing mailbox. "enumerates"
    # tells them apart (Postfix's and Sendmail's defaults); "uniform" answers 252 to any
    # name (Exim, Exchange); "disabled" refuses the command (Postfix disable_vrfy_command).
    vrfy: Literal["enumerates", "uniform", "disabled"] = "uniform"
    expn: Literal["enumerates", "disabled"] = "disabled"
    ssh: SshSpec | None = None  # ssh; None: the defaults of SshSpec

    @property
    def ssh_spec(self) -> SshSpec:
        return self.ssh if self.ssh is not None else SshSpec()

    @property
    def effective_port(self) -> int:
        return self.port if self.port is not None else DEFAULT_PORTS[self.kind]

    @model_validator(mode="after")
    def _consistent(self) -> Service:
        kind = self.kind
        if kind in IMPLICIT_TLS_KINDS and self.tls is None:
            raise ValueError(f"tls: an {kind} service needs a tls profile")
        if kind in (ServiceKind.HTTP, ServiceKind.HTTPS) and self.http is None:
            raise ValueError(f"http: an {kind} service needs an http section")
        if kind not in (ServiceKind.HTTP, ServiceKind.HTTPS) and self.http is not None:
            raise ValueError(f"http: not allowed on a {kind} service")
        if kind in STARTTLS_KINDS and self.starttls and self.tls is None:
            raise ValueError("tls: STARTTLS needs a tls profile")
        if kind not in IMPLICIT_TLS_KINDS | STARTTLS_KINDS and self.tls is not None:
            raise ValueError(f"tls: not allowed on a {kind} service")
        if self.tls is not None and self.tls.legacy and kind != ServiceKind.HTTPS:
            raise ValueError("tls: SSLv3, RC4 and 3DES can be served on https only")
        if self.starttls and kind not in STARTTLS_KINDS:
            raise ValueError("starttls: only for smtp, submission, imap and pop3")
        if self.plaintext_login and kind not in STARTTLS_KINDS:
            raise ValueError("plaintext_login: only for smtp, submission, imap and pop3")
        if self.version_bind is not None and kind != ServiceKind.DNS_AUTHORITATIVE:
            raise ValueError("version_bind: only for dns_authoritative")
        if not self.package_patched and self.package == Packaging.UPSTREAM:
            raise ValueError("package_patched: only a distribution package can lack its fixes")
        if (self.vrfy, self.expn) != ("uniform", "disabled") and kind not in SMTP_KINDS:
            raise ValueError("vrfy, expn: only for smtp, submission and submissions")
        if self.ssh is not None and kind != ServiceKind.SSH:
            raise ValueError("ssh: only for ssh")
        if kind == ServiceKind.SSH and not (self.banner or "SSH-2.0-").startswith("SSH-2.0-"):
            raise ValueError("banner: an SSH server identifies itself as SSH-2.0-...")
        return self


# ---------------------------------------------------------------- hosts and domains


def _is_lab_name(name: str) -> bool:
    return name == LAB_TLD or name.endswith("." + LAB_TLD)


LabName = Annotated[str, Field(min_length=3, max_length=253, pattern=r"^[a-z0-9.-]+$")]


class Host(Strict):
    name: LabName
    aliases: tuple[LabName, ...] = ()  # more A records and certificate names for this IP
    ip: str | None = None  # allocated by the lab when absent
    # Also an AAAA record for ::1 and listeners there (one host at most). ::1 is shared
    # with every other service on the machine, which a scan of the host will see too.
    ipv6: bool = False
    ptr: bool = True  # a reverse record for the IP
    services: tuple[Service, ...] = ()

    @field_validator("name", "aliases")
    @classmethod
    def _lab_names(cls, value: str | tuple[str, ...]) -> str | tuple[str, ...]:
        for name in (value,) if isinstance(value, str) else value:
            if not _is_lab_name(name):
                raise ValueError(f"{name!r} is not under the reserved .{LAB_TLD} domain")
        return value

    @field_validator("ip")
    @classmethod
    def _loopback(cls, value: str | None) -> str | None:
        if value is not None and not ipaddress.ip_address(value).is_loopback:
            raise ValueError(f"{value} is not a loopback address (127.0.0.0/8)")
        return value

    @model_validator(mode="after")
    def _unique_ports(self) -> Host:
        ports = [s.effective_port for s in self.services]
        dupes = sorted({p for p in ports if ports.count(p) > 1})
        if dupes:
            raise ValueError(f"services: port {dupes[0]} is used twice")
        return self


class DnssecState(StrEnum):
    UNSIGNED = "unsigned"
    SIGNED = "signed"
    BROKEN = "broken"  # signed, but with a bad signature
    ISLAND = "island"  # signed with its own keys, but no DS in the parent (never sent there)


class SpfVerdict(StrEnum):
    """What a correct SPF evaluation of the domain's TXT records concludes."""

    PASS_STRICT = "strict"  # ends in -all
    SOFTFAIL = "softfail"  # ~all
    NEUTRAL = "neutral"  # ?all
    PASS_ALL = "pass_all"  # +all: anyone may send
    TOO_MANY_LOOKUPS = "too_many_lookups"  # more than 10 DNS lookups (RFC 7208 4.6.4)
    MULTIPLE = "multiple"  # two SPF records: a permerror
    INVALID = "invalid"  # another permerror: bad syntax, an include without SPF
    MISSING = "missing"


class DmarcPolicy(StrEnum):
    NONE = "none"
    QUARANTINE = "quarantine"
    REJECT = "reject"
    MALFORMED = "malformed"
    MISSING = "missing"


class MtaSts(Strict):
    mode: Literal["enforce", "testing", "none"] = "enforce"
    max_age: int = 604800
    policy_host: LabName | None = None  # mta-sts.<domain>; must be a host with https


class Record(Strict):
    """A DNS record served as written; the lab adds A/AAAA/PTR/NS/SOA by itself."""

    name: str  # relative to the zone ("@" for the apex) or absolute with a trailing dot
    type: Literal["A", "AAAA", "CNAME", "MX", "TXT", "CAA", "NS", "SRV"]
    value: str
    ttl: int = 3600


class Domain(Strict):
    """A DNS zone of the organisation, served by the lab's authoritative server."""

    name: LabName
    mx: tuple[LabName, ...] = ()  # mail exchangers, in priority order
    spf: tuple[str, ...] = ()  # TXT values at the apex that start with v=spf1
    spf_verdict: SpfVerdict | None = None  # the ground truth; derived when absent
    dmarc: str | None = None  # TXT value of _dmarc
    dmarc_policy: DmarcPolicy | None = None  # the ground truth; derived when absent
    dkim: dict[str, Literal[1024, 2048]] = Field(default_factory=dict)  # selector → bits
    mta_sts: MtaSts | None = None
    tls_rpt: str | None = None  # TXT value of _smtp._tls
    caa: tuple[str, ...] = ()  # CAA values, e.g. '0 issue "buypass.com"'
    dnssec: DnssecState = DnssecState.UNSIGNED
    zone_transfer: bool = False  # AXFR answered for anyone
    records: tuple[Record, ...] = ()
    # Hosts (with a dns_authoritative service) named in the zone's NS records, in the zone
    # and at its parent; none: the lab's shared name servers ns1.test and ns2.test.
    name_servers: tuple[LabName, ...] = ()

    @field_validator("name")
    @classmethod
    def _lab_name(cls, value: str) -> str:
        if not _is_lab_name(value) or value == LAB_TLD:
            raise ValueError(f"{value!r} is not a zone under the reserved .{LAB_TLD} domain")
        return value


# ---------------------------------------------------------------- the manifest


class Organisation(Strict):
    slug: Annotated[str, Field(pattern=r"^[a-z0-9-]+$", max_length=40)]
    name: str
    orgnr: Annotated[str, Field(pattern=r"^[0-9]{9}$")]
    sector: Sector
    county: Annotated[str, Field(pattern=r"^[0-9]{2}$")]
    municipality: Annotated[str, Field(pattern=r"^[0-9]{4}$")] | None = None
    primary_domain: str | None = None  # defaults to the first domain
    domains: tuple[Domain, ...] = ()
    hosts: tuple[Host, ...] = ()

    @field_validator("orgnr")
    @classmethod
    def _mod11(cls, value: str) -> str:
        if not is_valid_orgnr(value):
            raise ValueError(f"{value} fails the organisation-number mod-11 check")
        return value

    @field_validator("county")
    @classmethod
    def _county(cls, value: str) -> str:
        if value not in geo.counties():
            raise ValueError(f"county {value} is not a 2024 county number")
        return value

    @model_validator(mode="after")
    def _municipality(self) -> Organisation:
        if self.municipality is None:
            return self
        if self.municipality not in geo.municipalities():
            raise ValueError(f"municipality {self.municipality} is not a 2024 number")
        if not self.municipality.startswith(self.county):
            raise ValueError(
                f"municipality {self.municipality} does not lie in county {self.county}"
            )
        return self


class Manifest(Strict):
    version: Literal[1] = 1
    name: str
    description: str = ""
    organisations: tuple[Organisation, ...]

    @model_validator(mode="after")
    def _unique(self) -> Manifest:
        _no_duplicates("organisation slug", [o.slug for o in self.organisations])
        _no_duplicates("organisation number", [o.orgnr for o in self.organisations])
        _no_duplicates("host name", [h.name for o in self.organisations for h in o.hosts])
        _no_duplicates("zone", [d.name for o in self.organisations for d in o.domains])
        ips = [h.ip for o in self.organisations for h in o.hosts if h.ip]
        _no_duplicates("host ip", ips)
        if sum(h.ipv6 for o in self.organisations for h in o.hosts) > 1:
            raise ValueError("ipv6: only one host can own ::1")
        _check_name_servers(self)
        return self

    def hosts(self) -> list[tuple[Organisation, Host]]:
        return [(org, host) for org in self.organisations for host in org.hosts]


def _check_name_servers(manifest: Manifest) -> None:
    """A zone's own name servers must be lab hosts that serve DNS."""
    servers = {
        h.name
        for _, h in manifest.hosts()
        if any(s.kind == ServiceKind.DNS_AUTHORITATIVE for s in h.services)
    } | set(SHARED_NAME_SERVERS)
    for org in manifest.organisations:
        for domain in org.domains:
            for name in domain.name_servers:
                if name not in servers:
                    raise ValueError(
                        f"{domain.name}: name server {name!r} is not a host with a "
                        "dns_authoritative service"
                    )


def _no_duplicates(what: str, values: list[str]) -> None:
    seen: set[str] = set()
    for value in values:
        if value in seen:
            raise ValueError(f"{what} {value!r} appears twice")
        seen.add(value)


# ---------------------------------------------------------------- loading


def load_manifest(path: Path) -> Manifest:
    """Read and validate a manifest file; errors name the file and the bad field."""
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ManifestError(
            "%(path)s: cannot read the manifest (%(reason)s)", path=path, reason=exc.strerror
        ) from exc
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise ManifestError("%(path)s: not valid YAML: %(reason)s", path=path, reason=exc) from exc
    return parse_manifest(data, source=str(path))


def parse_manifest(data: object, source: str = "<manifest>") -> Manifest:
    try:
        return Manifest.model_validate(data)
    except ValidationError as exc:
        raise ManifestError(
            "%(path)s: %(count)s problem(s) in the manifest\n%(problems)s",
            path=source,
            count=exc.error_count(),
            problems=_problems(exc, data),
        ) from exc


def _problems(exc: ValidationError, data: object) -> str:
    """Where and what, one line each, in pydantic's (English) words."""
    lines = []
    for error in exc.errors()[:20]:
        path = _readable_path(error["loc"], data)
        lines.append(f"  at {path or '(top)'}: {error['msg']}")
    return "\n".join(lines)


def _readable_path(loc: tuple[int | str, ...], data: object) -> str:
    """`organisations[3](fjordvik).hosts[0].services[1].tls.versions[0]`."""
    parts: list[str] = []
    node = data
    for key in loc:
        if isinstance(key, int):
            parts.append(f"[{key}]")
            node = node[key] if isinstance(node, list) and key < len(node) else None
            label = node.get("slug") or node.get("name") if isinstance(node, dict) else None
            if isinstance(label, str):
                parts.append(f"({label})")
        else:
            parts.append(("." if parts else "") + key)
            node = node.get(key) if isinstance(node, dict) else None
    return "".join(parts)
