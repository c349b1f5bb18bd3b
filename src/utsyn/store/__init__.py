"""The schema and every write to the database (other packages read through it, and never
write back).

- `models`: the schema (and the design of the national rollups); `migrations/`: Alembic.
- `db`: engines (SQLite by default, PostgreSQL by URL), sessions, `atomic`, `upgrade`.
- `orgs`: organisations and assets; `importer`: CSV import of organisations.
- `scans`: scan runs and target results; `findings`: lifecycle, explanations, disputes.
- `rollup`: score snapshots and the national rollups; `rescore`: the same, for many
  organisations at once (`rescore_sql`: its PostgreSQL statements).
- `dump`: JSON-lines export/import; `retention`: pruning old scan results.
- `alerts`: alert rows (created once per dedupe key) and their delivery per channel;
  `alert_reads`: paged reads of them.
- `feed_state`: the provenance of each vulnerability feed generation and its files.

Every repository function takes a `Session`. Those that change data run as one unit
(`db.atomic`): inside a transaction the caller opened with `session.begin()` they are a
savepoint the caller commits; otherwise they commit themselves (or roll back on failure).
"""
