"""What a name is scanned as, on the demo lab: zone checks on zone apexes only, a host's
ports one web site, a domain's mail exchangers followed and a shared one scanned once."""

from __future__ import annotations

import asyncio
from collections.abc import Iterable

from utsyn.lab.runtime import LabInfo
from utsyn.lab.scenarios import load_scenario
from utsyn.lab.targets import from_manifest
from utsyn.rules.evaluate import assess
from utsyn.rules.rulebook import load_rulebook
from utsyn.scan.engine import Scanner
from utsyn.scan.model import Footprint, TargetResult
from utsyn.scan.targets import from_names

from .conftest import lab_config

BOOK = load_rulebook()


def _scan(lab: LabInfo, footprints: Iterable[Footprint]) -> list[TargetResult]:
    scanner = Scanner(lab_config(lab))

    async def collect() -> list[TargetResult]:
        return [r async for r in scanner.scan(list(footprints))]

    return asyncio.run(collect())


def _checks(result: TargetResult) -> set[str]:
    return {o.check for o in result.observations if o.error is None}


def test_zone_checks_run_on_zone_apexes_only(demo_lab: LabInfo) -> None:
    """`www.fjordvik.test` and `mail.fjordvik.test` named bare on the command line are not
    zones: asked of them, SPF and DMARC would be "missing" where none is needed."""
    results = _scan(demo_lab, [from_names(["www.fjordvik.test", "fjordvik.test"])])
    zones = {r.target: r for r in results if r.kind == "domain"}
    www, apex = zones["www.fjordvik.test"], zones["fjordvik.test"]
    assert [(o.check, o.value) for o in www.observations] == [("dns.zone", "fjordvik.test")]
    assert "not an apex" in www.observations[0].evidence
    assert {"dns.zone", "dns.spf", "dns.dmarc", "dns.mx", "dns.dnssec"} <= _checks(apex)
    rules = {f.rule for f in assess("cli", results, BOOK, "fjordvik.test").findings}
    assets = {f.asset for f in assess("cli", results, BOOK, "fjordvik.test").findings}
    assert "www.fjordvik.test" not in assets  # no zone finding on a host name
    assert not {r for r in rules if r.startswith("email.spf") or r.startswith("email.dmarc")}


def test_a_host_listed_by_port_is_one_web_site(demo_lab: LabInfo) -> None:
    """`www.tindfjell.test:80` (a page, no redirect) and `www.tindfjell.test:443` as two
    targets: the site has HTTPS, so "no HTTPS" would be false (the missing redirect is
    its finding)."""
    names = ["www.tindfjell.test:80", "www.tindfjell.test:443"]
    results = _scan(demo_lab, [from_names(names)])
    assert sorted(r.target for r in results) == sorted(names)
    rules = {f.rule for f in assess("cli", results, BOOK, "tindfjell.test").findings}
    assert "web.https.no_redirect" in rules and "web.https.missing" not in rules
    alone = assess("cli", [r for r in results if r.target.endswith(":80")], BOOK)
    assert [f.asset for f in alone.findings if f.rule == "web.https.missing"] == [
        "www.tindfjell.test:80"
    ]  # the same port scanned alone has no HTTPS beside it: the finding is real there


def test_mail_exchangers_are_followed_and_a_shared_one_is_scanned_once(
    demo_lab: LabInfo,
) -> None:
    """Strandvik and Kystby receive mail on their IT company's platform
    (mail.vesthav-ikt.test), which neither lists: each gets it, scanned once, as its own."""
    manifest = load_scenario("demo")
    wanted = {"strandvik", "kystby"}
    footprints = [
        fp
        for org, fp in zip(manifest.organisations, from_manifest(manifest), strict=True)
        if org.slug in wanted
    ]
    results = _scan(demo_lab, footprints)
    followed = [r for r in results if r.via]
    assert sorted((r.target, r.via) for r in followed) == [
        ("mail.vesthav-ikt.test:25", "mx:kystby.test"),
        ("mail.vesthav-ikt.test:25", "mx:strandvik.test"),
    ]
    first, second = followed
    assert first.org != second.org
    assert first.observations == second.observations  # one scan, the same observations
    assert {"smtp.starttls", "tls.cert.status", "service.banner"} <= _checks(first)
    for result in followed:
        assessment = assess(result.org, [r for r in results if r.org == result.org], BOOK)
        assert "mail.vesthav-ikt.test:25" in {a.id for a in assessment.assets}
