"""The national view's tables: what /nasjonalt shows, in the order shown, and its downloads.

Four tables: the counties, the sectors, the municipalities (of the chosen county) and the
organisations (of the chosen county, municipality or sector: the drill-down). Each is a
tuple of rows built once per request and sorted by `?sort=<table>:<column>:<asc|desc>`
(one table at a time; the others keep their default order). The page renders those rows;
the downloads (`area_records` and `organisation_records`, written by `as_csv` or
`as_json`) write the same rows, so a download holds exactly what is on screen under the
same filter and sort, with every page of a long list.

Names sort in the page's language (`web.collation`): the English sector table is in
English alphabetical order. A column without a value (an area without rated organisations,
an organisation without an earlier rating) sorts last either way.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal, TypeVar

from utsyn.geo import counties, municipalities
from utsyn.i18n import SECTOR_NAMES, Language
from utsyn.portfolio.aggregate import Area, Summary
from utsyn.portfolio.drilldown import Activity, OrgRow
from utsyn.rules.weights import GRADE_ORDER
from utsyn.web.collation import sort_key
from utsyn.web.i18n import N_

Table = Literal["counties", "sectors", "municipalities", "organisations"]
TABLES: tuple[Table, ...] = ("counties", "sectors", "municipalities", "organisations")
AREA_COLUMNS = ("name", "orgs", "average", "grade")
ORG_COLUMNS = ("name", "grade", "score", "change", "scanned", "status")
COLUMNS: dict[Table, tuple[str, ...]] = {
    "counties": AREA_COLUMNS,
    "sectors": AREA_COLUMNS,
    "municipalities": AREA_COLUMNS,
    "organisations": ORG_COLUMNS,
}
# Counties keep their official (number) order unless sorted: the order Norwegians know.
DEFAULT_SORT: dict[Table, tuple[str, bool] | None] = {
    "counties": None,
    "sectors": ("name", False),
    "municipalities": ("name", False),
    "organisations": ("score", False),  # the weakest first: what a CERT looks at first
}
ACTIVITY_NAMES = {
    Activity.ACTIVE: N_("Active: scanned and answering"),
    Activity.NOT_SCANNED: N_("Inactive: not scanned recently"),
    Activity.NO_HOST: N_("Inactive: no host answering"),
}
AREA_RECORD_KEYS = ("key", "name", "organisations", "average", "grade")
ORG_RECORD_KEYS = (
    "orgnr",
    "organisation",
    "sector",
    "county",
    "municipality",
    "grade",
    "score",
    "change",
    "previous_rating",
    "last_scanned",
    "active",
    "status",
)
RECORD_KEYS: dict[Table, tuple[str, ...]] = {
    "counties": AREA_RECORD_KEYS,
    "sectors": AREA_RECORD_KEYS,
    "municipalities": AREA_RECORD_KEYS,
    "organisations": ORG_RECORD_KEYS,
}
UNKNOWN_AREA = N_("Unknown")
R = TypeVar("R")


@dataclass(frozen=True)
class Sort:
    table: Table
    column: str
    descending: bool

    @property
    def param(self) -> str:
        return f"{self.table}:{self.column}:{'desc' if self.descending else 'asc'}"


def parse_sort(value: str | None) -> Sort | None:
    """`counties:average:desc` as a Sort; None for no value; ValueError for a bad one."""
    if not value:
        return None
    table, _, rest = value.partition(":")
    column, _, direction = rest.partition(":")
    if table not in TABLES or direction not in ("asc", "desc"):
        raise ValueError(value)
    known: Table = table
    if column not in COLUMNS[known]:
        raise ValueError(value)
    return Sort(known, column, direction == "desc")


def sort_of(table: Table, chosen: Sort | None) -> Sort | None:
    """The table's order: the chosen one if it is this table's, else its default."""
    if chosen is not None and chosen.table == table:
        return chosen
    default = DEFAULT_SORT[table]
    return Sort(table, default[0], default[1]) if default else None


# ---------------------------------------------------------------- areas


@dataclass(frozen=True)
class AreaRow:
    """A county, sector or municipality: its figures are None without rated organisations."""

    key: str  # county or municipality number, sector key; '' when unknown
    name: str
    summary: Summary | None

    @property
    def orgs(self) -> int:
        return self.summary.orgs if self.summary else 0

    @property
    def average(self) -> float | None:
        return self.summary.average if self.summary else None

    @property
    def grade(self) -> str | None:
        return self.summary.grade if self.summary else None


def county_rows(areas: Iterable[Area], _: Callable[..., str]) -> tuple[AreaRow, ...]:
    """Every county (with or without organisations) by number; unknown county last if any."""
    by_key = {a.key: a.summary for a in areas}
    rows = [AreaRow(k, name, by_key.get(k)) for k, name in sorted(counties().items())]
    if "" in by_key:
        rows.append(AreaRow("", _(UNKNOWN_AREA), by_key[""]))
    return tuple(rows)


def sector_rows(areas: Iterable[Area], _: Callable[..., str]) -> tuple[AreaRow, ...]:
    return tuple(AreaRow(a.key, _(SECTOR_NAMES.get(a.key, UNKNOWN_AREA)), a.summary) for a in areas)


def municipality_rows(areas: Iterable[Area], _: Callable[..., str]) -> tuple[AreaRow, ...]:
    names = municipalities()
    return tuple(AreaRow(a.key, names.get(a.key) or _(UNKNOWN_AREA), a.summary) for a in areas)


def sort_areas(rows: Sequence[AreaRow], order: Sort | None, lang: Language) -> tuple[AreaRow, ...]:
    if order is None:
        return tuple(rows)
    grade_rank: dict[str, int] = {g: i for i, g in enumerate(GRADE_ORDER)}
    keys: dict[str, Callable[[AreaRow], Any]] = {
        "name": lambda r: sort_key(r.name, lang),
        "orgs": lambda r: r.orgs,
        "average": lambda r: r.average,
        # A grade is the average's band: within a grade, the better average first.
        "grade": lambda r: None if r.grade is None else (grade_rank[r.grade], -(r.average or 0)),
    }
    return _sorted(rows, keys[order.column], order.descending, lambda r: sort_key(r.name, lang))


# ---------------------------------------------------------------- organisations


def sort_organisations(
    rows: Sequence[OrgRow], order: Sort | None, lang: Language
) -> tuple[OrgRow, ...]:
    if order is None:
        return tuple(rows)
    grade_rank: dict[str, int] = {g: i for i, g in enumerate(GRADE_ORDER)}
    activity_rank = {a: i for i, a in enumerate(Activity)}
    keys: dict[str, Callable[[OrgRow], Any]] = {
        "name": lambda r: sort_key(r.name, lang),
        "grade": lambda r: (grade_rank.get(r.grade, len(grade_rank)), -r.score),
        "score": lambda r: r.score,
        "change": lambda r: r.change,
        "scanned": lambda r: r.scanned,
        "status": lambda r: activity_rank[r.activity],
    }
    return _sorted(rows, keys[order.column], order.descending, lambda r: sort_key(r.name, lang))


def _sorted(
    rows: Sequence[R], key: Callable[[R], Any], descending: bool, then: Callable[[R], Any]
) -> tuple[R, ...]:
    """By `key` (None last, whatever the direction), ties by `then` ascending."""
    present = [r for r in rows if key(r) is not None]
    missing = [r for r in rows if key(r) is None]
    ordered = sorted(sorted(present, key=then), key=key, reverse=descending)
    return (*ordered, *sorted(missing, key=then))


# ---------------------------------------------------------------- downloads


def area_records(rows: Iterable[AreaRow]) -> list[dict[str, Any]]:
    return [
        {
            "key": r.key,
            "name": r.name,
            "organisations": r.orgs,
            "average": _tenth(r.average),
            "grade": r.grade or "",
        }
        for r in rows
    ]


def organisation_records(rows: Iterable[OrgRow], _: Callable[..., str]) -> list[dict[str, Any]]:
    county_names, municipality_names = counties(), municipalities()
    return [
        {
            "orgnr": r.orgnr,
            "organisation": r.name,
            "sector": _(SECTOR_NAMES[r.sector]) if r.sector in SECTOR_NAMES else r.sector,
            "county": county_names.get(r.county, r.county),
            "municipality": municipality_names.get(r.municipality, r.municipality),
            "grade": r.grade,
            "score": _tenth(r.score),
            "change": _tenth(r.change),
            "previous_rating": r.previous_day.isoformat() if r.previous_day else None,
            "last_scanned": r.scanned.isoformat() if r.scanned else None,
            "active": r.activity.active,
            "status": _(ACTIVITY_NAMES[r.activity]),
        }
        for r in rows
    ]


def as_csv(records: Sequence[Mapping[str, Any]], columns: Sequence[str]) -> str:
    """RFC 4180 CSV with a header of the record keys; no value is a formula (names are
    registry data, but a spreadsheet must never run a cell)."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(columns)
    for record in records:
        writer.writerow([_cell(record[c]) for c in columns])
    return out.getvalue()


def as_json(
    records: Sequence[Mapping[str, Any]], table: Table, about: Mapping[str, Any], now: datetime
) -> str:
    body = {"table": table, **about, "exported_at": now.isoformat(), "rows": list(records)}
    return json.dumps(body, ensure_ascii=False, indent=1) + "\n"


def _cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str) and value.startswith(("=", "+", "-", "@", "\t", "\r")):
        return "'" + value
    return str(value)


def _tenth(value: float | None) -> float | None:
    # A tenth is what the page shows.
    return round(value, 1) if value is not None else None
