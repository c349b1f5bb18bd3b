"""A failure is not a finding and clears none: ratings do not flap with the network.

The demo is scanned twice into the store, the second time with a quarter of its hosts
stalled (connections accepted, nothing ever answered, as an overloaded server does): every
organisation's rating is unchanged, no finding is resolved, and the stalls are visible.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import replace
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from utsyn.clock import now_utc
from utsyn.lab.orgs import records_from_manifest
from utsyn.lab.runtime import LabInfo, running_lab
from utsyn.lab.scenarios import load_scenario
from utsyn.lab.targets import from_manifest
from utsyn.pipeline import scan_and_store
from utsyn.rules.rulebook import load_rulebook
from utsyn.rules.standing import UNREACHABLE, standing
from utsyn.scan.guard import Timeouts
from utsyn.scan.model import Observation, TargetResult
from utsyn.settings import get_settings
from utsyn.store import scans
from utsyn.store.db import make_engine, session_factory, upgrade
from utsyn.store.models import Finding
from utsyn.store.orgs import organisation, upsert_organisations
from utsyn.testing.egress import egress_guard

from ..scan.conftest import lab_config

DEMO = load_scenario("demo")
POLICY = load_rulebook().reachability
# Every fourth host of the demo stalls in the second scan.
STALLED = frozenset(h.name for i, (_, h) in enumerate(DEMO.hosts()) if i % 4 == 1)


@contextmanager
def _lab(tmp: Path, stalled: frozenset[str] = frozenset()) -> Iterator[LabInfo]:
    # Addresses of its own (127.180.x.y, DNS 127.62.0.1), beside the shared demo lab.
    with (
        egress_guard(),
        running_lab(
            DEMO, tmp, get_settings().cache_dir, dns_ip="127.62.0.1", first_octet=180,
            stalled=stalled,
        ) as info,
    ):  # fmt: skip
        yield info


def _scan(session: Session, lab: LabInfo, hurried: bool = False) -> dict[str, tuple[float, str]]:
    """The demo scanned into the store; `hurried`: with short time-outs, so the stalled
    hosts cost seconds, not minutes (and any other host that is slow to answer fails too,
    which must change nothing either)."""
    hurry = {"timeouts": Timeouts(connect=1.0, read=1.5), "host_deadline": 30.0}
    config = lab_config(lab, **(hurry if hurried else {}))  # type: ignore[arg-type]
    outcome = asyncio.run(scan_and_store(session, from_manifest(DEMO), config))
    return {org: (r.score, r.grade) for org, r in outcome.ratings.items()}


def test_a_quarter_of_the_hosts_stalled_changes_no_rating(tmp_path: Path) -> None:
    # One backend is enough here: the rating path is the one both share (test_one_rating
    # holds SQLite and PostgreSQL to the same ratings).
    url = f"sqlite:///{tmp_path / 'utsyn.db'}"
    upgrade(url)
    session = session_factory(make_engine(url))()
    upsert_organisations(session, records_from_manifest(DEMO), "lab:demo", now_utc())
    with _lab(tmp_path / "first") as lab:
        first = _scan(session, lab)
    open_before = {f.key for f in session.scalars(select(Finding)) if f.resolved is None}
    with _lab(tmp_path / "stalled", STALLED) as lab:
        second = _scan(session, lab, hurried=True)
    assert second == first
    resolved = {f.key for f in session.scalars(select(Finding)) if f.resolved is not None}
    assert not resolved & open_before
    # The stalls are visible: each stalled host's services are "unreachable since", and
    # what they said before stands, marked as carried, with its own (earlier) time.
    for org_model, host in DEMO.hosts():
        if host.name not in STALLED:
            continue
        org = organisation(session, org_model.orgnr)
        (latest,) = [
            r for r in scans.latest_results(session, org)
            if r.kind == "host" and r.target == host.name
        ]  # fmt: skip
        marked = {o.target for o in latest.observations if o.check == UNREACHABLE}
        ports = {f"{host.name}:{s.effective_port}" for s in host.services}
        assert marked == ports, host.name
        assert any(o.carried for o in latest.observations), host.name


def _result(*observations: Observation) -> TargetResult:
    return TargetResult("974760673", "www.x.test", "host", observations)


def test_an_unreachable_asset_leaves_after_the_rulebooks_scans_and_days() -> None:
    """Three scans in a row without an answer over seven days (the rulebook's numbers)."""
    start = now_utc()
    before = _result(
        Observation("www.x.test", "dns.resolve", ["127.0.0.9"]),
        Observation("www.x.test:443", "service.open", True),
        Observation("www.x.test:443", "http.header.strict-transport-security", None),
    )
    silent = _result(
        Observation("www.x.test", "dns.resolve", ["127.0.0.9"]),
        Observation("www.x.test:443", "service.open", True),
        Observation("www.x.test:443", "http.error", None, error="timeout"),
    )
    days = [0, 3, 8, 9]  # the third silent scan is on day 8: three scans, eight days
    previous, markers = before, []
    for day in days[: POLICY.failed_scans]:
        previous = standing(silent, previous, start + timedelta(days=day), POLICY)
        (marker,) = [o for o in previous.observations if o.check == UNREACHABLE]
        markers.append(marker.value)
        carried = [o.check for o in previous.observations if o.carried]
        assert carried == (
            [] if marker.value["left"] else ["http.header.strict-transport-security"]
        )
    assert [m["scans"] for m in markers] == [1, 2, 3]
    assert [m["left"] for m in markers] == [False, False, True]
    assert len({m["since"] for m in markers}) == 1  # since the first silent scan


@pytest.mark.parametrize("days", [1, 6])
def test_three_failed_scans_within_a_week_do_not_remove_an_asset(days: int) -> None:
    start = now_utc()
    before = _result(Observation("www.x.test:443", "tls.cert.status", "valid"))
    timeout = Observation("www.x.test:443", "tls.error", None, error="timeout")
    previous = before
    for scan_number in range(5):
        at = start + timedelta(days=days * scan_number / 4)
        previous = standing(_result(timeout), previous, at, POLICY)
    assert [o.check for o in previous.observations if o.carried] == ["tls.cert.status"]


def test_a_port_closed_on_a_host_that_answers_is_gone_not_failed() -> None:
    before = _result(
        Observation("www.x.test:443", "service.open", True),
        Observation("www.x.test:443", "tls.cert.status", "valid"),
        Observation("www.x.test:23", "service.kind", "telnet"),
    )
    after = _result(
        Observation("www.x.test:443", "service.open", True),
        Observation("www.x.test:443", "tls.cert.status", "valid"),
    )
    assert standing(after, before, now_utc(), POLICY) == after
    partial = replace(after, observations=(*after.observations[:1],))
    merged = standing(
        replace(partial, observations=(*partial.observations, _tls_error())),
        before,
        now_utc(),
        POLICY,
    )
    assert [(o.target, o.check) for o in merged.observations if o.carried] == [
        ("www.x.test:443", "tls.cert.status")
    ]  # port 443 stalled: its last answer stands; port 23 closed: nothing of it


def _tls_error() -> Observation:
    return Observation("www.x.test:443", "tls.error", None, error="timeout")


def test_a_port_that_gives_no_answer_is_not_taken_for_closed() -> None:
    """Port 80 of a host that still answers on 443 times out (a firewall dropping, an
    overload): that is no answer, so port 80's findings stand; a refusal would be an answer."""
    before = _result(
        Observation("www.x.test:443", "service.open", True),
        Observation("www.x.test:80", "service.open", True),
        Observation("www.x.test:80", "http.redirects_to_https", False),
    )
    after = _result(
        Observation("www.x.test:443", "service.open", True),
        Observation("www.x.test", "service.filtered", [80]),
    )
    merged = standing(after, before, now_utc(), POLICY)
    assert [(o.target, o.check) for o in merged.observations if o.carried] == [
        ("www.x.test:80", "http.redirects_to_https"),
        ("www.x.test:80", "service.open"),
    ]
    refused = _result(Observation("www.x.test:443", "service.open", True))
    assert standing(refused, before, now_utc(), POLICY) == refused
