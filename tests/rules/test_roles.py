"""TLS judged by the service's role: web, mail between servers, and where passwords go."""

from __future__ import annotations

from utsyn.lab.expected import expected_results
from utsyn.lab.scenarios import load_scenario
from utsyn.rating.model import rate
from utsyn.rules.evaluate import assess
from utsyn.rules.rulebook import load_rulebook
from utsyn.scan.model import Observation, TargetResult

BOOK = load_rulebook()
ORG = "974760673"


def _mail(mta_sts: str | None) -> list[TargetResult]:
    """x.test receives mail on mx.x.test, whose STARTTLS still offers TLS 1.0 and an
    anonymous suite (Debian's Postfix defaults for smtpd_tls_security_level=may)."""
    zone = TargetResult(
        ORG,
        "x.test",
        "domain",
        (
            Observation("x.test", "dns.mx", ["mx.x.test"]),
            Observation("x.test", "dns.mta_sts", mta_sts),
        ),
    )
    mx = "mx.x.test:25"
    host = TargetResult(
        ORG,
        "mx.x.test",
        "host",
        (
            Observation(mx, "service.kind", "smtp"),
            Observation(mx, "smtp.starttls", True),
            Observation(mx, "tls.version.tls1.0", True),
            Observation(mx, "tls.version.tls1.3", True),
            Observation(mx, "tls.cipher.aead", True),
            Observation(mx, "tls.cipher.anon", True),
            Observation(mx, "tls.cert.status", "self_signed"),
        ),
    )
    return [zone, host]


def _rules(results: list[TargetResult]) -> set[str]:
    return {f.rule for f in assess(ORG, results, BOOK, "x.test").findings}


def test_mail_transfer_is_opportunistic_unless_the_domain_promises_more() -> None:
    opportunistic = _rules(_mail(None))
    assert {
        "tls.protocol.tls10.mail_transfer",
        "tls.cipher.anon.mail_transfer",
        "tls.cert.self_signed.mail_transfer",
    } <= opportunistic
    rating = rate(assess(ORG, _mail(None), BOOK, "x.test"), BOOK)
    assert rating.factors["tls"] == 100.0  # shown, at no cost
    # An enforced MTA-STS policy promises senders valid TLS to this MX (RFC 8461): held to it.
    promised = _rules(_mail("enforce"))
    assert {"tls.protocol.tls10", "tls.cipher.anon", "tls.cert.self_signed"} <= promised
    testing = _rules(_mail("testing"))  # testing mode promises nothing
    assert {r for r in testing if r.startswith("tls.")} == {
        r for r in opportunistic if r.startswith("tls.")
    }


def test_a_login_page_is_held_to_more_than_a_web_site() -> None:
    site = "www.x.test:443"
    base = (
        Observation(site, "service.kind", "https"),
        Observation(site, "tls.version.tls1.0", True),
        Observation(site, "tls.version.tls1.3", True),
    )
    plain = TargetResult(ORG, "www.x.test", "host", base)
    login = TargetResult(
        ORG, "www.x.test", "host", (*base, Observation(site, "http.login_form", True))
    )
    assert "tls.protocol.tls10" in _rules([plain])
    assert "tls.protocol.tls10.password" in _rules([login])


def test_the_demos_dated_mail_server_costs_no_tls_points() -> None:
    """mail.sorkystfk.test (TLS 1.0 and 1.1 on port 25, no MTA-STS): shown, not charged."""
    results = [r for r in expected_results(load_scenario("demo")) if "sorkystfk" in r.target]
    findings = assess("318161925", results, BOOK, "sorkystfk.test").findings
    on_mail = {f.rule for f in findings if f.asset == "mail.sorkystfk.test:25"}
    assert {"tls.protocol.tls10.mail_transfer", "tls.protocol.tls11.mail_transfer"} <= on_mail
    assert all(BOOK.rule(r).points == 0 for r in on_mail if r.startswith("tls."))
