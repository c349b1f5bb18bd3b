"""The ground truth of a scenario: what a correct scanner must observe, fact by fact.

Each fact names a target (`host:port` for a service, a zone name for DNS and e-mail facts),
a check and a JSON value. Facts are derived from the manifest alone, never from a scan, so
that scanner tests compare two independent accounts of the same servers.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from http.cookies import SimpleCookie
from typing import Any
from urllib.parse import urlsplit

from utsyn.lab.manifest import (
    SHARED_NAME_SERVERS,
    STARTTLS_KINDS,
    DmarcPolicy,
    DnssecState,
    Domain,
    Host,
    Manifest,
    Packaging,
    Service,
    ServiceKind,
    SpfVerdict,
)
from utsyn.lab.specs import CertStatus, CipherClass, Exposure, HttpSpec, TlsSpec, TlsVersion
from utsyn.lab.ssh import served_algorithms
from utsyn.scan.model import Observation, TargetResult
from utsyn.scan.ssh import weak_names  # the judgement of names, not an observation

# RFC 7208 section 4.6.4: at most 10 mechanisms and modifiers that cause DNS lookups.
SPF_LOOKUP_LIMIT = 10
_SPF_LOOKUP_TERMS = re.compile(r"^[+?~-]?(include:|a\b|a:|a/|mx\b|mx:|mx/|ptr|exists:|redirect=)")
EXPIRING_SOON_DAYS = 30
_NAME_SERVER_KINDS = (ServiceKind.DNS_RESOLVER, ServiceKind.DNS_AUTHORITATIVE)
# What a scanner calls a kind's protocol, where the two differ: any name server is DNS to it,
# and submission is SMTP (on 587) or SMTP over implicit TLS (on 465).
_SCANNED_AS = {
    ServiceKind.DNS_RESOLVER: "dns",
    ServiceKind.DNS_AUTHORITATIVE: "dns",
    ServiceKind.SUBMISSION: "smtp",
    ServiceKind.SUBMISSIONS: "smtps",
}


@dataclass(frozen=True)
class Expected:
    target: str
    check: str
    value: Any

    def to_json(self) -> dict[str, Any]:
        return {"target": self.target, "check": self.check, "value": self.value}


def expected_observations(manifest: Manifest) -> list[Expected]:
    facts: list[Expected] = []
    for org in manifest.organisations:
        for host in org.hosts:
            for service in host.services:
                facts.extend(_service_facts(manifest, host, service))
        for domain in org.domains:
            facts.extend(_domain_facts(manifest, domain))
    return facts


def expected_index(manifest: Manifest) -> dict[tuple[str, str], Any]:
    """(target, check) → value, for tests that look facts up one by one."""
    return {(e.target, e.check): e.value for e in expected_observations(manifest)}


# ------------------------------------------------------------------ services


def _service_facts(manifest: Manifest, host: Host, service: Service) -> Iterator[Expected]:
    target = f"{host.name}:{service.effective_port}"
    protocol = _SCANNED_AS.get(service.kind, str(service.kind))
    yield Expected(target, "service.kind", protocol)
    if service.banner is not None:
        yield Expected(target, "service.banner", service.banner)
    if service.kind in STARTTLS_KINDS:
        yield Expected(target, f"{protocol}.starttls", service.starttls)
        yield Expected(target, "mail.cleartext_login", service.plaintext_login)
    if protocol == "smtp":
        yield Expected(target, "smtp.vrfy", service.vrfy)
        yield Expected(target, "smtp.expn", service.expn)
    if service.kind in _NAME_SERVER_KINDS:
        yield Expected(target, "dns.open_resolver", service.kind == ServiceKind.DNS_RESOLVER)
    if service.kind == ServiceKind.SSH:
        yield from _ssh_facts(target, service)
    if service.tls is not None and (service.kind not in STARTTLS_KINDS or service.starttls):
        yield from _tls_facts(target, service.tls)
    if service.http is not None:
        https = service.kind == ServiceKind.HTTPS
        yield from _http_facts(manifest, target, host, service.http, https)


# A client asking for RSA host keys first (as `scan.ssh` does) gets the RSA key if there is
# one, else the first of these the server has.
_SSH_KEY_PREFERENCE = ("rsa", "ed25519", "ecdsa", "dsa")


def _ssh_facts(target: str, service: Service) -> Iterator[Expected]:

    spec = service.ssh_spec
    for check, names in weak_names(served_algorithms(service)).items():
        yield Expected(target, check, names)
    shown = min(spec.host_keys, key=_ssh_key_rank)
    yield Expected(target, "ssh.host_key", shown)
    yield Expected(target, "ssh.auth_methods", sorted(spec.auth))


def _ssh_key_rank(kind: str) -> int:
    return next(i for i, prefix in enumerate(_SSH_KEY_PREFERENCE) if kind.startswith(prefix))


def _tls_facts(target: str, tls: TlsSpec) -> Iterator[Expected]:
    for version in TlsVersion:
        yield Expected(target, f"tls.version.{version}", version in tls.versions)
    below13 = any(v != TlsVersion.TLS13 for v in tls.versions)
    for cipher in CipherClass:
        yield Expected(target, f"tls.cipher.{cipher}", below13 and cipher in tls.ciphers)
    yield Expected(target, "tls.dhe.bits", tls.dhe)  # None: the server refuses DHE
    cert = tls.cert
    status = cert.status
    incomplete = status == CertStatus.VALID and cert.chain == "missing_intermediate"
    yield Expected(target, "tls.cert.status", "incomplete_chain" if incomplete else str(status))
    yield Expected(target, "tls.cert.key", str(cert.key))
    yield Expected(target, "tls.cert.signature", cert.signature)
    soon = status == CertStatus.VALID and 0 <= cert.days_left < EXPIRING_SOON_DAYS
    yield Expected(target, "tls.cert.expiring_soon", soon)


def _http_facts(
    manifest: Manifest, target: str, host: Host, http: HttpSpec, https: bool
) -> Iterator[Expected]:
    yield Expected(target, "http.status", 301 if http.redirect else 200)
    yield Expected(target, "http.redirect", http.redirect)
    if not https:
        yield Expected(target, "http.redirects_to_https", _ends_on_https(manifest, host, http))
        yield Expected(target, "http.redirect_http_hop", _has_http_hop(manifest, http))
    headers = {
        "server": http.server,
        "x-powered-by": http.powered_by,
        "strict-transport-security": http.hsts,
        "content-security-policy": http.csp,
        "x-frame-options": http.x_frame_options,
        "x-content-type-options": http.x_content_type_options,
        "referrer-policy": http.referrer_policy,
        "x-xss-protection": http.x_xss_protection,
    }
    for name, value in headers.items():
        yield Expected(target, f"http.header.{name}", value)
    if https:  # the host owns its zone's SOA when it is the zone's apex
        yield Expected(target, "http.zone_apex", _is_zone(manifest, host.name))
    if http.redirect:
        return  # a redirecting site has no page of its own to judge
    yield Expected(target, "http.cookies", [_cookie_flags(c) for c in http.cookies])
    missing_sri = sorted(s.src for s in http.scripts if not s.integrity and _cross_origin(s.src))
    yield Expected(target, "http.sri_missing", missing_sri)
    yield Expected(target, "http.mixed_content", https and http.mixed_content)
    yield Expected(target, "http.login_form", http.login_form)
    yield Expected(target, "http.generator", http.generator)
    # A catch-all site answers 200 with its home page everywhere, but real files still win
    # (as with a single-page-app fallback): the scanner must tell a file from that page.
    yield Expected(target, "http.security_txt", str(http.security_txt))
    for exposure in Exposure:
        yield Expected(target, f"http.exposed.{exposure}", exposure in http.exposed)


def _cookie_flags(header: str) -> dict[str, Any]:
    jar: SimpleCookie = SimpleCookie()
    jar.load(header)
    name, morsel = next(iter(jar.items()))
    lower = header.lower()
    return {
        "name": name,
        "secure": "secure" in [p.strip() for p in lower.split(";")],
        "httponly": "httponly" in [p.strip() for p in lower.split(";")],
        "samesite": (morsel["samesite"] or None),
    }


def _cross_origin(src: str) -> bool:
    return bool(urlsplit(src).netloc)


def _redirect_hops(manifest: Manifest, http: HttpSpec) -> list[str]:
    """The Location chain starting at this site, followed through the lab (max 10 hops)."""
    hops: list[str] = []
    location = http.redirect
    while location and len(hops) < 10:
        hops.append(location)
        location = _redirect_of(manifest, location)
    return hops


def _redirect_of(manifest: Manifest, url: str) -> str | None:
    parts = urlsplit(url)
    port = parts.port or (443 if parts.scheme == "https" else 80)
    for _, host in manifest.hosts():
        if parts.hostname not in (host.name, *host.aliases):
            continue
        for service in host.services:
            if service.effective_port == port and service.http is not None:
                return service.http.redirect
    return None


def _ends_on_https(manifest: Manifest, host: Host, http: HttpSpec) -> bool:
    hops = _redirect_hops(manifest, http)
    return bool(hops) and urlsplit(hops[-1]).scheme == "https"


def _has_http_hop(manifest: Manifest, http: HttpSpec) -> bool:
    """An http:// URL after the first https hop: the chain drops back to plain text."""
    hops = _redirect_hops(manifest, http)
    seen_https = False
    for hop in hops:
        if urlsplit(hop).scheme == "https":
            seen_https = True
        elif seen_https:
            return True
    return False


# ------------------------------------------------------------------ software versions

_VERSION_NUMBER = re.compile(r"\d+\.\d+")


def really_vulnerable(manifest: Manifest) -> frozenset[str]:
    """The services (`host:port`) whose banner-named software really has the flaws of the
    version it announces: an upstream build, or a distribution package that lacks fixes of
    its release (an old revision, or a release out of support). A distribution package kept
    up to date has them fixed whatever its version says, so a CVE confirmed on it is false.
    A telnet banner is the login prompt's /etc/issue: it names the operating system, not a
    program, and no program's flaw follows from it."""
    found = set()
    for _, host in manifest.hosts():
        for service in host.services:
            if not _announces_software_version(service):
                continue
            if service.package == Packaging.UPSTREAM or not service.package_patched:
                found.add(f"{host.name}:{service.effective_port}")
    return frozenset(found)


def _announces_software_version(service: Service) -> bool:
    if service.kind == ServiceKind.TELNET:
        return False
    http = service.http
    texts = [service.banner, http.server if http else None, http.powered_by if http else None]
    return any(t is not None and _VERSION_NUMBER.search(t) for t in texts)


# ------------------------------------------------------------------ DNS and e-mail


def _domain_facts(manifest: Manifest, domain: Domain) -> Iterator[Expected]:
    name = domain.name
    yield Expected(name, "dns.mx", list(domain.mx))
    yield Expected(name, "dns.spf", str(domain.spf_verdict or spf_verdict(manifest, domain)))
    yield Expected(name, "dns.dmarc", str(domain.dmarc_policy or dmarc_policy(domain.dmarc)))
    yield Expected(name, "dns.dkim", dict(sorted(domain.dkim.items())))
    yield Expected(name, "dns.mta_sts", domain.mta_sts.mode if domain.mta_sts else None)
    yield Expected(name, "dns.tls_rpt", domain.tls_rpt is not None)
    yield Expected(name, "dns.caa", caa_applies(manifest, domain))
    yield Expected(name, "dns.dnssec", dnssec_state(manifest, domain))
    yield Expected(name, "dns.zone_transfer", domain.zone_transfer)
    yield Expected(name, "dns.dangling_cname", dangling_cnames(manifest, domain))
    yield Expected(name, "dns.ns_version", name_server_versions(manifest, domain))


def caa_applies(manifest: Manifest, domain: Domain) -> bool:
    """A CAA record at the zone or, climbing the tree, at a lab zone above it (RFC 8659 3)."""
    return any(
        d.caa
        for o in manifest.organisations
        for d in o.domains
        if d.name == domain.name or domain.name.endswith("." + d.name)
    )


def dnssec_state(manifest: Manifest, domain: Domain) -> str:
    """What a validator anchored at `test.` (the lab's anchor) makes of the zone: the chain
    runs from `test.` through every lab zone above this one (RFC 4035 4.3)."""
    above = [
        d for o in manifest.organisations for d in o.domains if domain.name.endswith("." + d.name)
    ]
    chain = "secure"
    for parent in sorted(above, key=lambda d: d.name.count(".")):
        if chain == "secure" and parent.dnssec == DnssecState.BROKEN:
            chain = "bogus"  # its spoiled signatures cover the DS (or NSEC) below it too
        elif chain == "secure" and parent.dnssec in (DnssecState.UNSIGNED, DnssecState.ISLAND):
            chain = "insecure"
    if chain == "bogus":
        return "broken"
    if domain.dnssec == DnssecState.UNSIGNED:
        return "unsigned"
    # Signed, with or without its DS: no chain reaches it past an insecure zone above.
    return "cannot_validate" if chain == "insecure" else str(domain.dnssec)


def name_server_versions(manifest: Manifest, domain: Domain) -> dict[str, str | None]:
    """What each of the zone's name servers answers to `version.bind` (None: refuses)."""
    answers: dict[str, str | None] = {}
    for server in domain.name_servers or SHARED_NAME_SERVERS:
        answers[server] = None  # the lab's shared name servers do not tell
        for _, host in manifest.hosts():
            for service in host.services if host.name == server else ():
                if service.kind == ServiceKind.DNS_AUTHORITATIVE:
                    answers[server] = service.version_bind or None  # "": no data
    return dict(sorted(answers.items()))


def spf_verdict(manifest: Manifest, domain: Domain) -> SpfVerdict:
    if not domain.spf:
        return SpfVerdict.MISSING
    if len(domain.spf) > 1:
        return SpfVerdict.MULTIPLE
    if _spf_lookups(manifest, domain.spf[0], depth=0) > SPF_LOOKUP_LIMIT:
        return SpfVerdict.TOO_MANY_LOOKUPS
    if any(_domain_named(manifest, t) is None for t in _includes(domain.spf[0])):
        return SpfVerdict.INVALID  # RFC 7208 5.2: an include of a name with no SPF record
    terms = domain.spf[0].split()[1:]
    qualifier = next((t[0] if t[0] in "+-~?" else "+" for t in terms if t.endswith("all")), "?")
    return {
        "-": SpfVerdict.PASS_STRICT,
        "~": SpfVerdict.SOFTFAIL,
        "?": SpfVerdict.NEUTRAL,
        "+": SpfVerdict.PASS_ALL,
    }[qualifier]


def _spf_lookups(manifest: Manifest, record: str, depth: int) -> int:
    if depth > 10:
        return SPF_LOOKUP_LIMIT + 1  # a loop is a permerror too
    count = 0
    for term in record.split()[1:]:
        if not _SPF_LOOKUP_TERMS.match(term):
            continue
        count += 1
        target = term.split(":", 1)[1] if term.lstrip("+?~-").startswith("include:") else None
        if target is None and term.startswith("redirect="):
            target = term.split("=", 1)[1]
        included = _domain_named(manifest, target) if target else None
        if included is not None and included.spf:
            count += _spf_lookups(manifest, included.spf[0], depth + 1)
    return count


def _includes(record: str) -> list[str]:
    return [t.split(":", 1)[1] for t in record.split() if t.lstrip("+?~-").startswith("include:")]


def _is_zone(manifest: Manifest, name: str) -> bool:
    return _domain_named(manifest, name) is not None


def _domain_named(manifest: Manifest, name: str) -> Domain | None:
    for org in manifest.organisations:
        for domain in org.domains:
            if domain.name == name:
                return domain
    return None


def dmarc_policy(record: str | None) -> DmarcPolicy:
    if record is None:
        return DmarcPolicy.MISSING
    tags = dict(
        part.strip().split("=", 1) for part in record.split(";") if "=" in part and part.strip()
    )
    tags = {k.strip().lower(): v.strip() for k, v in tags.items()}
    if tags.get("v") != "DMARC1" or not record.strip().startswith("v=DMARC1"):
        return DmarcPolicy.MALFORMED
    try:
        return DmarcPolicy(tags.get("p", "").lower())
    except ValueError:
        return DmarcPolicy.MALFORMED


def dangling_cnames(manifest: Manifest, domain: Domain) -> list[str]:
    """Names in the zone whose CNAME points at a name the lab does not serve."""
    served = {n for _, h in manifest.hosts() for n in (h.name, *h.aliases)}
    zones = {d.name for o in manifest.organisations for d in o.domains}
    dangling = []
    for record in domain.records:
        if record.type != "CNAME":
            continue
        target = record.value.rstrip(".")
        if target not in served and target not in zones:
            owner = domain.name if record.name == "@" else f"{record.name}.{domain.name}"
            dangling.append(owner.rstrip("."))
    return sorted(dangling)


def expected_results(manifest: Manifest) -> list[TargetResult]:
    """The ground truth shaped like a scan's output: what a perfect scanner would return."""
    results = []
    for org in manifest.organisations:
        for domain in org.domains:
            facts = tuple(
                Observation(f.target, f.check, f.value) for f in _domain_facts(manifest, domain)
            )
            results.append(TargetResult(org.orgnr, domain.name, "domain", facts))
        for host in org.hosts:
            observations = [
                Observation(f.target, f.check, f.value)
                for service in host.services
                for f in _service_facts(manifest, host, service)
            ]
            results.append(TargetResult(org.orgnr, host.name, "host", tuple(observations)))
    return results
