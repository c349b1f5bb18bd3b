"""Importing organisations: all or nothing per file, a line-numbered report, idempotent."""

from __future__ import annotations

from importlib.resources import files
from pathlib import Path

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from utsyn.errors import ConfigError
from utsyn.store.importer import import_organisations
from utsyn.store.models import Asset, Organisation
from utsyn.store.orgs import Upserted, organisation

from .conftest import T0

SHIPPED = Path(str(files("utsyn.data") / "orgs" / "no_public_entities_homepages_2021.csv"))
SHARED = Path("/work/shared/data/orgs/no_public_entities_homepages_2021.csv")
NATIVE_HEADER = "orgnr,name,sector,county,municipality,domains\n"


def _count(session: Session, model: type[Organisation] | type[Asset]) -> int:
    return session.scalar(select(func.count()).select_from(model)) or 0


def test_the_shipped_2021_list_is_the_shared_one() -> None:
    if SHARED.exists():
        assert SHIPPED.read_bytes() == SHARED.read_bytes()


def test_the_2021_list_imports_with_its_flags_listed(session: Session) -> None:
    report = import_organisations(session, SHIPPED, T0)
    assert report.format == "enhetsregisteret" and report.committed
    assert (report.rows, len(report.errors)) == (1158, 0)
    assert (report.clean_rows, report.flagged_rows) == (1107, 51)
    assert report.written == Upserted(created=1158, updated=0, unchanged=0)
    flags = {p.line: p.reason for p in report.flags}
    assert flags[2] == "municipality 'SVALBARD' has no 2024 number: left empty"
    assert any("ambiguous (1515 / 1818)" in reason for reason in flags.values())  # HERØY
    assert _count(session, Organisation) == 1158
    # 2021 names map to 2024 numbers, Sami names included (TRONDHEIM → Trondheim - Tråante).
    trondheim = session.scalars(
        select(Organisation).where(Organisation.name == "TRONDHEIM KOMMUNE")
    ).one()
    assert (trondheim.municipality, trondheim.county, trondheim.sector) == (
        "5001",
        "50",
        "municipal",
    )
    shared = session.scalars(select(Asset).where(Asset.shared)).all()
    assert {a.value for a in shared} >= {"regjeringen.no", "nav.no"}


def test_reimporting_the_2021_list_changes_nothing(session: Session) -> None:
    import_organisations(session, SHIPPED, T0)
    assets = _count(session, Asset)
    again = import_organisations(session, SHIPPED, T0)
    assert again.written == Upserted(created=0, updated=0, unchanged=1158)
    assert (_count(session, Organisation), _count(session, Asset)) == (1158, assets)


def test_one_bad_row_rejects_the_whole_file(session: Session, tmp_path: Path) -> None:
    path = tmp_path / "orgs.csv"
    path.write_text(
        NATIVE_HEADER
        + "974760673,Good body,state,03,0301,good.test\n"  # line 2
        + "974760674,Bad check digit,state,03,0301,\n"  # line 3
        + "300791905,Old number,municipal,30,3001,\n"  # line 4
        + "300799817,Nowhere,municipal,,9999,\n"  # line 5
        + "300807739,Mismatch,municipal,03,1101,\n"  # line 6
        + "300815650,No domain,municipal,,,not_a_domain\n"  # line 7
        + "300823572,Too,many,fields,here,x,y\n",  # line 8
        encoding="utf-8",
    )
    report = import_organisations(session, path, T0)
    assert not report.committed and _count(session, Organisation) == 0
    assert [(p.line, p.reason) for p in report.errors] == [
        (3, "invalid organisation number (bad mod-11)"),
        (4, "municipality 3001 is a pre-2024 number in Viken: give the 2024 number"),
        (5, "unknown municipality number '9999' (2024 numbers)"),
        (6, "municipality 1101 is not in county 03"),
        (7, "'not_a_domain' is not a domain name"),
        (8, "has 7 fields, the header 6"),
    ]


def test_native_rows_map_pre_2024_counties_and_update_by_orgnr(
    session: Session, tmp_path: Path
) -> None:
    path = tmp_path / "orgs.csv"
    path.write_text(
        NATIVE_HEADER
        + "974760673,Drammen body,municipal,30,3301,www.drammen.test;intranet.drammen.test\n"
        + "300791905,Troms body,county,Troms og Finnmark,,\n"
        + "300799817,Oslo body,state,Oslo,,oslo.test\n",
        encoding="utf-8",
    )
    report = import_organisations(session, path, T0)
    assert report.committed and report.clean_rows == 1
    assert [(p.line, p.reason) for p in report.flags] == [
        (2, "pre-2024 county Viken mapped to 33"),
        (3, "pre-2024 county Troms og Finnmark: county left empty (no municipality)"),
    ]
    drammen = organisation(session, "974760673")
    assert (drammen.county, drammen.municipality) == ("33", "3301")
    assert drammen.primary_domain == "www.drammen.test"
    assert organisation(session, "300799817").county == "03"

    path.write_text(NATIVE_HEADER + "974760673,Drammen renamed,municipal,33,3301,\n", "utf-8")
    again = import_organisations(session, path, T0)
    assert again.written == Upserted(created=0, updated=1, unchanged=0)
    assert organisation(session, "974760673").name == "Drammen renamed"
    assert _count(session, Asset) == 3  # assets are never dropped by an import


def test_a_file_of_unknown_columns_is_refused(session: Session, tmp_path: Path) -> None:
    path = tmp_path / "orgs.csv"
    path.write_text("navn,nummer\nx,1\n", encoding="utf-8")
    with pytest.raises(ConfigError, match="unknown columns"):
        import_organisations(session, path, T0)
