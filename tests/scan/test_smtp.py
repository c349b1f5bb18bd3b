"""SMTP user enumeration (VRFY/EXPN) against the demo lab, piece by piece, and against nmap.

Lab cases named below are those of the demo scenario (src/utsyn/lab/scenarios/demo.yaml).
"""

from __future__ import annotations

import shutil
import subprocess
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from tests.scan.conftest import mismatches, observed, scan_demo
from utsyn.lab.runtime import LabInfo
from utsyn.lab.scenarios import load_scenario
from utsyn.rules.outcomes import Outcome, classify
from utsyn.scan.mail.smtp import SmtpFamily, random_user, user_check
from utsyn.scan.model import TargetResult


@pytest.fixture(scope="module")
def smtp_scan(demo_lab: LabInfo) -> list[TargetResult]:
    return scan_demo(demo_lab, [SmtpFamily()])


def test_every_vrfy_and_expn_fact_of_the_demo_matches_the_ground_truth(
    smtp_scan: list[TargetResult],
) -> None:
    assert mismatches(smtp_scan, "smtp.vrfy") == []
    assert mismatches(smtp_scan, "smtp.expn") == []
    assert [o for r in smtp_scan for o in r.observations if o.error] == []


def test_debian_postfix_as_installed_tells_users_apart(smtp_scan: list[TargetResult]) -> None:
    """Lab case: mail.vesthav-ikt.test answers VRFY from its recipient table (252 / 550)."""
    vrfy = observed(smtp_scan)[("mail.vesthav-ikt.test:25", "smtp.vrfy")]
    assert vrfy.value == "enumerates"
    assert "VRFY postmaster → 252" in vrfy.evidence and "→ 550 5.1.1" in vrfy.evidence
    hits = [h for r in smtp_scan for h in classify(r) if h.asset == "mail.vesthav-ikt.test:25"]
    assert [(h.outcome, h.detail) for h in hits] == [(Outcome.SMTP_USER_ENUMERATION, "VRFY")]


def test_disabled_and_uniform_answers_reveal_nothing(smtp_scan: list[TargetResult]) -> None:
    """Lab cases: VRFY disabled on relay.vesthav-ikt.test (Postfix disable_vrfy_command),
    252 to every name from Exim on mail.holmvik.test."""
    seen = observed(smtp_scan)
    assert seen[("relay.vesthav-ikt.test:25", "smtp.vrfy")].value == "disabled"
    assert seen[("mail.holmvik.test:25", "smtp.vrfy")].value == "uniform"
    for asset in ("relay.vesthav-ikt.test:25", "mail.holmvik.test:25"):
        hits = {h.outcome for r in smtp_scan for h in classify(r) if h.asset == asset}
        assert hits == {Outcome.SMTP_NO_USER_ENUMERATION}, asset


def test_sendmail_expn_is_one_more_finding(smtp_scan: list[TargetResult]) -> None:
    """Lab case: Sendmail on mail.brekkvik.test expands postmaster and denies the rest."""
    hits = [h for r in smtp_scan for h in classify(r) if h.asset == "mail.brekkvik.test:25"]
    assert sorted(h.detail for h in hits) == ["EXPN", "VRFY"]


@pytest.mark.parametrize(
    ("known", "unknown", "verdict"),
    [
        (252, 550, "enumerates"),  # Postfix with local_recipient_maps
        (250, 550, "enumerates"),  # Sendmail
        (250, 553, "enumerates"),
        (252, 252, "uniform"),  # Exim, Exchange: "cannot verify, will accept"
        (550, 550, "uniform"),  # refused either way ("Administrative prohibition")
        (550, 553, "uniform"),
        (502, 502, "disabled"),  # Postfix disable_vrfy_command = yes
        (500, 500, "disabled"),
        (530, 530, "disabled"),  # needs a login
        (252, 450, "inconclusive"),  # a temporary failure proves nothing
        (250, 252, "inconclusive"),
    ],
)
def test_what_two_answers_say(known: int, unknown: int, verdict: str) -> None:
    assert user_check(known, unknown) == verdict


def test_the_made_up_name_is_new_each_time() -> None:
    names = {random_user() for _ in range(50)}
    assert len(names) == 50 and all(n.startswith("utsyn-") for n in names)


# ======================================================================== nmap (reference)


def _nmap_users(addresses: list[str], method: str, userdb: Path) -> dict[str, list[str]]:
    """The users nmap's smtp-enum-users finds on each address, with one method."""
    args = f"smtp-enum-users.methods={{{method}}},userdb={userdb},unpwdb.timelimit=30s"
    command = ["nmap", "-n", "-Pn", "-sT", "-p25", "--script", "smtp-enum-users"]
    command += ["--script-args", args, "-oX", "-", *addresses]
    xml = subprocess.run(command, capture_output=True, text=True, timeout=120, check=True).stdout
    found: dict[str, list[str]] = {}
    for host in ET.fromstring(xml).iter("host"):
        address = host.find("address")
        lines = [s.get("output", "") for s in host.iter("script")]
        names = [n.strip() for text in lines for n in text.splitlines()]
        if address is not None:
            found[address.get("addr", "")] = [
                n for n in names if n in ("postmaster", "utsyn-nobody")
            ]
    return found


@pytest.mark.reference
@pytest.mark.skipif(shutil.which("nmap") is None, reason="nmap is not installed")
def test_nmap_smtp_enum_users_finds_no_user_that_utsyn_misses(
    demo_lab: LabInfo, smtp_scan: list[TargetResult], tmp_path: Path
) -> None:
    """nmap's smtp-enum-users on every demo mail server, VRFY and EXPN separately.

    nmap takes a 252 answer for "not permitted" and stops, so it never sees that Postfix
    says 252 for a real mailbox and 550 for a missing one: there Utsyn finds enumeration and
    nmap does not. Everywhere nmap does find a user, Utsyn must say "enumerates".
    """
    userdb = tmp_path / "users.txt"
    userdb.write_text("postmaster\nutsyn-nobody\n", "utf-8")
    seen = observed(smtp_scan)
    hosts = [
        h.name
        for _, h in load_scenario("demo").hosts()
        if any(str(s.kind) == "smtp" for s in h.services)
    ]
    missed, agreed, postfix_252 = [], 0, 0
    for method in ("VRFY", "EXPN"):
        nmap = _nmap_users([demo_lab.addresses[h] for h in hosts], method, userdb)
        for host in hosts:
            ours = seen[(f"{host}:25", f"smtp.{method.lower()}")]
            theirs = nmap[demo_lab.addresses[host]]
            if theirs and ours.value != "enumerates":
                missed.append(f"{host} {method}: nmap found {theirs}, Utsyn {ours.value}")
            agreed += bool(theirs) and ours.value == "enumerates"
            postfix_252 += not theirs and ours.value == "enumerates" and "→ 252" in ours.evidence
    assert missed == [] and agreed >= 1  # mail.brekkvik.test, EXPN
    assert postfix_252 >= 2  # mail.vesthav-ikt.test and mail.brekkvik.test, VRFY
