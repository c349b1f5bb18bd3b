"""Synthetic national data at scale, for the aggregation benchmark and tests.

What is generated, for N organisations (default one million):
- `organisation`: fictional numbers (starting with 3, like `orgnr.make_orgnr`), sectors in
  the lab generator's proportions, municipalities from the 2024 list under a skewed weight
  (1 / rank, in a seeded order: a few large, most small; not population figures), each in
  its own county; one in a hundred has no known sector, county or municipality.
- `asset`: one domain per organisation, verified for `active_share` of them (active).
- `score_snapshot` and `org_latest`: one rating per organisation, on the last day: 10–30
  findings drawn from the rulebook (info and low often, critical rarely), which come to
  about 16 distinct rules, scored with the rating model's formula (points × √share, one
  decimal rounded down, grade caps). No `finding` rows: the aggregations never read them.
- the counts: rebuilt from `org_latest` in SQL (`store.rescore.rebuild_counts`).
- the daily rollups for `days` days: the last day is the snapshots themselves; earlier days
  are the same cells with each organisation a little worse the further back (scores rose
  about three points over the year, with day-to-day noise). No history snapshots: a year of
  them would be 365 million rows that the national views never read.
- a portfolio of `portfolio_size` random organisations, owned by a synthetic user.

PostgreSQL is loaded with COPY, SQLite with executemany.
"""

from __future__ import annotations

import itertools
import json
import math
import random
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

from sqlalchemy import Connection, Engine, func, select, text

from utsyn.geo import municipalities
from utsyn.lab.generate import SECTOR_WEIGHTS  # the same proportions as the lab's
from utsyn.orgnr import check_digit
from utsyn.rating.model import grade_for, worst
from utsyn.rules.rulebook import Rulebook, load_rulebook
from utsyn.store.db import session_factory
from utsyn.store.models import Organisation
from utsyn.store.rescore import rebuild_counts
from utsyn.store.rollup import tenths

# How often a rule of each severity is drawn: scans find informational issues far more often.
SEVERITY_DRAWS = {"info": 6.0, "low": 4.0, "medium": 2.0, "high": 0.6, "critical": 0.1}
UNKNOWN_SHARE = 0.01
YEARLY_RISE = 3.0  # points the average rose over the synthetic year
CHUNK = 20_000


@dataclass(frozen=True)
class Spec:
    orgs: int = 1_000_000
    seed: int = 1
    days: int = 365
    last_day: date = date(2026, 11, 1)
    portfolio_size: int = 1000
    active_share: float = 0.7


@dataclass(frozen=True)
class Loaded:
    orgs: int
    day_rows: int
    portfolio_id: int
    portfolio_members: int


@dataclass(frozen=True)
class Org:
    id: int
    orgnr: str
    sector: str | None
    county: str | None
    municipality: str | None
    active: bool
    score: float
    grade: str
    factors: dict[str, float]
    penalties: dict[str, float]


def load(engine: Engine, spec: Spec = Spec()) -> Loaded:
    """Fill an empty, migrated database with `spec`'s organisations, ratings and history."""
    with engine.begin() as connection:
        if connection.scalar(select(func.count()).select_from(Organisation)):
            raise ValueError("synthetic data goes into an empty database only")
        cells = _load_orgs(connection, spec)
        day_rows = _load_days(connection, spec, cells)
        portfolio_id, members = _load_portfolio(connection, spec)
        _reset_sequences(connection)
    with session_factory(engine)() as session, session.begin():
        rebuild_counts(session)
    return Loaded(spec.orgs, day_rows, portfolio_id, members)


# ------------------------------------------------------------------ organisations


Cell = tuple[str, str, str, str]  # version, sector, county, municipality
Cells = dict[Cell, list[int]]  # → [organisations, score tenths] on the last day


def _load_orgs(connection: Connection, spec: Spec) -> Cells:
    book = load_rulebook()
    draw = _Draw(spec, book)
    saved = datetime.combine(spec.last_day, time(3), UTC)
    cells: Cells = {}
    orgs = draw.orgs()
    while chunk := list(itertools.islice(orgs, CHUNK)):
        _write(connection, "organisation", ORG_COLUMNS, [_org_row(o, saved) for o in chunk])
        _write(connection, "asset", ASSET_COLUMNS, [_asset_row(o, saved) for o in chunk])
        rows = [_snapshot_row(o, book, spec.last_day, saved) for o in chunk]
        _write(connection, "score_snapshot", SNAPSHOT_COLUMNS, rows)
        rows = [_latest_row(o, book, spec.last_day, saved) for o in chunk]
        _write(connection, "org_latest", LATEST_COLUMNS, rows)
        for o in chunk:
            cell = (book.version, o.sector or "", o.county or "", o.municipality or "")
            counts = cells.setdefault(cell, [0, 0])
            counts[0] += 1
            counts[1] += tenths(o.score)
    return cells


class _Draw:
    """Seeded draws of organisations and their ratings."""

    def __init__(self, spec: Spec, book: Rulebook) -> None:
        self.spec = spec
        self.book = book
        self.rng = random.Random(spec.seed)
        self.sectors = [str(s) for s, _ in SECTOR_WEIGHTS]
        self.sector_cum = list(itertools.accumulate(w for _, w in SECTOR_WEIGHTS))
        places = sorted(_places().items())
        self.rng.shuffle(places)
        self.places = places
        self.place_cum = list(itertools.accumulate(1 / (rank + 1) for rank in range(len(places))))
        self.rules = [r.id for r in book.rules]
        draws = (SEVERITY_DRAWS[str(r.severity)] for r in book.rules)
        self.rule_cum = list(itertools.accumulate(draws))
        # Rulebook lookups are slow next to a draw: what a rating needs, once per rule.
        self.terms = {
            r.id: (r.points, str(r.factor), r.cap.grade if r.cap else None) for r in book.rules
        }
        self.factors = sorted({str(r.factor) for r in book.rules})

    def orgs(self) -> Iterator[Org]:
        numbers = _orgnrs()
        for org_id in range(1, self.spec.orgs + 1):
            yield self.org(org_id, next(numbers))

    def org(self, org_id: int, orgnr: str) -> Org:
        rng = self.rng
        sector = rng.choices(self.sectors, cum_weights=self.sector_cum)[0]
        municipality, county = rng.choices(self.places, cum_weights=self.place_cum)[0]
        known = rng.random() >= UNKNOWN_SHARE
        active = rng.random() < self.spec.active_share
        score, grade, factors, penalties = self.rating()
        if not known:
            return Org(org_id, orgnr, None, None, None, active, score, grade, factors, penalties)
        return Org(
            org_id, orgnr, sector, county, municipality, active, score, grade, factors, penalties
        )

    def rating(self) -> tuple[float, str, dict[str, float], dict[str, float]]:
        rng = self.rng
        picks = set(rng.choices(self.rules, cum_weights=self.rule_cum, k=rng.randint(10, 30)))
        exposure = rng.random()  # how much of its footprint a body leaves exposed
        penalties: dict[str, float] = {}
        lost = dict.fromkeys(self.factors, 0.0)
        caps = []
        for rule_id in sorted(picks):
            points, factor, cap = self.terms[rule_id]
            penalties[rule_id] = round(points * math.sqrt(exposure * rng.uniform(0.1, 1.0)), 6)
            lost[factor] += penalties[rule_id]
            caps += [cap] if cap else []
        score = _one_decimal(100.0 - sum(penalties.values()))
        factors = {f: _one_decimal(100.0 - points) for f, points in lost.items()}
        return score, worst([grade_for(score), *caps]), factors, penalties


def _one_decimal(score: float) -> float:
    """rating.model's rounding: one decimal, rounded down, never below zero."""
    return math.floor(max(0.0, score) * 10 + 1e-9) / 10


def _places() -> dict[str, str]:
    """Municipality number → its county number (the first two digits, 2024 numbering)."""
    return {number: number[:2] for number in municipalities()}


def _orgnrs() -> Iterator[str]:
    # Consecutive fictional numbers starting with 3, skipping the prefixes with no check digit.
    for prefix in itertools.count(30_000_000):
        digit = check_digit(str(prefix))
        if digit is not None:
            yield f"{prefix}{digit}"


ORG_COLUMNS = (
    "id",
    "orgnr",
    "name",
    "org_form",
    "sector",
    "county",
    "municipality",
    "primary_domain",
    "created",
    "updated",
)
ASSET_COLUMNS = (
    "id",
    "org_id",
    "kind",
    "value",
    "state",
    "verified_at",
    "source",
    "shared",
    "created",
)
SNAPSHOT_COLUMNS = (
    "id",
    "org_id",
    "day",
    "rulebook_version",
    "score",
    "grade",
    "factors",
    "penalties",
    "saved",
    "sector",
    "county",
    "municipality",
)
LATEST_COLUMNS = (
    "org_id",
    "snapshot_id",
    "day",
    "rulebook_version",
    "score",
    "grade",
    "sector",
    "county",
    "municipality",
    "active",
    "rules",
    "updated",
)
JSON_COLUMNS = frozenset({"factors", "penalties", "rules"})


def _org_row(o: Org, now: datetime) -> tuple[Any, ...]:
    name = f"Syntetisk virksomhet {o.id}"
    domain = f"org{o.id}.synthetic.test"
    return (o.id, o.orgnr, name, None, o.sector, o.county, o.municipality, domain, now, now)


def _asset_row(o: Org, now: datetime) -> tuple[Any, ...]:
    state, verified = ("verified", now) if o.active else ("claimed", None)
    domain = f"org{o.id}.synthetic.test"
    return (o.id, o.id, "domain", domain, state, verified, "synthetic", False, now)


def _snapshot_row(o: Org, book: Rulebook, day: date, now: datetime) -> tuple[Any, ...]:
    dims = (o.sector or "", o.county or "", o.municipality or "")
    return (o.id, o.id, day, book.version, o.score, o.grade, o.factors, o.penalties, now, *dims)


def _latest_row(o: Org, book: Rulebook, day: date, now: datetime) -> tuple[Any, ...]:
    dims = (o.sector or "", o.county or "", o.municipality or "")
    rules = sorted(o.penalties)
    return (o.id, o.id, day, book.version, o.score, o.grade, *dims, o.active, rules, now)


# ------------------------------------------------------------------ history and portfolio


def _load_days(connection: Connection, spec: Spec, cells: Cells) -> int:
    rng = random.Random(spec.seed + 1)
    county_rows: dict[tuple[date, str, str, str], list[int]] = {}
    rows = []
    for back in range(spec.days):
        day = spec.last_day - timedelta(days=back)
        for (version, sector, county, municipality), (orgs, score) in sorted(cells.items()):
            score = _earlier(score, orgs, back, spec.days, rng)
            rows.append((municipality, day, version, sector, county, orgs, score))
            total = county_rows.setdefault((day, version, sector, county), [0, 0])
            total[0] += orgs
            total[1] += score
    columns = ("municipality", "day", "rulebook_version", "sector", "county", "orgs")
    _write(connection, "municipality_score_day", (*columns, "score_tenths"), rows)
    totals = [(*key, orgs, score) for key, (orgs, score) in county_rows.items()]
    _write(connection, "score_day", (*columns[1:], "score_tenths"), totals)
    days = _national(totals)
    _write(connection, "national_score_day", (*columns[1:3], "orgs", "score_tenths"), days)
    return len(rows) + len(totals) + len(days)


def _national(totals: list[tuple[date, str, str, str, int, int]]) -> list[tuple[Any, ...]]:
    """The county rows summed per day and version."""
    national: dict[tuple[date, str], list[int]] = {}
    for day, version, _sector, _county, orgs, score in totals:
        total = national.setdefault((day, version), [0, 0])
        total[0] += orgs
        total[1] += score
    return [(*key, orgs, score) for key, (orgs, score) in national.items()]


def _earlier(score: int, orgs: int, back: int, days: int, rng: random.Random) -> int:
    """A cell's score sum `back` days before the last: lower by the year's rise, noisy."""
    if back == 0:
        return score  # the last day is the snapshots themselves
    rise = YEARLY_RISE * back / max(days - 1, 1) + rng.gauss(0, 0.3)
    return max(0, min(1000 * orgs, score - round(rise * 10 * orgs)))


def _load_portfolio(connection: Connection, spec: Spec) -> tuple[int, int]:
    now = datetime.combine(spec.last_day, time(3), UTC)
    user = ("synthetic@utsyn.invalid", "!", "national_analyst")
    user_id = connection.execute(
        text(
            "INSERT INTO app_user (email, password_hash, role, created) "
            "VALUES (:email, :hash, :role, :now) RETURNING id"
        ),
        {"email": user[0], "hash": user[1], "role": user[2], "now": _when(connection, now)},
    ).scalar_one()
    portfolio_id = connection.execute(
        text(
            "INSERT INTO portfolio (owner_id, name, created) VALUES (:owner, :name, :now) "
            "RETURNING id"
        ),
        {"owner": user_id, "name": "syntetisk", "now": _when(connection, now)},
    ).scalar_one()
    size = min(spec.portfolio_size, spec.orgs)
    members = random.Random(spec.seed + 2).sample(range(1, spec.orgs + 1), size)
    rows = [(portfolio_id, org_id) for org_id in sorted(members)]
    _write(connection, "portfolio_member", ("portfolio_id", "org_id"), rows)
    return int(portfolio_id), size


def _reset_sequences(connection: Connection) -> None:
    # Ids were given explicitly; the next ones the application makes must come after them.
    if connection.dialect.name != "postgresql":
        return
    for table in ("organisation", "asset", "score_snapshot"):
        connection.execute(
            text(
                f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), "
                f"(SELECT COALESCE(MAX(id), 1) FROM {table}))"
            )
        )


# ------------------------------------------------------------------ writing


def _write(
    connection: Connection, table: str, columns: Sequence[str], rows: Sequence[tuple[Any, ...]]
) -> None:
    if not rows:
        return
    json_at = [i for i, c in enumerate(columns) if c in JSON_COLUMNS]
    if json_at:
        rows = [_with_json(row, json_at) for row in rows]
    if connection.dialect.name == "postgresql":
        _copy(connection, table, columns, rows)
    else:
        rows = [tuple(_sqlite_value(v) for v in row) for row in rows]
        marks = ", ".join("?" for _ in columns)
        connection.exec_driver_sql(
            f"INSERT INTO {table} ({', '.join(columns)}) VALUES ({marks})", rows
        )


def _with_json(row: tuple[Any, ...], json_at: list[int]) -> tuple[Any, ...]:
    return tuple(json.dumps(v) if i in json_at else v for i, v in enumerate(row))


def _copy(
    connection: Connection, table: str, columns: Sequence[str], rows: Sequence[tuple[Any, ...]]
) -> None:
    raw = connection.connection.driver_connection
    assert raw is not None  # a live psycopg connection inside `engine.begin()`
    statement = f"COPY {table} ({', '.join(columns)}) FROM STDIN"
    with raw.cursor() as cursor, cursor.copy(statement) as copy:
        for row in rows:
            copy.write_row(row)


def _sqlite_value(value: Any) -> Any:
    # SQLAlchemy's SQLite formats: ISO dates, naive UTC datetimes with microseconds.
    if isinstance(value, datetime):
        return value.astimezone(UTC).replace(tzinfo=None).isoformat(" ", "microseconds")
    if isinstance(value, date):
        return value.isoformat()
    return value


def _when(connection: Connection, now: datetime) -> Any:
    return _sqlite_value(now) if connection.dialect.name == "sqlite" else now
