"""Footprint discovery against the demo lab: candidates from NS, MX, SPF and a word list."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from pathlib import Path

from utsyn.lab.runtime import LabInfo
from utsyn.scan.engine import Scanner
from utsyn.scan.footprint import Candidate, discover, is_shared
from utsyn.store.candidates import add_candidates, candidates
from utsyn.store.db import make_engine, session_factory, upgrade
from utsyn.store.orgs import OrgRecord, organisation, set_asset_state, upsert_organisations

from .conftest import lab_config


def _discover(lab: LabInfo, domains: list[str], names: tuple[str, ...] = ()) -> list[Candidate]:
    scan = Scanner(lab_config(lab), families=[]).context()
    return asyncio.run(discover(domains, scan, names))


def test_holmvik_candidates(demo_lab: LabInfo) -> None:
    """Holmvik kommune: its MX, the booking system the word list finds, shared name servers."""
    found = {(c.value, c.source): c for c in _discover(demo_lab, ["holmvik.test"])}
    assert ("mail.holmvik.test", "discovery:mx") in found
    assert ("booking.holmvik.test", "discovery:wordlist") in found
    assert ("www.holmvik.test", "discovery:wordlist") in found
    assert found[("ns1.test", "discovery:ns")].shared  # the lab's shared name servers
    assert not found[("booking.holmvik.test", "discovery:wordlist")].shared
    assert not any(c.value.startswith("finnesikke") for c in found.values())


def test_spf_includes_and_certificate_names(demo_lab: LabInfo) -> None:
    """Strandvik's SPF includes other bodies' domains: candidates, but shared."""
    found = _discover(demo_lab, ["strandvik.test"], ("portal.strandvik.test",))
    spf = {c.value: c for c in found if c.source == "discovery:spf"}
    assert {"vesthav-ikt.test", "kystby.test", "felles.test"} <= set(spf)
    assert all(c.shared for c in spf.values())
    (san,) = [c for c in found if c.source == "discovery:cert_san"]
    assert san.value == "portal.strandvik.test" and not san.shared


def test_shared_platforms() -> None:
    assert is_shared("kommune.azurewebsites.net", ["kommune.no"])
    assert is_shared("d1.cloudfront.net", ["kommune.no"])
    assert is_shared("mail.leverandor.no", ["kommune.no"])
    assert not is_shared("www.kommune.no", ["kommune.no"])
    assert not is_shared("kommune.no", ["kommune.no"])


def test_candidates_are_stored_once_and_a_rejection_sticks(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'u.db'}"
    upgrade(url)
    now = datetime(2026, 11, 29, tzinfo=UTC)
    with session_factory(make_engine(url))() as session:
        record = OrgRecord("974760673", "Prøvestad kommune", domains=("provestad.test",))
        upsert_organisations(session, [record], "test", now)
        org = organisation(session, "974760673")
        found = [
            Candidate(
                "hostname", "www.provestad.test", "discovery:wordlist", "provestad.test", False
            ),
            Candidate("hostname", "ns1.host.test", "discovery:ns", "provestad.test", True),
        ]
        assert add_candidates(session, org, found, now) == 2
        assert add_candidates(session, org, found, now) == 0
        (ns,) = [a for a in candidates(session, org) if a.value == "ns1.host.test"]
        assert ns.shared
        set_asset_state(session, ns, "rejected", now)
        assert add_candidates(session, org, found, now) == 0
        assert [a.value for a in candidates(session, org)] == ["www.provestad.test"]
