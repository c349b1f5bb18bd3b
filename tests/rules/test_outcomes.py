"""The classifiers of issue 14's checks: observations in, outcomes out, case by case.

The scanners that make these observations are tested against the lab (tests/scan); here
each judgement is pinned down on its own, and on the demo's ground truth.
"""

from __future__ import annotations

from typing import Any

import pytest

from utsyn.lab.expected import expected_results
from utsyn.lab.scenarios import load_scenario
from utsyn.rules.outcomes import Outcome, classify, weak_ssh_key
from utsyn.scan.model import Observation, TargetResult

ASSET = "www.example.test:443"


def outcomes(kind: str, **checks: Any) -> set[Outcome]:
    """The outcomes of one asset of `kind` with these observations (check=value)."""
    observations = [Observation(ASSET, "service.kind", kind)]
    observations += [Observation(ASSET, c.replace("__", "."), v) for c, v in checks.items()]
    return {
        h.outcome
        for h in classify(TargetResult("1", "www.example.test", "host", tuple(observations)))
    }


def web(**headers: Any) -> set[Outcome]:
    checks = {"http__status": 200, **{f"http__header__{k}": v for k, v in headers.items()}}
    return outcomes("https", **checks)


# ---------------------------------------------------------------- Referrer-Policy


@pytest.mark.parametrize(
    ("value", "outcome"),
    [
        ("unsafe-url", Outcome.REFERRER_POLICY_UNSAFE),
        ("origin", Outcome.REFERRER_POLICY_UNSAFE),
        ("Origin-When-Cross-Origin", Outcome.REFERRER_POLICY_UNSAFE),
        ("strict-origin-when-cross-origin", Outcome.REFERRER_POLICY_OK),
        ("no-referrer", Outcome.REFERRER_POLICY_OK),
        ("same-origin", Outcome.REFERRER_POLICY_OK),
        # The last policy a browser knows wins (the HTTP Observatory reads it so too).
        ("no-referrer, unsafe-url", Outcome.REFERRER_POLICY_UNSAFE),
        ("unsafe-url, strict-origin", Outcome.REFERRER_POLICY_OK),
        ("strict-origin, made-up-policy", Outcome.REFERRER_POLICY_OK),
        # What leaves the browser's default in force: no points either way.
        ("no-referrer-when-downgrade", Outcome.REFERRER_POLICY_MISSING),
        ("made-up-policy", Outcome.REFERRER_POLICY_MISSING),
        (None, Outcome.REFERRER_POLICY_MISSING),
    ],
)
def test_referrer_policy_is_read_as_browsers_and_the_observatory_read_it(
    value: str | None, outcome: Outcome
) -> None:
    judged = web(**{"referrer-policy": value}) & {
        Outcome.REFERRER_POLICY_OK, Outcome.REFERRER_POLICY_MISSING, Outcome.REFERRER_POLICY_UNSAFE
    }  # fmt: skip
    assert judged == {outcome}


# ---------------------------------------------------------------- HSTS scope


NO_SUBDOMAINS = Outcome.HSTS_NO_SUBDOMAINS
_HSTS_SCOPE = {
    Outcome.HSTS_NO_SUBDOMAINS,
    Outcome.HSTS_SUBDOMAINS_OK,
    Outcome.HSTS_PRELOAD_UNMET,
    Outcome.HSTS_PRELOAD_OK,
}


@pytest.mark.parametrize(
    ("hsts", "apex", "judged"),
    [
        ("max-age=31536000", True, {Outcome.HSTS_NO_SUBDOMAINS}),
        ("max-age=31536000", False, set()),  # www: includeSubDomains would add little
        ("max-age=31536000; includeSubDomains", True, {Outcome.HSTS_SUBDOMAINS_OK}),
        ("max-age=63072000; includeSubDomains; preload", False, {Outcome.HSTS_PRELOAD_OK}),
        ("max-age=31536000; preload", False, {Outcome.HSTS_PRELOAD_UNMET}),
        ("max-age=300; includeSubDomains; preload", False, {Outcome.HSTS_PRELOAD_UNMET}),
        ("max-age=31536000; PRELOAD", True, {Outcome.HSTS_PRELOAD_UNMET, NO_SUBDOMAINS}),
        ("max-age=0; preload", True, set()),  # no HSTS in force: web.hsts_missing says so
        (None, True, set()),
    ],
)  # fmt: skip
def test_hsts_subdomains_are_judged_at_the_apex_and_preload_by_its_requirements(
    hsts: str | None, apex: bool, judged: set[Outcome]
) -> None:
    found = web(**{"strict-transport-security": hsts}) if not apex else outcomes(
        "https",
        http__status=301,
        http__zone_apex=True,
        **{"http__header__strict-transport-security": hsts},
    )  # fmt: skip
    assert found & _HSTS_SCOPE == judged


# ---------------------------------------------------------------- DHE, SSH, SMTP


@pytest.mark.parametrize(
    ("bits", "outcome"),
    [(512, Outcome.TLS_DHE_WEAK), (1024, Outcome.TLS_DHE_WEAK), (1536, Outcome.TLS_DHE_WEAK),
     (2048, Outcome.TLS_DHE_OK), (4096, Outcome.TLS_DHE_OK), (None, Outcome.TLS_DHE_OK)],
)  # fmt: skip
def test_dhe_under_2048_bits_is_weak(bits: int | None, outcome: Outcome) -> None:
    found = outcomes("https", tls__dhe__bits=bits)
    assert found & {Outcome.TLS_DHE_WEAK, Outcome.TLS_DHE_OK} == {outcome}


@pytest.mark.parametrize(
    ("methods", "outcome"),
    [
        (["publickey"], Outcome.SSH_KEY_LOGIN_ONLY),
        (["publickey", "password"], Outcome.SSH_PASSWORD_LOGIN),
        (["keyboard-interactive"], Outcome.SSH_PASSWORD_LOGIN),  # PAM's password prompt
        (["gssapi-with-mic", "publickey"], Outcome.SSH_KEY_LOGIN_ONLY),
    ],
)
def test_ssh_password_login(methods: list[str], outcome: Outcome) -> None:
    found = outcomes("ssh", ssh__auth_methods=methods)
    assert found & {Outcome.SSH_PASSWORD_LOGIN, Outcome.SSH_KEY_LOGIN_ONLY} == {outcome}


def test_ssh_host_keys_are_weak_by_kind_and_size() -> None:
    assert [k for k in ("rsa1024", "rsa2047", "dsa1024") if weak_ssh_key(k)] == [
        "rsa1024", "rsa2047", "dsa1024"
    ]  # fmt: skip
    assert not any(weak_ssh_key(k) for k in ("rsa2048", "rsa3072", "ecdsa256", "ed25519"))
    clean = {"ssh__kex__weak": [], "ssh__kex__sha1": [], "ssh__host_key__weak": []}
    assert Outcome.SSH_WEAK_HOST_KEY in outcomes("ssh", ssh__host_key="rsa1024", **clean)
    assert outcomes("ssh", ssh__host_key="ed25519", ssh__cipher__weak=[], **clean) >= {
        Outcome.SSH_ALGORITHMS_OK
    }


def test_an_inconclusive_smtp_answer_neither_finds_nor_clears() -> None:
    judged = {Outcome.SMTP_USER_ENUMERATION, Outcome.SMTP_NO_USER_ENUMERATION}
    assert outcomes("smtp", smtp__vrfy="inconclusive", smtp__expn="disabled") & judged == set()
    assert outcomes("smtp", smtp__vrfy="uniform", smtp__expn="disabled") & judged == {
        Outcome.SMTP_NO_USER_ENUMERATION
    }


# ---------------------------------------------------------------- the demo's cases


def test_the_demo_holds_each_case_where_its_comment_says() -> None:
    by_asset: dict[str, set[Outcome]] = {}
    for result in expected_results(load_scenario("demo")):
        for hit in classify(result):
            by_asset.setdefault(hit.asset, set()).add(hit.outcome)
    cases = {
        "www.sorkystfk.test:443": Outcome.TLS_DHE_WEAK,
        "www.vesthav-ikt.test:443": Outcome.TLS_DHE_OK,
        "www.heggvik.test:443": Outcome.REFERRER_POLICY_UNSAFE,
        "kystby.test:443": Outcome.HSTS_NO_SUBDOMAINS,
        "lauvstad.test:443": Outcome.HSTS_SUBDOMAINS_OK,
        "www.myrvoll.test:443": Outcome.HSTS_PRELOAD_UNMET,
        "www.ddb.test:443": Outcome.HSTS_PRELOAD_OK,
        "mail.vesthav-ikt.test:25": Outcome.SMTP_USER_ENUMERATION,
        "mail.fjordvik.test:25": Outcome.SMTP_NO_USER_ENUMERATION,
        "jump.vesthav-ikt.test:22": Outcome.SSH_PASSWORD_LOGIN,
        "db.lyngoy.test:22": Outcome.SSH_WEAK_KEX,
        "styring.kystbyhavn.test:22": Outcome.SSH_WEAK_HOST_KEY,
        "ssh.fjellheim-hs.test:22": Outcome.SSH_ALGORITHMS_OK,
    }
    assert {a: o for a, o in cases.items() if o not in by_asset.get(a, set())} == {}
    assert Outcome.HSTS_NO_SUBDOMAINS not in by_asset["www.kystby.test:443"]
