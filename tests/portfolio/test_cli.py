"""The commands print the dashboard's figures from the configured (temporary) database."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
import typer
from typer.testing import CliRunner

from utsyn.cli.portfolio import NoRatingsError, national_app, portfolio_app
from utsyn.geo import counties
from utsyn.portfolio import aggregate
from utsyn.portfolio.synthetic import Spec, load
from utsyn.rules.rulebook import load_rulebook
from utsyn.settings import get_settings
from utsyn.store.db import make_engine, session_factory, upgrade

# As the main CLI mounts them.
app = typer.Typer()
app.add_typer(portfolio_app, name="portfolio")
app.add_typer(national_app, name="national")
runner = CliRunner()


@pytest.fixture
def database(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """An empty SQLite database under a temporary UTSYN_DATA_DIR."""
    monkeypatch.setenv("UTSYN_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.delenv("UTSYN_DATABASE_URL", raising=False)
    get_settings.cache_clear()
    url = f"sqlite:///{tmp_path / 'data' / 'utsyn.db'}"
    yield url
    get_settings.cache_clear()


@pytest.fixture
def loaded(database: str) -> aggregate.Dashboard:
    upgrade(database)
    engine = make_engine(database)
    try:
        load(engine, Spec(orgs=300, days=20, portfolio_size=40))
        with session_factory(engine)() as session:
            return aggregate.dashboard(session, load_rulebook(), limit=10)
    finally:
        engine.dispose()


def test_an_empty_database_says_what_to_run(database: str) -> None:
    result = runner.invoke(app, ["national", "show"])
    assert isinstance(result.exception, NoRatingsError)
    assert "utsyn scan --scenario demo" in str(result.exception)


def test_portfolio_show_prints_the_figures_in_norwegian(loaded: aggregate.Dashboard) -> None:
    result = runner.invoke(app, ["portfolio", "show"])
    assert result.exit_code == 0, result.output
    out = result.output
    assert loaded.summary.average is not None
    average = f"{loaded.summary.average:.1f}".replace(".", ",")  # bokmål's decimal comma
    assert f"Gjennomsnittlig score: {average} ({loaded.summary.grade})" in out
    assert f"Aktive (verifisert eiendel): {loaded.summary.active}" in out
    assert loaded.worst[0].orgnr in out
    book = load_rulebook()
    assert book.rule(loaded.common[0].rule).title.nb[:30] in out.replace("\n", " ")
    assert "Mest kritiske problemer" in out


def test_portfolio_show_json_and_english(loaded: aggregate.Dashboard) -> None:
    result = runner.invoke(app, ["portfolio", "show", "--portfolio", "syntetisk", "--json"])
    assert result.exit_code == 0, result.output
    figures = json.loads(result.output)
    assert figures["summary"]["orgs"] == 40
    assert len(figures["trend"]) == 1  # history snapshots are not generated, only rollups
    english = runner.invoke(app, ["portfolio", "show", "--lang", "en"])
    assert "Most critical issues" in english.output


def test_national_show_by_county_names_the_counties(loaded: aggregate.Dashboard) -> None:
    result = runner.invoke(app, ["national", "show", "--json"])
    figures = json.loads(result.output)
    assert figures["summary"]["orgs"] == 300
    assert sum(a["summary"]["orgs"] for a in figures["areas"]) == 300
    table = runner.invoke(app, ["national", "show", "--by", "county"])
    assert table.exit_code == 0, table.output
    present = [a["key"] for a in figures["areas"] if a["key"]]
    assert counties()[present[0]] in table.output
    unknown = runner.invoke(app, ["national", "show", "--by", "planet"])
    assert unknown.exit_code != 0
