"""Custom scorecards: a named subset of one organisation's assets, rated by the same model."""

from __future__ import annotations

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from utsyn.errors import ConfigError
from utsyn.rating.model import rate
from utsyn.rules.model import Assessment, Factor, Finding
from utsyn.rules.model import Asset as RatedAsset
from utsyn.rules.rulebook import load_rulebook
from utsyn.store import footprint, scorecards
from utsyn.store.models import Asset, AuditLog, Organisation, Scorecard, ScorecardAsset

from .builders import add_orgs
from .conftest import T0

BOOK = load_rulebook()
WEB_RULE = next(r.id for r in BOOK.rules if r.factor == Factor.WEB)
TLS_RULE = next(r.id for r in BOOK.rules if r.factor == Factor.TLS)
DNS_RULE = next(r.id for r in BOOK.rules if r.factor == Factor.DNS)


def _claim(session: Session, org: Organisation, kind: str, value: str) -> Asset:
    return footprint.claim_asset(session, org, kind, value, "token", "admin@x.test", T0)


def _domain(session: Session, org: Organisation) -> Asset:
    found = session.scalar(select(Asset).where(Asset.org_id == org.id, Asset.kind == "domain"))
    assert found is not None
    return found


def _assessment(org: Organisation) -> Assessment:
    """org0.test with a web host, a mail host, an intranet host (clean) and the zone."""
    hosts = ("www.org0.test:443", "mail.org0.test:443", "intra.org0.test:443")
    assets = (
        *(RatedAsset(h, Factor.WEB) for h in hosts),
        *(RatedAsset(h, Factor.TLS) for h in hosts),
        RatedAsset("org0.test", Factor.DNS),
    )
    findings = (
        Finding(WEB_RULE, "www.org0.test:443"),
        Finding(TLS_RULE, "www.org0.test:443"),
        Finding(WEB_RULE, "mail.org0.test:443"),
        Finding(DNS_RULE, "org0.test"),
    )
    return Assessment(org.orgnr, assets, findings)


def test_covered_names_match_hosts_ports_and_subdomains() -> None:
    def asset(kind: str, value: str) -> Asset:
        return Asset(kind=kind, value=value)

    covered = scorecards.Covered.of(
        [
            asset("domain", "dept.example.no"),
            asset("hostname", "www.example.no"),
            asset("ip", "192.0.2.7"),
            asset("ip", "2001:db8::1"),
            asset("service", "smtp.example.no:25"),
        ]
    )
    for inside in (
        "dept.example.no",
        "www.dept.example.no:443",
        "a.b.dept.example.no",
        "www.example.no:443",
        "WWW.Example.NO.",
        "192.0.2.7:22",
        "[2001:db8::1]:443",
        "2001:db8::1",
        "smtp.example.no:25",
    ):
        assert covered.covers(inside), inside
    for outside in (
        "example.no",
        "otherdept.example.no",  # a suffix, not a subdomain
        "web.example.no:443",  # a sibling of a host name
        "api.www.example.no:443",  # host names do not cover names under them
        "192.0.2.70:22",
        "smtp.example.no:587",
    ):
        assert not covered.covers(outside), outside


def test_create_list_and_delete_are_audited(session: Session) -> None:
    org, other = add_orgs(session, 2)
    www = _claim(session, org, "hostname", "www.org0.test")
    mail = _claim(session, org, "hostname", "mail.org0.test")
    card = scorecards.create(session, org, " Web ", [www.id, mail.id], "a@x.test", T0)
    assert card.name == "Web"
    scorecards.create(session, org, "Alle", [_domain(session, org).id], "a@x.test", T0)
    assert [c.name for c in scorecards.scorecards(session, org)] == ["Alle", "Web"]
    assert scorecards.scorecards(session, other) == []
    assert [a.value for a in scorecards.assets_of(session, card)] == [
        "mail.org0.test",
        "www.org0.test",
    ]
    assert scorecards.scorecard(session, other, card.id) is None  # another's is absent
    assert scorecards.scorecard(session, org, card.id) is card

    scorecards.delete(session, org, card, "a@x.test", T0)
    assert scorecards.scorecard(session, org, card.id) is None
    rows = session.scalars(select(ScorecardAsset).where(ScorecardAsset.scorecard_id == card.id))
    assert list(rows) == []
    audited = [(r.action, r.subject) for r in session.scalars(select(AuditLog))]
    assert ("scorecard:create", f"{org.orgnr}/scorecard/{card.id}") in audited
    assert ("scorecard:delete", f"{org.orgnr}/scorecard/{card.id}") in audited


def test_assets_of_another_organisation_are_refused(session: Session) -> None:
    org, other = add_orgs(session, 2)
    theirs = _domain(session, other)
    ours = _domain(session, org)
    with pytest.raises(ConfigError, match="not in the footprint"):
        scorecards.create(session, org, "Mixed", [ours.id, theirs.id], "a@x.test", T0)
    with pytest.raises(ConfigError, match="not in the footprint"):
        scorecards.create(session, org, "Ghost", [ours.id, 10**9], "a@x.test", T0)
    rejected = _claim(session, org, "hostname", "old.org0.test")
    footprint.remove_asset(session, org, rejected, "a@x.test", T0)
    with pytest.raises(ConfigError, match="not in the footprint"):
        scorecards.create(session, org, "Old", [rejected.id], "a@x.test", T0)
    assert session.scalars(select(Scorecard)).all() == []  # nothing half-made
    assert all(a.id != rejected.id for a in scorecards.eligible_assets(session, org))


def test_names_and_asset_lists_are_checked(session: Session) -> None:
    [org] = add_orgs(session, 1)
    ours = _domain(session, org).id
    scorecards.create(session, org, "Web", [ours], "a@x.test", T0)
    for name, assets in (("Web", [ours]), ("", [ours]), ("x" * 101, [ours]), ("Empty", [])):
        with pytest.raises(ConfigError):
            scorecards.create(session, org, name, assets, "a@x.test", T0)


def test_the_score_is_the_rating_models_on_the_covered_part(session: Session) -> None:
    [org] = add_orgs(session, 1)
    full = _assessment(org)
    www = _claim(session, org, "hostname", "www.org0.test")
    intra = _claim(session, org, "hostname", "intra.org0.test")
    web = scorecards.create(session, org, "Web", [www.id], "a@x.test", T0)
    clean = scorecards.create(session, org, "Intranett", [intra.id], "a@x.test", T0)
    whole = scorecards.create(session, org, "Alt", [_domain(session, org).id], "a@x.test", T0)

    rated = scorecards.rating(session, web, full, BOOK)
    expected = rate(
        Assessment(
            org.orgnr,
            (
                RatedAsset("www.org0.test:443", Factor.WEB),
                RatedAsset("www.org0.test:443", Factor.TLS),
            ),
            (Finding(WEB_RULE, "www.org0.test:443"), Finding(TLS_RULE, "www.org0.test:443")),
        ),
        BOOK,
    )
    assert rated == expected
    assert rated.score < 100
    assert {f.asset for f in rated.findings} == {"www.org0.test:443"}
    assert scorecards.rating(session, clean, full, BOOK).score == 100.0
    assert scorecards.rating(session, whole, full, BOOK) == rate(full, BOOK)


def test_rescore_keeps_each_scorecards_latest_score(session: Session) -> None:
    [org] = add_orgs(session, 1)
    www = _claim(session, org, "hostname", "www.org0.test")
    card = scorecards.create(session, org, "Web", [www.id], "a@x.test", T0)
    assert card.score is None
    rated = scorecards.rescore(session, org, _assessment(org), BOOK, T0)
    session.expire_all()
    again = session.get_one(Scorecard, card.id)
    assert (again.score, again.grade) == (rated[card.id].score, rated[card.id].grade)
    assert again.rulebook_version == BOOK.version and again.scored == T0
