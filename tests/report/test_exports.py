"""Findings as CSV and JSON: scopes, roles, what each export records, and streaming."""

from __future__ import annotations

import csv
import inspect
import io
import json
import tracemalloc
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import insert
from sqlalchemy.orm import Session
from typer.testing import CliRunner

from utsyn.cli.report import app as report_app
from utsyn.errors import ConfigError
from utsyn.orgnr import make_orgnr
from utsyn.report.exports import FINDING_COLUMNS, META_COLUMNS, export
from utsyn.report.scope import Caller, ExportRefused, Scope
from utsyn.rules.rulebook import load_rulebook
from utsyn.settings import get_settings
from utsyn.store import models
from utsyn.store.db import make_engine, session_factory, upgrade
from utsyn.store.orgs import OrgRecord, organisation, upsert_organisations

from .conftest import FEATURED, DemoStore

T0 = datetime(2026, 6, 1, 8, 0, tzinfo=UTC)
RULES = ("web.hsts.missing", "tls.protocol.tls10", "email.dmarc.missing")
EVIDENCE = "x" * 1000  # a long evidence text, as scanners write them


@dataclass(frozen=True)
class Bulk:
    url: str
    orgnrs: tuple[str, ...]
    per_org: int
    owner_id: int  # owns the portfolio of the first two organisations
    portfolio_id: int


def _add_findings(session: Session, org_ids: list[int], per_org: int) -> None:
    rows = [
        {
            "org_id": org_id,
            "key": f"{RULES[i % 3]}|host{i}.test:443|",
            "rule": RULES[i % 3],
            "asset": f"host{i}.test:443",
            "detail": '=HYPERLINK("http://x")' if i == 0 else "",
            "evidence": EVIDENCE,
            "first_seen": T0,
            "last_seen": T0,
        }
        for org_id in org_ids
        for i in range(per_org)
    ]
    for start in range(0, len(rows), 1000):
        session.execute(insert(models.Finding), rows[start : start + 1000])


def _build_bulk(path: Path, orgs: int, per_org: int) -> Bulk:
    url = f"sqlite:///{path / 'bulk.db'}"
    upgrade(url)
    engine = make_engine(url)
    with session_factory(engine)() as session:
        records = [
            OrgRecord(make_orgnr(i), f"Prøvekommune {i}", sector="municipal", county="34")
            for i in range(orgs)
        ]
        upsert_organisations(session, records, "test", T0)
        ids = [organisation(session, r.orgnr).id for r in records]
        _add_findings(session, ids, per_org)
        owner = models.User(email="eier@prove.test", password_hash="x", role="org_admin",
                            org_id=ids[0], created=T0)  # fmt: skip
        session.add(owner)
        session.flush()
        portfolio = models.Portfolio(owner_id=owner.id, name="Leverandører", created=T0)
        session.add(portfolio)
        session.flush()
        for org_id in ids[:2]:
            session.add(models.PortfolioMember(portfolio_id=portfolio.id, org_id=org_id))
        # A resolved finding is not exported.
        session.add(models.Finding(org_id=ids[0], key="old|a|", rule=RULES[0], asset="a",
                                   detail="", evidence="", first_seen=T0, last_seen=T0,
                                   resolved=T0 + timedelta(days=1)))  # fmt: skip
        session.commit()
        result = Bulk(url, tuple(r.orgnr for r in records), per_org, owner.id, portfolio.id)
    engine.dispose()
    return result


@pytest.fixture(scope="module")
def bulk(tmp_path_factory: pytest.TempPathFactory) -> Bulk:
    return _build_bulk(tmp_path_factory.mktemp("bulk"), orgs=5, per_org=1000)


@pytest.fixture
def bulk_session(bulk: Bulk) -> Iterator[Session]:
    engine = make_engine(bulk.url)
    with session_factory(engine)() as session:
        yield session
    engine.dispose()


NATIONAL = Caller("national_analyst")


def test_csv_of_one_organisation_loads_back_with_its_context(
    bulk: Bulk, bulk_session: Session
) -> None:
    org = bulk.orgnrs[1]
    text = "".join(export(bulk_session, Scope("org", org), NATIONAL, "csv", now=T0))
    rows = list(csv.DictReader(io.StringIO(text, newline="")))
    assert tuple(rows[0]) == META_COLUMNS + FINDING_COLUMNS
    assert len(rows) == bulk.per_org
    assert {r["orgnr"] for r in rows} == {org}
    assert {r["export_scope"] for r in rows} == {f"org:{org}"}
    assert {r["exported_at"] for r in rows} == {T0.isoformat()}
    assert {r["rulebook_version"] for r in rows} == {load_rulebook().version}
    assert rows[0]["organisation"] == "Prøvekommune 1"
    assert {r["title"] for r in rows} >= {"Tjenesten støtter TLS 1.0"}
    assert all(r["evidence"] == EVIDENCE for r in rows)


def test_csv_quotes_scanned_text_a_spreadsheet_would_run(bulk: Bulk, bulk_session: Session) -> None:
    text = "".join(export(bulk_session, Scope("org", bulk.orgnrs[0]), NATIONAL, "csv"))
    details = {r["detail"] for r in csv.DictReader(io.StringIO(text, newline=""))}
    assert '\'=HYPERLINK("http://x")' in details
    assert not any(d.startswith("=") for d in details)


def test_json_of_a_portfolio_loads_back_with_its_header(bulk: Bulk, bulk_session: Session) -> None:
    owner = Caller("org_admin", bulk.orgnrs[0], bulk.owner_id)
    scope = Scope("portfolio", portfolio_id=bulk.portfolio_id)
    data = json.loads("".join(export(bulk_session, scope, owner, "json", lang="en", now=T0)))
    assert data["export"] == {
        "format": "utsyn.findings/1",
        "scope": f"portfolio:{bulk.portfolio_id}",
        "exported_at": T0.isoformat(),
        "rulebook_version": load_rulebook().version,
        "lang": "en",
    }
    assert data["count"] == len(data["findings"]) == 2 * bulk.per_org
    assert {f["orgnr"] for f in data["findings"]} == set(bulk.orgnrs[:2])
    assert {f["title"] for f in data["findings"]} >= {"Service supports TLS 1.0"}
    assert all(f["key"] != "old|a|" for f in data["findings"])  # resolved: not exported


def test_national_export_is_for_national_roles_only(bulk: Bulk, bulk_session: Session) -> None:
    for role in ("org_admin", "org_viewer", "someone"):
        with pytest.raises(ExportRefused):
            # Refused when called, before any streaming starts.
            export(bulk_session, Scope("national"), Caller(role, bulk.orgnrs[0]), "csv")
    data = json.loads("".join(export(bulk_session, Scope("national"), NATIONAL, "json")))
    assert data["count"] == len(bulk.orgnrs) * bulk.per_org
    assert data["export"]["scope"] == "national"


def test_org_and_portfolio_roles_see_their_own_only(bulk: Bulk, bulk_session: Session) -> None:
    own = Caller("org_viewer", bulk.orgnrs[0], user_id=None)
    assert next(iter(export(bulk_session, Scope("org", bulk.orgnrs[0]), own, "csv")))
    with pytest.raises(ExportRefused):
        export(bulk_session, Scope("org", bulk.orgnrs[1]), own, "csv")
    stranger = Caller("org_admin", bulk.orgnrs[3], user_id=bulk.owner_id + 1)
    with pytest.raises(ExportRefused):
        export(bulk_session, Scope("portfolio", portfolio_id=bulk.portfolio_id), stranger, "csv")


def test_bad_requests_are_user_errors(bulk: Bulk, bulk_session: Session) -> None:
    with pytest.raises(ConfigError, match="format"):
        export(bulk_session, Scope("national"), NATIONAL, "xlsx")
    with pytest.raises(ConfigError, match="no organisation"):
        export(bulk_session, Scope("org", "974760673"), NATIONAL, "csv")
    with pytest.raises(ConfigError, match="no portfolio"):
        export(bulk_session, Scope("portfolio", portfolio_id=999), NATIONAL, "json")


def _peak(session: Session, scope: Scope, fmt: str) -> tuple[int, int]:
    """(peak traced bytes, bytes written) while the export runs into a sink that keeps nothing."""
    chunks = export(session, scope, NATIONAL, fmt)
    tracemalloc.start()
    try:
        written = sum(len(chunk) for chunk in chunks)
        return tracemalloc.get_traced_memory()[1], written
    finally:
        tracemalloc.stop()


@pytest.mark.parametrize("fmt", ["csv", "json"])
def test_exports_stream_in_bounded_memory(bulk: Bulk, bulk_session: Session, fmt: str) -> None:
    assert inspect.isgenerator(export(bulk_session, Scope("national"), NATIONAL, fmt))
    one_org = Scope("org", bulk.orgnrs[0])
    _peak(bulk_session, one_org, fmt)  # warm the statement caches, which stay
    small, _ = _peak(bulk_session, one_org, fmt)
    large, written = _peak(bulk_session, Scope("national"), fmt)
    assert written > 5 * 1000 * 1000  # 5000 findings of about 1 kB each
    # Five times the rows, about the same memory: one batch at a time, never the export.
    assert large < 1.5 * small + 256 * 1024, f"{large} bytes for 5000 rows, {small} for 1000"
    assert large < written / 2  # and well below the export itself


def test_cli_exports_to_a_file(
    bulk: Bulk, demo_store: DemoStore, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("UTSYN_DATABASE_URL", bulk.url)
    get_settings.cache_clear()
    try:
        out = tmp_path / "portfolio.csv"
        args = ["export", "--scope", "portfolio", "--portfolio", "Leverandører",
                "--format", "csv", "-o", str(out)]  # fmt: skip
        result = CliRunner().invoke(report_app, args)
        assert result.exit_code == 0, result.output
        with out.open(encoding="utf-8", newline="") as f:
            assert len(list(csv.DictReader(f))) == 2 * bulk.per_org
        monkeypatch.setenv("UTSYN_DATABASE_URL", demo_store.url)
        get_settings.cache_clear()
        out = tmp_path / "org.json"
        args = ["export", "--scope", "org", "--org", FEATURED, "--format", "json", "-o", str(out)]
        result = CliRunner().invoke(report_app, args)
        assert result.exit_code == 0, result.output
        assert json.loads(out.read_text(encoding="utf-8"))["count"] > 10
    finally:
        get_settings.cache_clear()
