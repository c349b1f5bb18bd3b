"""`make demo` proves the lab organisations' footprints over DNS, as `utsyn footprint verify`."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import func, select

from utsyn.cli.demo import published_tokens, verify_published
from utsyn.lab.orgs import prepare_scenario_orgs
from utsyn.lab.runtime import LabInfo
from utsyn.lab.scenarios import load_scenario
from utsyn.settings import get_settings
from utsyn.store.db import open_session
from utsyn.store.models import Asset, AuditLog

MANIFEST = load_scenario("demo")


def test_the_published_tokens_are_checked_over_dns(
    demo_lab: LabInfo, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("UTSYN_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.delenv("UTSYN_DATABASE_URL", raising=False)
    get_settings.cache_clear()
    try:
        with open_session() as session:
            prepare_scenario_orgs(session, "demo")
        publishing = [o for o in MANIFEST.organisations if published_tokens(o)]
        assert 20 <= len(publishing) < len(MANIFEST.organisations)  # some have not
        assert verify_published(MANIFEST, demo_lab) == len(publishing)
        with open_session() as session:
            verified = session.scalars(select(Asset.value).where(Asset.state == "verified"))
            expected = {domain for o in publishing for domain, _ in published_tokens(o)}
            assert set(verified) == expected
            audits = select(func.count()).where(AuditLog.action == "footprint:verify")
            assert session.scalar(audits) == len(expected)
    finally:
        get_settings.cache_clear()
