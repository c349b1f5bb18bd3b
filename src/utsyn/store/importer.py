"""Import organisations from CSV: all or nothing per file, with a line-numbered report.

Two formats, told apart by their header:
- Enhetsregisteret-style (the 2021 list shipped in `utsyn/data/orgs/`):
  `entityName,homepage,orgForm,orgDescr,municipality,orgNumber`. Its municipality is a
  2021 *name*; it is mapped to a 2024 number through `utsyn.geo` where the name is
  unambiguous (the county follows from the number). Names that are gone, shared by two
  municipalities (Herøy, Våler) or blank are flagged and imported without a place.
- Native: `orgnr,name` and any of `sector,county,municipality,domains` (domains separated
  by spaces or semicolons; the first is the primary website), with 2024 numbers. A column
  the file leaves out is left as it is for the organisations already stored: a file of
  `orgnr,name,sector` sets sectors and nothing else. A municipality brings its county; a
  county given without the municipality must agree with the municipality stored.

The file is UTF-8 CSV, its columns separated by commas, semicolons (as spreadsheets with a
Norwegian locale save it) or tabs, told by the header line. It is read strictly: a quote
left open, a field beyond the CSV reader's limit or text that is not UTF-8 stops the import
with the line it happened on, before anything is written. Names and other text must fit
their columns and hold no control characters (`store.fields`).

An *error* rejects the whole file (nothing is written): a bad organisation number (mod
11), a missing name, an unknown municipality or county number, a county that disagrees with
the municipality (given or stored), a malformed domain in the native format, one
organisation number given twice with different data, text too long for its column or
holding a control character, a field that runs over several lines (a quote left open). A
*flag* is imported and listed for a human to fix: an unmapped 2021 name, a pre-2024 county
(Viken, Vestfold og Telemark, Troms og Finnmark) mapped through the municipality or left
empty, a homepage that is a path on another body's domain (marked shared) or not a domain
name at all. Re-importing a file changes nothing (upsert by orgnr).
"""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

from sqlalchemy import select
from sqlalchemy.orm import Session

from utsyn import geo
from utsyn.errors import ConfigError
from utsyn.i18n import N_
from utsyn.orgnr import is_valid_orgnr
from utsyn.store.models import Organisation
from utsyn.store.orgs import (
    OPTIONAL_COLUMNS,
    OrgRecord,
    Upserted,
    check_record,
    upsert_organisations,
)

ENHET_COLUMNS = ("entityName", "homepage", "orgForm", "orgDescr", "municipality", "orgNumber")
NATIVE_COLUMNS = ("orgnr", "name", "sector", "county", "municipality", "domains")
DELIMITERS = {",": "commas", ";": "semicolons", "\t": "tabs"}
# A row that would fit the header with another delimiter says so (other, the header's).
_FIELDS_HINTED = {
    (";", ","): N_(
        "has %(fields)s fields, the header %(header)s "
        "(separated by semicolons? the header is by commas)"
    ),
    ("\t", ","): N_(
        "has %(fields)s fields, the header %(header)s (separated by tabs? the header is by commas)"
    ),
    (",", ";"): N_(
        "has %(fields)s fields, the header %(header)s "
        "(separated by commas? the header is by semicolons)"
    ),
    ("\t", ";"): N_(
        "has %(fields)s fields, the header %(header)s "
        "(separated by tabs? the header is by semicolons)"
    ),
    (",", "\t"): N_(
        "has %(fields)s fields, the header %(header)s (separated by commas? the header is by tabs)"
    ),
    (";", "\t"): N_(
        "has %(fields)s fields, the header %(header)s "
        "(separated by semicolons? the header is by tabs)"
    ),
}
_CHUNK = 1000

# Counties merged in 2020 and split again in 2024: their numbers and names no longer exist.
PRE_2024_COUNTIES = {
    "30": ("Viken", ("31", "32", "33")),
    "38": ("Vestfold og Telemark", ("39", "40")),
    "54": ("Troms og Finnmark", ("55", "56")),
}

# Enhetsregisteret organisation forms → a coarse sector for the national views. ORGL
# (organisasjonsledd), ANNA and SÆR are used by state and municipal bodies alike: "other".
SECTOR_BY_FORM = {
    "STAT": "state",
    "SF": "state",
    "ADOS": "state",
    "FYLK": "county",
    "FKF": "county",
    "KOMM": "municipal",
    "KF": "municipal",
    "IKS": "municipal",
}

_DOMAIN = re.compile(r"^(?=.{1,253}$)([a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z]{2,63}$")


@dataclass(frozen=True)
class RowProblem:
    """What is wrong with a row: a message id (English, `%(name)s` placeholders) and its
    values, translated where shown (`utsyn orgs import`); `reason` is the English."""

    line: int
    orgnr: str
    message: str
    values: dict[str, object] = field(default_factory=dict)

    @property
    def reason(self) -> str:
        return self.message % self.values if self.values else self.message

    def __str__(self) -> str:
        return f"line {self.line}: {self.orgnr or '(no orgnr)'}: {self.reason}"


@dataclass
class ImportReport:
    source: str
    format: str
    rows: int = 0
    errors: list[RowProblem] = field(default_factory=list)
    flags: list[RowProblem] = field(default_factory=list)
    written: Upserted | None = None  # None: the file was rejected, nothing was written

    @property
    def committed(self) -> bool:
        return self.written is not None

    @property
    def flagged_rows(self) -> int:
        return len({p.line for p in self.flags})

    @property
    def clean_rows(self) -> int:
        return self.rows - len({p.line for p in self.errors + self.flags})


@dataclass
class _Parsed:
    report: ImportReport
    columns: frozenset[str]  # of OPTIONAL_COLUMNS: what the file gives besides orgnr and name
    records: dict[str, tuple[int, OrgRecord]] = field(default_factory=dict)

    def error(self, line: int, orgnr: str, message: str, /, **values: object) -> None:
        self.report.errors.append(RowProblem(line, orgnr, message, values))

    def flag(self, line: int, orgnr: str, message: str, /, **values: object) -> None:
        self.report.flags.append(RowProblem(line, orgnr, message, values))

    def add(self, line: int, record: OrgRecord) -> None:
        try:
            check_record(record)
        except ConfigError as exc:
            self.error(line, record.orgnr, exc.message, **exc.values)
            return
        earlier = self.records.get(record.orgnr)
        if earlier is None:
            self.records[record.orgnr] = (line, record)
        elif earlier[1] == record:
            self.flag(
                line,
                record.orgnr,
                N_("repeats line %(earlier)s; imported once"),
                earlier=earlier[0],
            )
        else:
            self.error(
                line,
                record.orgnr,
                N_("differs from line %(earlier)s (same orgnr)"),
                earlier=earlier[0],
            )


def import_organisations(
    session: Session, path: Path, now: datetime, source: str | None = None
) -> ImportReport:
    """Parse the whole file, then write it in one transaction only if no row has an error."""
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise ConfigError(
            "%(file)s: cannot read (%(reason)s)", file=str(path), reason=exc.strerror
        ) from exc
    parsed = parse_organisations(_decoded(data, str(path)), str(path))
    if not parsed.report.errors:
        _check_stored_places(session, parsed)
    if not parsed.report.errors:
        records = [record for _line, record in parsed.records.values()]
        label = source or f"import:{path.name}"
        parsed.report.written = upsert_organisations(session, records, label, now, parsed.columns)
    return parsed.report


def _decoded(data: bytes, name: str) -> str:
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise ConfigError(
            "%(file)s, line %(line)s: not UTF-8 text (byte %(byte)s): save it as UTF-8 CSV; "
            "nothing was imported",
            file=name,
            line=data[: exc.start].count(b"\n") + 1,
            byte=exc.start,
        ) from exc


def parse_organisations(text: str, name: str) -> _Parsed:
    delimiter, header, kind = _header(text.partition("\n")[0], name)
    given = OPTIONAL_COLUMNS if kind == "enhetsregisteret" else header  # every field, or these
    parsed = _Parsed(ImportReport(name, kind), frozenset(given) & set(OPTIONAL_COLUMNS))
    parse_row = _enhet_row if kind == "enhetsregisteret" else _native_row
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter, strict=True)
    line = 1  # the line the record being read begins on
    try:
        next(reader)  # the header, read above
        line = reader.line_num + 1
        for fields in reader:
            start, line = line, reader.line_num + 1
            if fields:
                parsed.report.rows += 1
                _record(parsed, start, header, fields, delimiter, parse_row)
    except csv.Error as exc:
        raise _csv_error(name, line, str(exc)) from exc
    return parsed


def _header(first: str, name: str) -> tuple[str, tuple[str, ...], str]:
    """The delimiter, the columns and the format that the header line names."""
    for delimiter in DELIMITERS:
        header = tuple(h.strip() for h in next(csv.reader([first], delimiter=delimiter), []))
        if len(set(header)) != len(header):
            continue
        if set(ENHET_COLUMNS) <= set(header):
            return delimiter, header, "enhetsregisteret"
        if {"orgnr", "name"} <= set(header) and set(header) <= set(NATIVE_COLUMNS):
            return delimiter, header, "native"
    raise ConfigError(
        "%(file)s, line 1: unknown columns %(columns)s; expected %(enhet)s or orgnr,name and "
        "any of %(native)s, separated by commas, semicolons or tabs; nothing was imported",
        file=name,
        columns=first.strip()[:200],
        enhet=",".join(ENHET_COLUMNS),
        native=",".join(NATIVE_COLUMNS[2:]),
    )


def _csv_error(name: str, line: int, problem: str) -> ConfigError:
    """The CSV reader's complaint as an error a user can act on (the record's first line)."""
    if problem.startswith("field larger than field limit"):
        return ConfigError(
            "%(file)s, line %(line)s: a field is longer than %(limit)s characters; "
            "nothing was imported",
            file=name,
            line=line,
            limit=csv.field_size_limit(),
        )
    if problem == "unexpected end of data" or "expected after '\"'" in problem:
        return ConfigError(
            '%(file)s, line %(line)s: a quote (") opened in this row is not closed where its '
            "field ends; nothing was imported",
            file=name,
            line=line,
        )
    return ConfigError(
        "%(file)s, line %(line)s: not valid CSV (%(problem)s); nothing was imported",
        file=name,
        line=line,
        problem=problem,
    )


def _record(
    parsed: _Parsed,
    line: int,
    header: tuple[str, ...],
    fields: list[str],
    delimiter: str,
    parse_row: Callable[[_Parsed, int, dict[str, str]], None],
) -> None:
    if len(fields) != len(header):
        joined = delimiter.join(fields)
        hinted = (o for o in DELIMITERS if o != delimiter and len(joined.split(o)) == len(header))
        other = next(hinted, None)
        message = (
            _FIELDS_HINTED[other, delimiter]
            if other
            else N_("has %(fields)s fields, the header %(header)s")
        )
        parsed.error(line, "", message, fields=len(fields), header=len(header))
        return
    if any("\n" in f or "\r" in f for f in fields):
        parsed.error(line, "", N_('a field runs over several lines: a quote (") left open?'))
        return
    parse_row(parsed, line, dict(zip(header, (f.strip() for f in fields), strict=True)))


def _check_stored_places(session: Session, parsed: _Parsed) -> None:
    """A county given without its municipality must agree with the municipality stored."""
    if "county" not in parsed.columns or "municipality" in parsed.columns:
        return
    orgnrs = list(parsed.records)
    stored: dict[str, str | None] = {}
    for start in range(0, len(orgnrs), _CHUNK):
        query = select(Organisation.orgnr, Organisation.municipality).where(
            Organisation.orgnr.in_(orgnrs[start : start + _CHUNK]),
            Organisation.municipality.is_not(None),
        )
        stored.update((orgnr, place) for orgnr, place in session.execute(query))
    for line, record in parsed.records.values():
        municipality = stored.get(record.orgnr)
        if municipality is not None and record.county != municipality[:2]:
            parsed.error(
                line,
                record.orgnr,
                N_(
                    "county %(county)s is not the county of the stored municipality "
                    "%(municipality)s: give the municipality too"
                ),
                county=record.county or "-",
                municipality=municipality,
            )


def _enhet_row(parsed: _Parsed, line: int, row: dict[str, str]) -> None:
    orgnr = row["orgNumber"]
    if not _check_identity(parsed, line, orgnr, row["entityName"]):
        return
    municipality = _municipality_by_name(parsed, line, orgnr, row["municipality"])
    domain, shared = _homepage(parsed, line, orgnr, row["homepage"])
    form = row["orgForm"] or None
    record = OrgRecord(
        orgnr=orgnr,
        name=row["entityName"],
        org_form=form,
        sector=SECTOR_BY_FORM.get(form or "", "other"),
        county=municipality[:2] if municipality else None,
        municipality=municipality,
        domains=(domain,) if domain else (),
        shared_domains=frozenset({domain}) if domain and shared else frozenset(),
    )
    parsed.add(line, record)


def _native_row(parsed: _Parsed, line: int, row: dict[str, str]) -> None:
    orgnr = row["orgnr"]
    if not _check_identity(parsed, line, orgnr, row["name"]):
        return
    errors_before = len(parsed.report.errors)
    municipality = row.get("municipality") or None
    if municipality is not None and municipality not in geo.municipalities():
        _unknown_municipality(parsed, line, orgnr, municipality)
    county = _county(parsed, line, orgnr, row.get("county") or None, municipality)
    domains = tuple(d.lower().rstrip(".") for d in re.split(r"[\s;]+", row.get("domains", "")) if d)
    for domain in domains:
        if not _DOMAIN.match(domain):
            parsed.error(line, orgnr, N_("%(domain)r is not a domain name"), domain=domain)
    if len(parsed.report.errors) == errors_before:
        record = OrgRecord(
            orgnr=orgnr,
            name=row["name"],
            sector=row.get("sector") or None,
            county=county,
            municipality=municipality,
            domains=domains,
        )
        parsed.add(line, record)


def _check_identity(parsed: _Parsed, line: int, orgnr: str, name: str) -> bool:
    if not is_valid_orgnr(orgnr):
        if len(orgnr) == 9 and orgnr.isdigit():
            parsed.error(line, orgnr, N_("invalid organisation number (bad mod-11)"))
        else:
            parsed.error(line, orgnr, N_("invalid organisation number (not nine digits)"))
        return False
    if not name:
        parsed.error(line, orgnr, N_("has no name"))
        return False
    return True


def _unknown_municipality(parsed: _Parsed, line: int, orgnr: str, number: str) -> None:
    old = PRE_2024_COUNTIES.get(number[:2])
    if old is not None:
        parsed.error(
            line,
            orgnr,
            N_("municipality %(number)s is a pre-2024 number in %(county)s: give the 2024 number"),
            number=number,
            county=old[0],
        )
    else:
        parsed.error(
            line, orgnr, N_("unknown municipality number %(number)r (2024 numbers)"), number=number
        )


def _county(
    parsed: _Parsed, line: int, orgnr: str, county: str | None, municipality: str | None
) -> str | None:
    """The 2024 county: given, or mapped from the municipality when the given one is gone."""
    implied = municipality[:2] if municipality in geo.municipalities() else None
    if county is None:
        return implied
    county = _county_number(county)
    if county in PRE_2024_COUNTIES:
        old_name, successors = PRE_2024_COUNTIES[county]
        if implied in successors:
            message = N_("pre-2024 county %(county)s mapped to %(implied)s")
            parsed.flag(line, orgnr, message, county=old_name, implied=implied)
            return implied
        message = N_("pre-2024 county %(county)s: county left empty (no municipality)")
        parsed.flag(line, orgnr, message, county=old_name)
        return None
    if county not in geo.counties():
        parsed.error(line, orgnr, N_("unknown county %(county)r (2024 numbers)"), county=county)
        return None
    if implied is not None and implied != county:
        message = N_("municipality %(municipality)s is not in county %(county)s")
        parsed.error(line, orgnr, message, municipality=municipality, county=county)
    return county


def _county_number(value: str) -> str:
    """A county given by name (2024 or pre-2024) becomes its number; numbers pass."""
    by_name = {name.casefold(): number for number, name in geo.counties().items()}
    by_name |= {name.casefold(): number for number, (name, _) in PRE_2024_COUNTIES.items()}
    return by_name.get(value.casefold(), value.zfill(2) if value.isdigit() else value)


def _municipality_by_name(parsed: _Parsed, line: int, orgnr: str, name: str) -> str | None:
    if not name:
        parsed.flag(line, orgnr, N_("no municipality given: imported without a place"))
        return None
    numbers = _municipality_names().get(name.casefold(), [])
    if len(numbers) == 1:
        return numbers[0]
    if numbers:
        message = N_("municipality %(name)r is ambiguous (%(numbers)s): left empty")
        parsed.flag(line, orgnr, message, name=name, numbers=" / ".join(numbers))
    else:
        message = N_("municipality %(name)r has no 2024 number: left empty")
        parsed.flag(line, orgnr, message, name=name)
    return None


def _municipality_names() -> dict[str, list[str]]:
    """Every name of every 2024 municipality (Norwegian and Sami) → its numbers."""
    names: dict[str, list[str]] = {}
    for number, full in geo.municipalities().items():
        for part in full.split(" - "):
            names.setdefault(part.strip().casefold(), []).append(number)
    return names


def _homepage(parsed: _Parsed, line: int, orgnr: str, homepage: str) -> tuple[str | None, bool]:
    """The homepage's domain (without "www."), and whether it is shared with another body."""
    text = re.sub(r"^[a-z]+://", "", homepage.strip().lower())
    host, _, path = text.partition("/")
    host = host.rstrip(".")
    if not host:
        return None, False
    host = host.removeprefix("www.")
    if not _DOMAIN.match(host):
        message = N_("homepage %(homepage)r is not a domain name: no domain")
        parsed.flag(line, orgnr, message, homepage=homepage)
        return None, False
    if path.strip("/"):
        message = N_("homepage %(homepage)r is a path on %(host)s: marked shared")
        parsed.flag(line, orgnr, message, homepage=homepage, host=host)
        return host, True
    return host, False
