"""The synthetic scenario generator: deterministic, valid, and big enough for 10,000 hosts."""

from __future__ import annotations

import ipaddress
from collections import Counter
from pathlib import Path

import pytest
import yaml

from utsyn.errors import ManifestError
from utsyn.lab.context import address_plan, host_address
from utsyn.lab.generate import MAX_HOSTS_PER_ORG, MAX_ORGANISATIONS, generate
from utsyn.lab.manifest import ServiceKind, parse_manifest
from utsyn.lab.scenarios import load_scenario
from utsyn.lab.specs import CertStatus, TlsVersion


def test_same_seed_same_scenario() -> None:
    assert generate(60, seed=7) == generate(60, seed=7)


def test_other_seed_other_scenario() -> None:
    first, second = generate(60, seed=7), generate(60, seed=8)
    assert [o.slug for o in first.organisations] != [o.slug for o in second.organisations]


@pytest.mark.parametrize("orgs", [1, 2, 37, 300])
def test_organisation_count_and_hosts_per_organisation(orgs: int) -> None:
    manifest = generate(orgs, seed=orgs)
    assert len(manifest.organisations) == orgs
    for org in manifest.organisations:
        assert 1 <= len(org.hosts) <= MAX_HOSTS_PER_ORG, org.slug
        apex = org.domains[0].name
        assert org.hosts[0].name == f"www.{apex}"
        assert all(h.name == apex or h.name.endswith("." + apex) for h in org.hosts)


def test_host_counts_spread_over_the_whole_range() -> None:
    counts = Counter(len(o.hosts) for o in generate(800, seed=3).organisations)
    assert set(counts) == set(range(1, MAX_HOSTS_PER_ORG + 1))


def test_postures_spread_from_good_to_poor() -> None:
    """A generated sector must grade from A to F, like the real one does."""
    manifest = generate(300, seed=11)
    tls = [s.tls for _, h in manifest.hosts() for s in h.services if s.tls]
    domains = [d for o in manifest.organisations for d in o.domains]
    assert any(t.versions == (TlsVersion.TLS12, TlsVersion.TLS13) for t in tls)
    assert any(TlsVersion.TLS10 in t.versions for t in tls)
    assert any(t.cert.status != CertStatus.VALID for t in tls)
    assert any(d.dmarc and "p=reject" in d.dmarc for d in domains)
    assert any(d.dmarc is None for d in domains)
    assert any(d.dnssec == "signed" for d in domains)
    kinds = {s.kind for _, h in manifest.hosts() for s in h.services}
    assert {ServiceKind.HTTPS, ServiceKind.SMTP, ServiceKind.SSH} <= kinds
    assert kinds & {ServiceKind.REDIS, ServiceKind.TELNET, ServiceKind.RDP, ServiceKind.MYSQL}
    assert len({o.sector for o in manifest.organisations}) >= 6


def test_every_dnssec_state_and_name_server_answer_is_generated() -> None:
    """Islands with a signed zone below them, and bodies running their own name server
    that tells its version, or not: the cases issue 14 added, at scale too."""
    from utsyn.lab.expected import expected_index

    manifest = generate(300, seed=11)
    facts = expected_index(manifest)
    states = {v for (_, check), v in facts.items() if check == "dns.dnssec"}
    assert states == {"signed", "unsigned", "broken", "island", "cannot_validate"}
    answers = [
        answer
        for (_, check), value in facts.items()
        if check == "dns.ns_version"
        for server, answer in value.items()
        if server.startswith("ns1.") and server != "ns1.test"
    ]
    assert any(a and a[0].isdigit() for a in answers) and None in answers


def test_the_checks_of_issue_14_have_cases_at_scale() -> None:
    """Weak DHE, SSH passwords and old algorithms, VRFY, leaky Referrer-Policy values and
    apex HSTS are spread through a generated sector, not only the demo."""
    manifest = generate(242, seed=7)
    services = [s for _, h in manifest.hosts() for s in h.services]
    tls = [s.tls for s in services if s.tls]
    ssh = [s for s in services if s.kind == ServiceKind.SSH]
    assert {t.dhe for t in tls} == {None, 1024, 2048}
    assert any("password" in s.ssh_spec.auth for s in ssh)
    assert any(s.ssh_spec.auth == ("publickey",) for s in ssh)
    assert any("rsa1024" in s.ssh_spec.host_keys for s in ssh)
    assert any("OpenSSH_6" in (s.banner or "") for s in ssh)
    assert {s.vrfy for s in services if s.kind == ServiceKind.SMTP} == {
        "enumerates", "uniform", "disabled"
    }  # fmt: skip
    policies = {s.http.referrer_policy for s in services if s.http}
    assert {"unsafe-url", "origin-when-cross-origin", "no-referrer-when-downgrade"} <= policies
    apexes = [h for o in manifest.organisations for h in o.hosts if h.name == o.domains[0].name]
    hsts = {s.http.hsts for h in apexes for s in h.services if s.http and s.http.hsts}
    assert {"max-age=31536000", "max-age=63072000; includeSubDomains; preload"} <= hsts


def test_mail_for_users_has_cases_at_scale() -> None:
    """Submission, IMAP and POP3 beside generated MTAs: done as RFC 8314 asks on some,
    passwords before TLS and POP3 without TLS on others; Exchange greets as Exchange."""
    services = [s for _, h in generate(242, seed=7).hosts() for s in h.services]
    kinds = {s.kind for s in services}
    assert {
        ServiceKind.SUBMISSION, ServiceKind.SUBMISSIONS, ServiceKind.IMAP, ServiceKind.IMAPS,
        ServiceKind.POP3,
    } <= kinds  # fmt: skip
    logins = {(s.kind, s.plaintext_login) for s in services if s.kind != ServiceKind.SMTP}
    assert {(ServiceKind.IMAP, True), (ServiceKind.IMAP, False)} <= logins
    assert {(ServiceKind.SUBMISSION, True), (ServiceKind.SUBMISSION, False)} <= logins
    assert all(s.plaintext_login and not s.starttls for s in services if s.kind == ServiceKind.POP3)
    assert any("Microsoft Exchange" in (s.banner or "") for s in services)


def test_legacy_tls_only_on_https() -> None:
    """The lab serves SSLv3/RC4/3DES through tlslite-ng for https only, not for STARTTLS."""
    services = [s for _, h in generate(400, seed=2).hosts() for s in h.services]
    legacy = [s for s in services if s.tls is not None and s.tls.legacy]
    assert legacy, "a poor sector has some SSLv3/RC4 web servers"
    assert {s.kind for s in legacy} == {ServiceKind.HTTPS}


def test_ten_thousand_hosts_are_valid_with_distinct_addresses() -> None:
    manifest = generate(2600, seed=1)
    hosts = manifest.hosts()
    assert len(hosts) >= 10_000
    plan = address_plan(manifest)
    assert len(plan) == len(hosts)
    assert len(set(plan.values())) == len(hosts)
    assert all(ipaddress.ip_address(ip).is_loopback for ip in plan.values())


def test_generated_scenario_round_trips_through_a_file(tmp_path: Path) -> None:
    """A generated scenario can be saved and served later as a manifest file."""
    manifest = generate(25, seed=5)
    path = tmp_path / "generated.yaml"
    data = manifest.model_dump(mode="json", exclude_defaults=True)
    path.write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")
    assert load_scenario(str(path)) == manifest
    assert parse_manifest(data) == manifest


def test_limits_match_the_address_plan() -> None:
    host_address(MAX_ORGANISATIONS - 1, MAX_HOSTS_PER_ORG - 1)  # the last organisation fits
    with pytest.raises(ManifestError):
        host_address(MAX_ORGANISATIONS, 0)


@pytest.mark.parametrize("orgs", [0, -1, MAX_ORGANISATIONS + 1])
def test_out_of_range_is_refused(orgs: int) -> None:
    with pytest.raises(ManifestError, match=f"cannot generate {orgs} organisations"):
        generate(orgs, seed=1)
