"""The demo scenario and the manifest loader.

The demo is the ground truth scanners are tested against, so these tests walk it and prove
that every case the rulebook grades is present: deleting a case from demo.yaml fails the
test named after it. The loader tests prove that a broken manifest is reported with the
file, the path to the bad field and what was expected.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
import yaml

from utsyn.errors import ManifestError
from utsyn.lab.context import address_plan
from utsyn.lab.manifest import (
    Domain,
    Host,
    Manifest,
    Packaging,
    Sector,
    Service,
    ServiceKind,
    SpfVerdict,
    load_manifest,
)
from utsyn.lab.scenarios import known_scenarios, load_scenario, scenario_path
from utsyn.lab.specs import (
    CertKey,
    CertStatus,
    CipherClass,
    Exposure,
    HttpSpec,
    SecurityTxt,
    TlsSpec,
    TlsVersion,
)

ONE_YEAR = 31_536_000


@pytest.fixture(scope="module")
def demo() -> Manifest:
    return load_scenario("demo")


# ---------------------------------------------------------------- walking the manifest


def _services(m: Manifest) -> Iterator[tuple[Host, Service]]:
    for _, host in m.hosts():
        for service in host.services:
            yield host, service


def _tls(m: Manifest) -> list[TlsSpec]:
    return [s.tls for _, s in _services(m) if s.tls is not None]


def _web(m: Manifest, kind: ServiceKind | None = None) -> list[HttpSpec]:
    return [s.http for _, s in _services(m) if s.http is not None and kind in (None, s.kind)]


def _pages(m: Manifest) -> list[HttpSpec]:
    """HTTPS sites that serve a page of their own (not a redirect, not a catch-all trap)."""
    return [h for h in _web(m, ServiceKind.HTTPS) if h.redirect is None and not h.catch_all]


def _smtp(m: Manifest) -> list[Service]:
    return [s for _, s in _services(m) if s.kind == ServiceKind.SMTP]


def _domains(m: Manifest) -> list[Domain]:
    return [d for org in m.organisations for d in org.domains]


def _kinds(m: Manifest) -> set[ServiceKind]:
    return {s.kind for _, s in _services(m)}


def _max_age(hsts: str) -> int:
    match = re.search(r"max-age=(\d+)", hsts)
    assert match, hsts
    return int(match.group(1))


def _cookie_flags(cookie: str) -> set[str]:
    return {part.strip().split("=")[0].lower() for part in cookie.split(";")[1:]}


def _dmarc_p(record: str | None) -> str | None:
    match = re.search(r"(?:^|;)\s*p=([^;\s]*)", record or "")
    return match.group(1) if match else None


def _zone_of(m: Manifest, name: str) -> Domain | None:
    return next((d for d in _domains(m) if d.name == name), None)


_LOOKUP_TERM = re.compile(r"^[+?~-]?(include:|a$|a:|a/|mx$|mx:|mx/|ptr|exists:|redirect=)")


def _spf_lookups(m: Manifest, record: str) -> int:
    """RFC 7208 4.6.4 DNS-lookup count of a record, following includes of lab zones."""
    count = 0
    for term in record.split()[1:]:
        if not _LOOKUP_TERM.match(term):
            continue
        count += 1
        if term.lstrip("+?~-").startswith("include:"):
            included = _zone_of(m, term.split(":", 1)[1])
            if included is not None and included.spf:
                count += _spf_lookups(m, included.spf[0])
    return count


def _redirect_target(m: Manifest, url: str) -> str | None:
    """The Location the lab answers for `url`, if a lab host serves it."""
    parts = urlsplit(url)
    port = parts.port or (443 if parts.scheme == "https" else 80)
    for host, service in _services(m):
        if parts.hostname in (host.name, *host.aliases) and service.effective_port == port:
            return service.http.redirect if service.http else None
    return None


def _has_downgrade_chain(m: Manifest) -> bool:
    """A chain http:// → https:// → http:// followed through the lab's own hosts."""
    for spec in _web(m, ServiceKind.HTTP):
        hops: list[str] = []
        location = spec.redirect
        while location and len(hops) < 10:
            hops.append(urlsplit(location).scheme)
            location = _redirect_target(m, location)
        if "https" in hops and "http" in hops[hops.index("https") :]:
            return True
    return False


def _dangling(m: Manifest) -> list[str]:
    served = {n for _, h in m.hosts() for n in (h.name, *h.aliases)}
    zones = {d.name for d in _domains(m)}
    return [
        r.value
        for d in _domains(m)
        for r in d.records
        if r.type == "CNAME"
        and r.value.rstrip(".") not in served
        and not any(r.value.rstrip(".").endswith("." + z) for z in zones)
    ]


# ---------------------------------------------------------------- the cases

Case = Callable[[Manifest], bool]


# Families of cases, one per value; a function per family binds the value for its closure.
def _tls_version(v: TlsVersion) -> Case:
    return lambda m: any(v in t.versions for t in _tls(m))


def _cipher(c: CipherClass) -> Case:
    return lambda m: any(c in t.ciphers for t in _tls(m))


def _cert(status: CertStatus) -> Case:
    return lambda m: any(t.cert.status == status for t in _tls(m))


def _service(kind: ServiceKind) -> Case:
    return lambda m: kind in _kinds(m)


def _server(banner: str) -> Case:
    return lambda m: any(h.server == banner for h in _web(m))


def _banner(banner: str) -> Case:
    return lambda m: any(s.banner == banner for _, s in _services(m))


def _exposed(e: Exposure) -> Case:
    return lambda m: any(e in h.exposed and not h.catch_all for h in _web(m))


def _security_txt(state: SecurityTxt) -> Case:
    return lambda m: any(h.security_txt == state for h in _pages(m))


def _dkim_selector(selector: str) -> Case:
    return lambda m: any(selector in d.dkim for d in _domains(m))


def _dkim_bits(bits: int) -> Case:
    return lambda m: any(bits in d.dkim.values() for d in _domains(m))


def _dmarc(policy: str) -> Case:
    return lambda m: any(_dmarc_p(d.dmarc) == policy for d in _domains(m))


def _spf_ending(all_term: str) -> Case:
    return lambda m: any(
        len(d.spf) == 1 and d.spf[0].endswith(" " + all_term) and _spf_lookups(m, d.spf[0]) <= 10
        for d in _domains(m)
    )


RISKY = (
    ServiceKind.FTP,
    ServiceKind.TELNET,
    ServiceKind.MYSQL,
    ServiceKind.POSTGRES,
    ServiceKind.REDIS,
    ServiceKind.MONGODB,
    ServiceKind.ELASTICSEARCH,
    ServiceKind.MEMCACHED,
    ServiceKind.RDP,
    ServiceKind.SMB,
    ServiceKind.LDAP,
    ServiceKind.DNS_RESOLVER,
)
SERVERS = (
    "nginx/1.18.0",
    "Apache/2.4.29 (Ubuntu)",
    "Microsoft-IIS/8.5",
    "Apache/2.4.62 (Debian)",  # Debian-patched: an old version number with backported fixes
    "nginx/1.22.1",  # Debian 12's nginx, which names no distribution
    "Apache/2.4.49",  # an upstream build no distribution shipped
)
OLD_SSH = ("SSH-2.0-OpenSSH_7.4p1 Debian-10+deb9u7", "SSH-2.0-OpenSSH_7.4")
# Debian 12's OpenSSH before the regreSSHion fix (deb12u3) and at its current revision.
DEBIAN_SSH = ("SSH-2.0-OpenSSH_9.2p1 Debian-2+deb12u2", "SSH-2.0-OpenSSH_9.2p1 Debian-2+deb12u10")


def _packaged(package: Packaging, patched: bool) -> Case:
    return lambda m: any(
        s.package == package and s.package_patched == patched for _, s in _services(m)
    )


CASES: dict[str, Case] = {
    **{f"tls version {v}": _tls_version(v) for v in TlsVersion},
    **{f"cipher class {c}": _cipher(c) for c in CipherClass},
    **{f"certificate {s}": _cert(s) for s in CertStatus},
    **{f"exposed service {k}": _service(k) for k in RISKY},
    **{f"server banner {b}": _server(b) for b in SERVERS},
    **{f"ssh banner {b}": _banner(b) for b in OLD_SSH + DEBIAN_SSH},
    **{f"{p} package, patched": _packaged(p, True) for p in (Packaging.DEBIAN, Packaging.UBUNTU)},
    **{
        f"{p} package lacking fixes": _packaged(p, False)
        for p in Packaging
        if p != Packaging.UPSTREAM
    },
    "upstream build": _packaged(Packaging.UPSTREAM, True),
    **{f"exposed {e}": _exposed(e) for e in Exposure},
    **{f"security.txt {t}": _security_txt(t) for t in SecurityTxt},
    **{f"dkim selector {s}": _dkim_selector(s) for s in ("selector1", "default", "google", "s1")},
    **{f"dkim {b} bits": _dkim_bits(b) for b in (1024, 2048)},
    **{f"dmarc p={p}": _dmarc(p) for p in ("none", "quarantine", "reject")},
    **{f"spf {a}": _spf_ending(a) for a in ("-all", "~all", "?all")},
}

CASES.update(
    {
        # ------------------------------------------------------------ TLS
        "cbc-only cipher suites": lambda m: any(t.ciphers == (CipherClass.CBC,) for t in _tls(m)),
        "aead-only cipher suites": lambda m: any(
            t.ciphers == (CipherClass.AEAD,) and TlsVersion.TLS12 in t.versions for t in _tls(m)
        ),
        "tls 1.3 only": lambda m: any(t.versions == (TlsVersion.TLS13,) for t in _tls(m)),
        "rsa1024 key": lambda m: any(t.cert.key == CertKey.RSA1024 for t in _tls(m)),
        "sha1 signature": lambda m: any(t.cert.signature == "sha1" for t in _tls(m)),
        "missing intermediate": lambda m: any(
            t.cert.chain == "missing_intermediate" and t.cert.status == CertStatus.VALID
            for t in _tls(m)
        ),
        "certificate expiring in 10 days": lambda m: any(
            t.cert.status == CertStatus.VALID and t.cert.days_left == 10 for t in _tls(m)
        ),
        # ------------------------------------------------------------ HTTP
        "http redirects to https": lambda m: any(
            (h.redirect or "").startswith("https://") for h in _web(m, ServiceKind.HTTP)
        ),
        "http serves the page without redirecting": lambda m: any(
            h.redirect is None for h in _web(m, ServiceKind.HTTP)
        ),
        "redirect chain with an http hop": _has_downgrade_chain,
        "hsts missing": lambda m: any(h.hsts is None for h in _pages(m)),
        "hsts short max-age": lambda m: any(
            h.hsts and _max_age(h.hsts) < ONE_YEAR for h in _pages(m)
        ),
        "hsts preload-grade": lambda m: any(
            h.hsts
            and _max_age(h.hsts) >= ONE_YEAR
            and "includesubdomains" in h.hsts.lower()
            and "preload" in h.hsts.lower()
            for h in _pages(m)
        ),
        "csp missing": lambda m: any(h.csp is None for h in _pages(m)),
        "csp with unsafe-inline": lambda m: any(
            "'unsafe-inline'" in (h.csp or "") for h in _pages(m)
        ),
        "csp strict": lambda m: any(
            "default-src 'none'" in (h.csp or "") and "'unsafe" not in (h.csp or "")
            for h in _pages(m)
        ),
        "x-frame-options": lambda m: any(h.x_frame_options for h in _pages(m)),
        "frame-ancestors without x-frame-options": lambda m: any(
            "frame-ancestors" in (h.csp or "") and h.x_frame_options is None for h in _pages(m)
        ),
        "x-content-type-options nosniff": lambda m: any(
            h.x_content_type_options == "nosniff" for h in _pages(m)
        ),
        "referrer-policy": lambda m: any(h.referrer_policy for h in _pages(m)),
        "x-xss-protection": lambda m: any(h.x_xss_protection for h in _pages(m)),
        "cookie with secure, httponly and samesite": lambda m: any(
            {"secure", "httponly", "samesite"} <= _cookie_flags(c)
            for h in _pages(m)
            for c in h.cookies
        ),
        "cookie without flags": lambda m: any(
            not {"secure", "httponly", "samesite"} & _cookie_flags(c)
            for h in _web(m)
            for c in h.cookies
        ),
        "cross-origin script with sri": lambda m: any(
            s.integrity and urlsplit(s.src).netloc for h in _pages(m) for s in h.scripts
        ),
        "cross-origin script without sri": lambda m: any(
            not s.integrity and urlsplit(s.src).netloc for h in _pages(m) for s in h.scripts
        ),
        "mixed content": lambda m: any(h.mixed_content for h in _pages(m)),
        "x-powered-by PHP/7.4.3": lambda m: any(h.powered_by == "PHP/7.4.3" for h in _web(m)),
        "wordpress generator": lambda m: any(
            (h.generator or "").startswith("WordPress") for h in _web(m)
        ),
        "drupal generator": lambda m: any(
            (h.generator or "").startswith("Drupal") for h in _web(m)
        ),
        "jquery 1.12.4": lambda m: any("1.12.4" in s.src for h in _web(m) for s in h.scripts),
        "catch-all site": lambda m: any(h.catch_all for h in _web(m)),
        "login form on https": lambda m: any(h.login_form for h in _pages(m)),
        "login form on plain http": lambda m: any(
            h.login_form and h.redirect is None for h in _web(m, ServiceKind.HTTP)
        ),
        # ------------------------------------------------------------ DNS and e-mail
        "spf +all": lambda m: any(d.spf and d.spf[0].endswith(" +all") for d in _domains(m)),
        "spf too many lookups": lambda m: any(
            d.spf_verdict == SpfVerdict.TOO_MANY_LOOKUPS and _spf_lookups(m, d.spf[0]) > 10
            for d in _domains(m)
        ),
        "two spf records": lambda m: any(
            len(d.spf) == 2 and d.spf_verdict == SpfVerdict.MULTIPLE for d in _domains(m)
        ),
        "spf missing": lambda m: any(not d.spf for d in _domains(m)),
        "dmarc missing": lambda m: any(d.dmarc is None for d in _domains(m)),
        "dmarc malformed": lambda m: any(
            d.dmarc is not None and _dmarc_p(d.dmarc) not in ("none", "quarantine", "reject")
            for d in _domains(m)
        ),
        "mta-sts enforce": lambda m: any(
            d.mta_sts and d.mta_sts.mode == "enforce" for d in _domains(m)
        ),
        "mta-sts testing": lambda m: any(
            d.mta_sts and d.mta_sts.mode == "testing" for d in _domains(m)
        ),
        "tls-rpt": lambda m: any(d.tls_rpt for d in _domains(m)),
        "caa": lambda m: any(d.caa for d in _domains(m)),
        "dnssec signed": lambda m: any(d.dnssec == "signed" for d in _domains(m)),
        "dnssec broken": lambda m: any(d.dnssec == "broken" for d in _domains(m)),
        "dangling cname": lambda m: bool(_dangling(m)),
        "zone transfer open": lambda m: any(d.zone_transfer for d in _domains(m)),
        "smtp with starttls": lambda m: any(s.starttls for s in _smtp(m)),
        "smtp without starttls": lambda m: any(not s.starttls for s in _smtp(m)),
        "smtp starttls with a bad certificate": lambda m: any(
            s.tls and s.tls.cert.status != CertStatus.VALID for s in _smtp(m)
        ),
        "smtp banner postfix": lambda m: any("Postfix" in (s.banner or "") for s in _smtp(m)),
        "smtp banner exim 4.92": lambda m: any("Exim 4.92" in (s.banner or "") for s in _smtp(m)),
        "smtp banner exchange": lambda m: any(
            "Microsoft ESMTP" in (s.banner or "") for s in _smtp(m)
        ),
        "ssh banner modern": lambda m: any(
            (s.banner or "").startswith("SSH-2.0-OpenSSH_9") for _, s in _services(m)
        ),
        "AAAA record": lambda m: any(
            r.type == "AAAA" for o in m.organisations for d in o.domains for r in d.records
        ),
    }
)


@pytest.mark.parametrize("case", sorted(CASES))
def test_demo_has_case(demo: Manifest, case: str) -> None:
    assert CASES[case](demo), f"the demo scenario lacks the case {case!r}"


def test_cases_are_not_vacuous() -> None:
    """The case predicates fail on an empty scenario, so a passing case means something."""
    empty = Manifest(name="empty", organisations=())
    assert [c for c, present in CASES.items() if present(empty)] == []


# ---------------------------------------------------------------- the demo as a whole


def test_demo_size_and_sectors(demo: Manifest) -> None:
    assert demo.name == "demo"
    assert 35 <= len(demo.organisations) <= 45
    assert 100 <= len(demo.hosts()) <= 130
    assert {o.sector for o in demo.organisations} == set(Sector)


def test_demo_organisation_numbers_are_fictional(demo: Manifest) -> None:
    # Brønnøysundregistrene issues numbers starting with 8 or 9 only.
    assert all(o.orgnr.startswith("3") for o in demo.organisations)
    assert len({o.name for o in demo.organisations}) == len(demo.organisations)


def test_demo_hosts_lie_in_their_organisations_zones(demo: Manifest) -> None:
    for org in demo.organisations:
        zones = [d.name for d in org.domains]
        for host in org.hosts:
            for name in (host.name, *host.aliases):
                assert any(name == z or name.endswith("." + z) for z in zones), name


def test_demo_address_plan_is_distinct_loopback(demo: Manifest) -> None:
    plan = address_plan(demo)
    assert set(plan) == {h.name for _, h in demo.hosts()}
    assert len(set(plan.values())) == len(plan)
    assert all(ipaddress.ip_address(ip).is_loopback for ip in plan.values())


def test_demo_mail_exchangers_run_smtp(demo: Manifest) -> None:
    smtp_hosts = {h.name for h, s in _services(demo) if s.kind == ServiceKind.SMTP}
    for domain in _domains(demo):
        assert set(domain.mx) <= smtp_hosts, domain.name


def test_demo_spf_includes_resolve_in_the_lab(demo: Manifest) -> None:
    """An include of a zone without SPF is a permerror only the case that says so tests."""
    for domain in _domains(demo):
        if domain.spf_verdict == SpfVerdict.INVALID:
            continue
        for record in domain.spf:
            for term in record.split():
                if term.lstrip("+?~-").startswith("include:"):
                    included = _zone_of(demo, term.split(":", 1)[1])
                    assert included is not None and len(included.spf) == 1, term


def test_demo_mta_sts_policy_hosts_serve_https(demo: Manifest) -> None:
    https_hosts = {h.name for h, s in _services(demo) if s.kind == ServiceKind.HTTPS}
    for domain in _domains(demo):
        if domain.mta_sts is not None:
            assert domain.mta_sts.policy_host == f"mta-sts.{domain.name}"
            assert domain.mta_sts.policy_host in https_hosts


def test_demo_names_stay_in_the_lab(demo: Manifest) -> None:
    """Redirects and script URLs point at .test names only: nothing leaves loopback."""
    urls = [h.redirect for h in _web(demo) if h.redirect]
    urls += [s.src for h in _web(demo) for s in h.scripts if urlsplit(s.src).netloc]
    for url in urls:
        assert (urlsplit(url).hostname or "").endswith(".test"), url


def test_demo_static_rsa_key_exchange_has_an_rsa_key(demo: Manifest) -> None:
    for tls in _tls(demo):
        if CipherClass.RSA_KEX in tls.ciphers or tls.legacy:
            assert tls.cert.key.startswith("rsa"), tls


def test_demo_legacy_tls_only_on_https(demo: Manifest) -> None:
    """The lab serves SSLv3/RC4/3DES through tlslite-ng for https only, not for STARTTLS."""
    for host, service in _services(demo):
        if service.tls is not None and service.tls.legacy:
            assert service.kind == ServiceKind.HTTPS, host.name


def test_demo_dangling_cname_points_at_an_unclaimed_cloud_name(demo: Manifest) -> None:
    assert _dangling(demo) == ["midtdal-web.azurewebsites-lab.test."]


# ---------------------------------------------------------------- scenario lookup


def test_scenario_path_and_names() -> None:
    assert "demo" in known_scenarios()
    path = scenario_path("demo")
    assert path.is_file() and path.name == "demo.yaml"
    assert load_scenario(str(path)) == load_scenario("demo") == load_manifest(path)


def test_unknown_scenario_lists_the_known_ones() -> None:
    with pytest.raises(
        ManifestError, match=r"unknown scenario 'atlantis'.*known scenarios: .*demo"
    ):
        load_scenario("atlantis")


# ---------------------------------------------------------------- bad manifests


def _minimal() -> dict[str, Any]:
    return {
        "version": 1,
        "name": "minimal",
        "organisations": [
            {
                "slug": "fjordvik",
                "name": "Fjordvik kommune",
                "orgnr": "318627126",
                "sector": "municipality",
                "county": "46",
                "municipality": "4626",
                "domains": [{"name": "fjordvik.test"}],
                "hosts": [
                    {
                        "name": "www.fjordvik.test",
                        "services": [{"kind": "https", "tls": {}, "http": {}}],
                    }
                ],
            }
        ],
    }


def _write(tmp_path: Path, data: object) -> Path:
    path = tmp_path / "scenario.yaml"
    path.write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")
    return path


def test_minimal_manifest_loads(tmp_path: Path) -> None:
    """The control for the cases below: each breaks exactly one thing in this manifest."""
    manifest = load_scenario(str(_write(tmp_path, _minimal())))
    assert [h.name for _, h in manifest.hosts()] == ["www.fjordvik.test"]


def _org(data: dict[str, Any]) -> dict[str, Any]:
    org: dict[str, Any] = data["organisations"][0]
    return org


def _host(data: dict[str, Any]) -> dict[str, Any]:
    host: dict[str, Any] = _org(data)["hosts"][0]
    return host


def _set_orgnr(d: dict[str, Any]) -> None:
    _org(d)["orgnr"] = "318627127"  # the check digit of 31862712 is 6


def _set_county(d: dict[str, Any]) -> None:
    _org(d)["county"] = "11"  # 4626 lies in 46, not in 11


def _set_name(d: dict[str, Any]) -> None:
    _host(d)["name"] = "www.fjordvik.no"


def _set_ip(d: dict[str, Any]) -> None:
    _host(d)["ip"] = "10.0.0.1"


def _set_unknown(d: dict[str, Any]) -> None:
    _host(d)["colour"] = "blue"


def _set_duplicate(d: dict[str, Any]) -> None:
    _org(d)["hosts"].append({"name": "www.fjordvik.test"})


def _drop_tls(d: dict[str, Any]) -> None:
    del _host(d)["services"][0]["tls"]


def _unpatched_upstream(d: dict[str, Any]) -> None:
    _host(d)["services"][0]["package_patched"] = False


ORG = "organisations[0](fjordvik)"
HOST = f"{ORG}.hosts[0](www.fjordvik.test)"
BAD_MANIFESTS: dict[str, tuple[Callable[[dict[str, Any]], None], str, str]] = {
    "bad orgnr check digit": (_set_orgnr, f"{ORG}.orgnr", "fails the organisation-number mod-11"),
    "municipality not in county": (_set_county, ORG, "municipality 4626 does not lie in county 11"),
    "host name outside .test": (
        _set_name,
        f"{ORG}.hosts[0](www.fjordvik.no).name",
        "'www.fjordvik.no' is not under the reserved .test domain",
    ),
    "non-loopback ip": (_set_ip, f"{HOST}.ip", "10.0.0.1 is not a loopback address"),
    "unknown field": (_set_unknown, f"{HOST}.colour", "Extra inputs are not permitted"),
    "duplicate host": (_set_duplicate, "(top)", "host name 'www.fjordvik.test' appears twice"),
    "https without tls": (
        _drop_tls,
        f"{HOST}.services[0]",
        "an https service needs a tls profile",
    ),
    "an upstream build lacking a distribution's fixes": (
        _unpatched_upstream,
        f"{HOST}.services[0]",
        "only a distribution package can lack its fixes",
    ),
}


@pytest.mark.parametrize("case", sorted(BAD_MANIFESTS))
def test_bad_manifest_is_explained(tmp_path: Path, case: str) -> None:
    breaks, where, expected = BAD_MANIFESTS[case]
    data = _minimal()
    breaks(data)
    path = _write(tmp_path, data)
    with pytest.raises(ManifestError) as info:
        load_scenario(str(path))
    message = str(info.value)
    assert message.startswith(f"{path}: ")
    assert f"at {where}: " in message, message
    assert expected in message, message


def test_invalid_yaml_names_the_file(tmp_path: Path) -> None:
    path = tmp_path / "broken.yaml"
    path.write_text("organisations: [\n  - slug: fjordvik\n", encoding="utf-8")
    with pytest.raises(ManifestError, match=rf"^{re.escape(str(path))}: not valid YAML"):
        load_scenario(str(path))


def test_missing_file_names_the_file(tmp_path: Path) -> None:
    path = tmp_path / "absent.yaml"
    with pytest.raises(ManifestError, match=rf"^{re.escape(str(path))}: cannot read the manifest"):
        load_scenario(str(path))
