"""Imports that never erase what the file does not mention, read CSV strictly and refuse text
that does not fit the columns — on SQLite as on PostgreSQL, with nothing half written."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from utsyn.errors import ConfigError
from utsyn.lab.orgs import records_from_manifest
from utsyn.lab.scenarios import load_scenario
from utsyn.store.importer import import_organisations
from utsyn.store.models import Asset, Organisation
from utsyn.store.orgs import Upserted, organisation, upsert_organisations

from .conftest import T0

FULL = (
    "orgnr,name,sector,county,municipality,domains\n"
    "974760673,Bergen kommune,municipal,46,4601,bergen.test www.bergen.test\n"
    "300791905,Vestland fylkeskommune,county,46,,vestland.test\n"
)


def _import(session: Session, tmp_path: Path, text: str | bytes) -> object:
    path = tmp_path / "orgs.csv"
    if isinstance(text, str):
        path.write_text(text, encoding="utf-8")
    else:
        path.write_bytes(text)
    return import_organisations(session, path, T0)


def _stored(session: Session, orgnr: str) -> tuple[object, ...]:
    org = organisation(session, orgnr)
    session.refresh(org)
    return (org.name, org.sector, org.county, org.municipality, org.primary_domain)


def _count(session: Session) -> int:
    return session.scalar(select(func.count()).select_from(Organisation)) or 0


# ------------------------------------------------------------------ item 4: partial headers


def test_a_subset_of_columns_updates_those_columns_only(session: Session, tmp_path: Path) -> None:
    _import(session, tmp_path, FULL)
    before = _stored(session, "974760673")
    report = _import(session, tmp_path, "orgnr,name,sector\n974760673,Bergen kommune,state\n")
    assert report.written == Upserted(created=0, updated=1, unchanged=0)  # type: ignore[attr-defined]
    assert _stored(session, "974760673") == ("Bergen kommune", "state", *before[2:])
    assert session.scalar(select(func.count()).select_from(Asset)) == 3  # domains kept

    report = _import(session, tmp_path, "orgnr,name\n974760673,Bergen kommune\n")
    assert report.written == Upserted(created=0, updated=0, unchanged=1)  # type: ignore[attr-defined]
    assert _stored(session, "974760673") == ("Bergen kommune", "state", *before[2:])


def test_a_municipality_brings_its_county_and_an_empty_domains_cell_keeps_the_primary(
    session: Session, tmp_path: Path
) -> None:
    _import(session, tmp_path, FULL)
    _import(session, tmp_path, "orgnr,name,municipality,domains\n300791905,Vestland,4602,\n")
    assert _stored(session, "300791905") == ("Vestland", "county", "46", "4602", "vestland.test")
    _import(session, tmp_path, "orgnr,name,municipality\n300791905,Vestland,0301\n")
    assert _stored(session, "300791905")[2:4] == ("03", "0301")


def test_a_county_without_its_municipality_must_agree_with_the_one_stored(
    session: Session, tmp_path: Path
) -> None:
    _import(session, tmp_path, FULL)
    report = _import(
        session,
        tmp_path,
        "orgnr,name,county\n300791905,Vestland fylkeskommune,50\n974760673,Bergen kommune,03\n",
    )
    assert not report.committed  # type: ignore[attr-defined]
    assert [(p.line, p.reason) for p in report.errors] == [  # type: ignore[attr-defined]
        (3, "county 03 is not the county of the stored municipality 4601: give the "
            "municipality too"),
    ]  # fmt: skip
    assert _stored(session, "300791905")[2] == "46"  # all or nothing: line 2 not written


# ------------------------------------------------------------------ item 5: strict parsing


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        pytest.param(  # the quote on line 3 swallows the rows after it into one name
            FULL + '300000002,"Lost body,state,03,0301,\n300807739,Next,state,03,0301,\n',
            r"orgs.csv, line 4: a quote \(\"\) opened in this row is not closed",
            id="unterminated quote",
        ),
        pytest.param(
            FULL + '300000002,"Odd" body,state,03,0301,\n',
            r"line 4: a quote",
            id="text after a closing quote",
        ),
        pytest.param(
            FULL + "300000002," + "x" * 131_073 + ",state,03,0301,\n",
            r"line 4: a field is longer than 131072 characters",
            id="131 KB field",
        ),
        pytest.param(
            FULL.encode() + "300000002,Bærum kommune,,,,\n".encode("latin-1"),
            r"line 4: not UTF-8 text \(byte \d+\): save it as UTF-8 CSV",
            id="Latin-1",
        ),
        pytest.param(
            "orgnr|name|sector\n974760673|Bergen|state\n",
            r"line 1: unknown columns orgnr\|name\|sector; expected .*separated by commas, "
            r"semicolons or tabs",
            id="unknown delimiter",
        ),
    ],
)
def test_a_file_that_is_not_clean_csv_is_refused_with_its_line(
    session: Session, tmp_path: Path, text: str | bytes, expected: str
) -> None:
    with pytest.raises(ConfigError, match=expected) as refused:
        _import(session, tmp_path, text)
    assert "nothing was imported" in str(refused.value)
    session.rollback()
    assert _count(session) == 0


def test_a_quote_closed_lines_later_is_a_bad_row_not_a_name(
    session: Session, tmp_path: Path
) -> None:
    text = FULL + '300000002,"Lost body,state,03,0301,\n300807739,Next",state,03,0301,\n'
    report = _import(session, tmp_path, text)
    assert not report.committed and _count(session) == 0  # type: ignore[attr-defined]
    assert [(p.line, p.reason) for p in report.errors] == [  # type: ignore[attr-defined]
        (4, 'a field runs over several lines: a quote (") left open?'),
    ]


def test_semicolons_are_read_and_a_row_with_the_other_delimiter_is_named(
    session: Session, tmp_path: Path
) -> None:
    report = _import(session, tmp_path, FULL.replace(",", ";"))
    assert report.committed and _count(session) == 2  # type: ignore[attr-defined]
    assert _stored(session, "974760673")[:4] == ("Bergen kommune", "municipal", "46", "4601")

    report = _import(session, tmp_path, FULL + "300807739;Next;state;03;0301;next.test\n")
    assert not report.committed  # type: ignore[attr-defined]
    assert [(p.line, p.reason) for p in report.errors] == [  # type: ignore[attr-defined]
        (4, "has 1 fields, the header 6 (separated by semicolons? the header is by commas)")
    ]


# ------------------------------------------------------------------ item 9: text that fits


@pytest.mark.parametrize(
    ("name", "reason"),
    [
        ("x" * 100_000, "organisation.name (300000002): 100000 characters, at most 300"),
        ("Nul\x00kommune", "the control character U+0000 is refused"),
        ("\x1b[2J\x1b[31mESC kommune", "the control character U+001B is refused"),
        ("Bidi \u202elive\u202c kommune", "the control character U+202E is refused"),
    ],
)
def test_names_that_would_not_fit_postgresql_or_a_terminal_are_refused(
    session: Session, tmp_path: Path, name: str, reason: str
) -> None:
    report = _import(session, tmp_path, FULL + f'300000002,"{name}",state,03,0301,\n')
    assert not report.committed and _count(session) == 0  # type: ignore[attr-defined]
    [error] = report.errors  # type: ignore[attr-defined]
    assert error.line == 4 and reason in error.reason


def test_a_sector_too_long_for_its_column_is_refused(session: Session, tmp_path: Path) -> None:
    report = _import(session, tmp_path, FULL + "300000002,Body," + "s" * 33 + ",03,0301,\n")
    assert [p.reason for p in report.errors] == [  # type: ignore[attr-defined]
        "organisation.sector (300000002): 33 characters, at most 32"
    ]


def test_a_manifest_with_a_hostile_name_is_refused_before_anything_is_written(
    session: Session,
) -> None:
    manifest = load_scenario("demo")
    first = manifest.organisations[0].model_copy(update={"name": "Demo\x1b]0;owned\x07"})
    hostile = manifest.model_copy(update={"organisations": (first, *manifest.organisations[1:])})
    with pytest.raises(ConfigError, match=r"organisation.name \(\d{9}\): the control character"):
        upsert_organisations(session, records_from_manifest(hostile), "lab:demo", T0)
    session.rollback()
    assert _count(session) == 0
