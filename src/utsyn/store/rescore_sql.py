"""The PostgreSQL path of `store.rescore`: a batch of ratings in, every write done in SQL.

A batch is copied (COPY) into a temporary table, then a few set-based statements do what
`rescore._save_batch` does row by row in Python: read each organisation's current state,
upsert its snapshot, move its contribution in the seven rollup tables, and point its
`OrgLatest` row at the new snapshot. Python only encodes the batch; nothing comes back but
a count and the rollup rows that fell to zero. The rules are the same as `store.rollup`'s
(the tests hold both paths to `rollup.recount`):

- a snapshot is the organisation's latest when (day, saved, id) is the greatest it has;
- the daily rollups get the snapshot's score, less the score of the same day's snapshot it
  replaced; the organisation counts get the new latest state, less the old one, and the
  rule counts move only for organisations whose rules, dimensions or activity changed.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime
from typing import TYPE_CHECKING, Any

import orjson
from psycopg import Connection
from sqlalchemy.orm import Session

if TYPE_CHECKING:  # rescore imports this module
    from utsyn.store.rescore import Scored

STAGE_COLUMNS = ("org_id", "rulebook_version", "score", "grade", "factors", "penalties", "rules")

# Temporary tables live as long as the connection; emptied at each commit and each batch
# (a batch may run inside a caller's transaction, as a savepoint).
_TEMP_TABLES = """
CREATE TEMP TABLE IF NOT EXISTS rescore_stage (
    org_id bigint PRIMARY KEY, rulebook_version text NOT NULL, score float8 NOT NULL,
    grade text NOT NULL, factors jsonb NOT NULL, penalties jsonb NOT NULL, rules jsonb NOT NULL
) ON COMMIT DELETE ROWS;
CREATE TEMP TABLE IF NOT EXISTS rescore_state (
    org_id bigint PRIMARY KEY, rulebook_version text, score float8, grade text, rules jsonb,
    sector text, county text, municipality text, active boolean,
    l_version text, l_sector text, l_county text, l_municipality text, l_active boolean,
    l_grade text, l_score float8, l_rules jsonb, l_day date, l_snapshot_id bigint,
    l_saved timestamptz,
    d_sector text, d_county text, d_municipality text, d_score float8,
    snapshot_id bigint
) ON COMMIT DELETE ROWS;
CREATE TEMP TABLE IF NOT EXISTS rescore_day (
    rulebook_version text, sector text, county text, municipality text, orgs int,
    score_tenths bigint
) ON COMMIT DELETE ROWS;
CREATE TEMP TABLE IF NOT EXISTS rescore_grades (
    rulebook_version text, sector text, county text, municipality text, active boolean,
    grade text, orgs int, score_tenths bigint
) ON COMMIT DELETE ROWS;
CREATE TEMP TABLE IF NOT EXISTS rescore_issues (
    rulebook_version text, rule text, sector text, county text, municipality text,
    active boolean, orgs int
) ON COMMIT DELETE ROWS;
TRUNCATE rescore_stage, rescore_state, rescore_day, rescore_grades, rescore_issues;
-- Without statistics on the temporary tables the planner expects millions of rows and
-- compiles every statement (a quarter of a second each); the plans are merge joins anyway.
SET LOCAL jit = off;
"""

# Each organisation's dimensions now, its activity, its `OrgLatest` row and the snapshot that
# the new one replaces (the same day and version). The latest snapshot's `saved` is looked
# up only when the day is the same (it breaks the tie), and a same-day snapshot only when
# the latest day is not earlier: the common new day costs no lookup in `score_snapshot`.
_READ_STATE = """
INSERT INTO rescore_state
SELECT st.org_id, st.rulebook_version, st.score, st.grade, st.rules,
       coalesce(o.sector, ''), coalesce(o.county, ''), coalesce(o.municipality, ''),
       EXISTS (SELECT 1 FROM asset a WHERE a.org_id = st.org_id AND a.state = 'verified'),
       l.rulebook_version, l.sector, l.county, l.municipality, l.active,
       l.grade, l.score, l.rules, l.day, l.snapshot_id,
       CASE WHEN l.day = %(day)s
            THEN (SELECT s.saved FROM score_snapshot s WHERE s.id = l.snapshot_id) END,
       d.sector, d.county, d.municipality, d.score, NULL
FROM rescore_stage st
JOIN organisation o ON o.id = st.org_id
LEFT JOIN org_latest l ON l.org_id = st.org_id
LEFT JOIN LATERAL (
    SELECT s.sector, s.county, s.municipality, s.score FROM score_snapshot s
    WHERE l.day >= %(day)s AND s.org_id = st.org_id AND s.day = %(day)s
      AND s.rulebook_version = st.rulebook_version
) d ON true
"""

_UPSERT_SNAPSHOTS = """
WITH saved AS (
    INSERT INTO score_snapshot (org_id, day, rulebook_version, score, grade, factors,
                                penalties, saved, sector, county, municipality)
    SELECT st.org_id, %(day)s, st.rulebook_version, st.score, st.grade, st.factors,
           st.penalties, %(now)s, s.sector, s.county, s.municipality
    FROM rescore_stage st JOIN rescore_state s USING (org_id)
    ORDER BY st.org_id
    ON CONFLICT (org_id, day, rulebook_version) DO UPDATE SET
        score = excluded.score, grade = excluded.grade, factors = excluded.factors,
        penalties = excluded.penalties, saved = excluded.saved, sector = excluded.sector,
        county = excluded.county, municipality = excluded.municipality
    RETURNING id, org_id
)
UPDATE rescore_state s SET snapshot_id = saved.id FROM saved WHERE s.org_id = saved.org_id
"""

# rollup._order: the latest day, then the one saved last, then the higher id.
_IS_LATEST = (
    "(l_snapshot_id IS NULL"
    " OR (%(day)s, %(now)s::timestamptz, snapshot_id) >= (l_day, l_saved, l_snapshot_id))"
)
_NEW_STATE = "(rulebook_version, sector, county, municipality, active, grade, score, rules)"
_OLD_STATE = "(l_version, l_sector, l_county, l_municipality, l_active, l_grade, l_score, l_rules)"
_NEW_ISSUES = "(rulebook_version, sector, county, municipality, active, rules)"
_OLD_ISSUES = "(l_version, l_sector, l_county, l_municipality, l_active, l_rules)"

# The signed contributions, summed per area before they touch a rollup table.
_DAY_DELTA = """
INSERT INTO rescore_day
SELECT rulebook_version, sector, county, municipality, sum(n)::int AS orgs,
       sum(t)::bigint AS score_tenths
FROM (
    SELECT rulebook_version, sector, county, municipality, 1 AS n,
           round(score * 10)::bigint AS t FROM rescore_state
    UNION ALL
    SELECT rulebook_version, d_sector, d_county, d_municipality, -1,
           -round(d_score * 10)::bigint FROM rescore_state WHERE d_score IS NOT NULL
) c
GROUP BY rulebook_version, sector, county, municipality
"""

_GRADE_DELTA = f"""
INSERT INTO rescore_grades
SELECT rulebook_version, sector, county, municipality, active, grade, sum(n)::int AS orgs,
       sum(t)::bigint AS score_tenths
FROM (
    SELECT rulebook_version, sector, county, municipality, active, grade, 1 AS n,
           round(score * 10)::bigint AS t
    FROM rescore_state WHERE {_IS_LATEST} AND {_NEW_STATE} IS DISTINCT FROM {_OLD_STATE}
    UNION ALL
    SELECT l_version, l_sector, l_county, l_municipality, l_active, l_grade, -1,
           -round(l_score * 10)::bigint
    FROM rescore_state WHERE {_IS_LATEST} AND l_version IS NOT NULL
      AND {_NEW_STATE} IS DISTINCT FROM {_OLD_STATE}
) c
GROUP BY rulebook_version, sector, county, municipality, active, grade
"""

_ISSUE_DELTA = f"""
INSERT INTO rescore_issues
SELECT rulebook_version, rule, sector, county, municipality, active, sum(n)::int AS orgs
FROM (
    SELECT rulebook_version, r.rule, sector, county, municipality, active, 1 AS n
    FROM rescore_state, jsonb_array_elements_text(rules) AS r(rule)
    WHERE {_IS_LATEST} AND {_NEW_ISSUES} IS DISTINCT FROM {_OLD_ISSUES}
    UNION ALL
    SELECT l_version, r.rule, l_sector, l_county, l_municipality, l_active, -1
    FROM rescore_state, jsonb_array_elements_text(l_rules) AS r(rule)
    WHERE {_IS_LATEST} AND l_version IS NOT NULL
      AND {_NEW_ISSUES} IS DISTINCT FROM {_OLD_ISSUES}
) c
GROUP BY rulebook_version, rule, sector, county, municipality, active
"""

_UPSERT_LATEST = f"""
INSERT INTO org_latest (org_id, snapshot_id, day, rulebook_version, score, grade, sector,
                        county, municipality, active, rules, updated)
SELECT org_id, snapshot_id, %(day)s, rulebook_version, score, grade, sector, county,
       municipality, active, rules, %(now)s
FROM rescore_state WHERE {_IS_LATEST}
ORDER BY org_id
ON CONFLICT (org_id) DO UPDATE SET
    snapshot_id = excluded.snapshot_id, day = excluded.day,
    rulebook_version = excluded.rulebook_version, score = excluded.score,
    grade = excluded.grade, sector = excluded.sector, county = excluded.county,
    municipality = excluded.municipality, active = excluded.active, rules = excluded.rules,
    updated = excluded.updated
"""


@dataclass(frozen=True)
class _Rollup:
    """One rollup table, fed from one delta table: its key (in order) and its measures."""

    table: str
    source: str  # rescore_day, rescore_grades or rescore_issues
    keys: tuple[str, ...]
    tenths: bool  # it sums scores too, not only organisations

    def upsert(self) -> str:
        measures = ("orgs", "score_tenths") if self.tenths else ("orgs",)
        source_keys = [k for k in self.keys if k != "day"]
        selected = [("%(day)s" if k == "day" else k) for k in self.keys]
        sums = [f"sum({m})" for m in measures]
        adds = ", ".join(f"{m} = {self.table}.{m} + excluded.{m}" for m in measures)
        keys = ", ".join(self.keys)
        nonzero = " OR ".join(f"sum({m}) <> 0" for m in measures)
        return (
            f"WITH moved AS (INSERT INTO {self.table} ({keys}, {', '.join(measures)}) "
            f"SELECT {', '.join(selected + sums)} FROM {self.source} "
            f"GROUP BY {', '.join(source_keys)} HAVING {nonzero} "
            f"ORDER BY {', '.join(source_keys)} "
            f"ON CONFLICT ({keys}) DO UPDATE SET {adds} RETURNING {keys}, orgs) "
            f"SELECT {keys} FROM moved WHERE orgs = 0"
        )

    def delete(self) -> str:
        keys = ", ".join(self.keys)
        marks = ", ".join(f"%({k})s" for k in self.keys)
        return f"DELETE FROM {self.table} WHERE ({keys}) = ({marks})"


# In `rollup.ROLLUPS` order: concurrent batches lock rollup rows in one order (no deadlock).
_AREA = ("sector", "county")
ROLLUPS = (
    _Rollup("grade_count", "rescore_grades", ("rulebook_version", *_AREA, "active", "grade"), True),
    _Rollup(
        "municipality_grade_count",
        "rescore_grades",
        ("municipality", "rulebook_version", *_AREA, "active", "grade"),
        True,
    ),
    _Rollup("issue_count", "rescore_issues", ("rulebook_version", "rule", *_AREA, "active"), False),
    _Rollup(
        "municipality_issue_count",
        "rescore_issues",
        ("municipality", "rulebook_version", "rule", *_AREA, "active"),
        False,
    ),
    _Rollup("score_day", "rescore_day", ("day", "rulebook_version", *_AREA), True),
    _Rollup("national_score_day", "rescore_day", ("day", "rulebook_version"), True),
    _Rollup(
        "municipality_score_day",
        "rescore_day",
        ("municipality", "day", "rulebook_version", *_AREA),
        True,
    ),
)


def save_batch(session: Session, batch: Sequence[Scored], day: date, now: datetime) -> None:
    """Save one batch of `rescore.Scored` in the session's transaction (PostgreSQL only)."""
    session.flush()
    raw = session.connection().connection.driver_connection
    assert isinstance(raw, Connection)  # psycopg 3: the session is in a transaction
    params = {"day": day, "now": now}
    with raw.cursor() as cursor:
        cursor.execute(_TEMP_TABLES)
        _copy(raw, batch)
        cursor.execute(_READ_STATE, params)
        if cursor.rowcount != len(batch):
            _refuse_unknown(cursor)
        cursor.execute(_UPSERT_SNAPSHOTS, params)
        for statement in (_DAY_DELTA, _GRADE_DELTA, _ISSUE_DELTA):
            cursor.execute(statement, params)
        for rollup in ROLLUPS:
            cursor.execute(rollup.upsert(), params)
            emptied = [dict(zip(rollup.keys, row, strict=True)) for row in cursor.fetchall()]
            if emptied:  # rows that fell to zero go: the tables hold what a recount would
                cursor.executemany(rollup.delete(), emptied)
        cursor.execute(_UPSERT_LATEST, params)


def _copy(raw: Connection[Any], batch: Sequence[Scored]) -> None:
    dumps = orjson.dumps
    with raw.cursor() as cursor:
        statement = f"COPY rescore_stage ({', '.join(STAGE_COLUMNS)}) FROM STDIN"
        with cursor.copy(statement) as copy:
            for s in batch:
                rules = sorted(s.penalties)
                copy.write_row(
                    (
                        s.org_id,
                        s.rulebook_version,
                        s.score,
                        s.grade,
                        dumps(dict(s.factors)).decode(),
                        dumps(dict(s.penalties)).decode(),
                        dumps(rules).decode(),
                    )
                )


def _refuse_unknown(cursor: Any) -> None:
    cursor.execute(
        "SELECT org_id FROM rescore_stage WHERE org_id NOT IN (SELECT org_id FROM rescore_state)"
        " ORDER BY org_id LIMIT 5"
    )
    missing = [row[0] for row in cursor.fetchall()]
    raise ValueError(f"no organisations with ids {missing}")
