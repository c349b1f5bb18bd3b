"""Where users send mail passwords: cleartext logins, STARTTLS on login ports, and TLS held
to the password role on submission, IMAP and POP3, case by case and on the demo."""

from __future__ import annotations

from typing import Any

import pytest

from utsyn.lab.expected import expected_results
from utsyn.lab.scenarios import load_scenario
from utsyn.rules.evaluate import assess
from utsyn.rules.outcomes import Outcome, classify
from utsyn.rules.rulebook import load_rulebook
from utsyn.scan.model import Observation, TargetResult

BOOK = load_rulebook()
ORG = "974760673"
LOGIN_OUTCOMES = {
    Outcome.CLEARTEXT_LOGIN,
    Outcome.NO_CLEARTEXT_LOGIN,
    Outcome.LOGIN_STARTTLS_MISSING,
    Outcome.LOGIN_STARTTLS_OK,
    Outcome.STARTTLS_MISSING,
    Outcome.STARTTLS_OK,
}


def result(port: int, kind: str, **checks: Any) -> TargetResult:
    asset = f"mail.x.test:{port}"
    observations = [Observation(asset, "service.kind", kind)]
    observations += [Observation(asset, c.replace("__", "."), v) for c, v in checks.items()]
    return TargetResult(ORG, "mail.x.test", "host", tuple(observations))


def outcomes(port: int, kind: str, **checks: Any) -> set[Outcome]:
    return {h.outcome for h in classify(result(port, kind, **checks))} & LOGIN_OUTCOMES


@pytest.mark.parametrize(
    ("port", "kind", "checks", "expected"),
    [
        # Port 25 is mail between servers: its STARTTLS keeps its own outcome.
        (25, "smtp", {"smtp__starttls": False}, {Outcome.STARTTLS_MISSING}),
        (25, "smtp", {"smtp__starttls": True}, {Outcome.STARTTLS_OK}),
        # Submission, IMAP and POP3 are where users log in.
        (587, "smtp", {"smtp__starttls": False}, {Outcome.LOGIN_STARTTLS_MISSING}),
        (143, "imap", {"imap__starttls": True}, {Outcome.LOGIN_STARTTLS_OK}),
        (110, "pop3", {"pop3__starttls": False}, {Outcome.LOGIN_STARTTLS_MISSING}),
        (143, "imap", {"mail__cleartext_login": True}, {Outcome.CLEARTEXT_LOGIN}),
        (587, "smtp", {"mail__cleartext_login": False}, {Outcome.NO_CLEARTEXT_LOGIN}),
        # AUTH PLAIN before STARTTLS on an MX is a password in the clear too (RFC 4954 4).
        (25, "smtp", {"mail__cleartext_login": True}, {Outcome.CLEARTEXT_LOGIN}),
    ],
)
def test_each_login_case(
    port: int, kind: str, checks: dict[str, Any], expected: set[Outcome]
) -> None:
    assert outcomes(port, kind, **checks) == expected


def test_a_check_that_could_not_be_made_finds_nothing() -> None:
    """A POP3 server that answers no CAPA does not say how it takes logins."""
    failed = Observation("mail.x.test:110", "mail.cleartext_login", None, error="no CAPA")
    found = TargetResult(ORG, "mail.x.test", "host", (failed,))
    assert {h.outcome for h in classify(found)} == set()


def test_old_tls_costs_more_where_users_log_in() -> None:
    """TLS 1.0 on IMAP (143 after STARTTLS, or 993), POP3S and SMTPS is judged by the
    password role; on port 25 it is mail between servers and costs nothing."""
    rules: dict[int, set[str]] = {}
    for port, kind in ((25, "smtp"), (143, "imap"), (993, "imaps"), (995, "pop3s"), (465, "smtps")):
        asset = f"mail.x.test:{port}"
        tls = [Observation(asset, f"tls.version.tls1.{v}", True) for v in (0, 3)]
        found = TargetResult(ORG, "mail.x.test", "host", (*result(port, kind).observations, *tls))
        rules[port] = {f.rule for f in assess(ORG, [found], BOOK).findings}
    assert "tls.protocol.tls10.mail_transfer" in rules[25]
    for port in (143, 993, 995, 465):
        assert "tls.protocol.tls10.password" in rules[port], port
    password = BOOK.rule("tls.protocol.tls10.password")
    assert password.points > BOOK.rule("tls.protocol.tls10").points


def test_cleartext_login_is_high_and_cited() -> None:
    rule = BOOK.rule_for(Outcome.CLEARTEXT_LOGIN)
    assert rule is not None and rule.id == "email.cleartext_login" and rule.severity == "high"
    cited = " ".join(rule.references)
    for source in ("RFC 8314", "RFC 9051", "RFC 3501", "RFC 2595", "RFC 4954"):
        assert source in cited
    assert "LOGINDISABLED" in rule.description.nb and "LOGINDISABLED" in rule.description.en
    missing = BOOK.rule_for(Outcome.LOGIN_STARTTLS_MISSING)
    assert missing is not None and missing.severity == "medium"


def test_the_demos_mail_for_users() -> None:
    """solvberg does it as RFC 8314 asks, bjorkeli takes passwords in the clear, and
    helse-vestkyst's Exchange offers NTLM, not a password, before TLS."""
    by_asset: dict[str, set[Outcome]] = {}
    for found in expected_results(load_scenario("demo")):
        for hit in classify(found):
            by_asset.setdefault(hit.asset, set()).add(hit.outcome)
    good = {Outcome.NO_CLEARTEXT_LOGIN, Outcome.LOGIN_STARTTLS_OK}
    assert good <= by_asset["mail.solvberg.test:143"]
    assert good <= by_asset["mail.solvberg.test:587"]
    assert good <= by_asset["mail.helse-vestkyst.test:143"]
    for port in (143, 110, 587):
        assert Outcome.CLEARTEXT_LOGIN in by_asset[f"mail.bjorkeli.test:{port}"]
    assert Outcome.LOGIN_STARTTLS_MISSING in by_asset["mail.bjorkeli.test:110"]
    assert Outcome.TLS_TLS10 in by_asset["mail.bjorkeli.test:143"]
