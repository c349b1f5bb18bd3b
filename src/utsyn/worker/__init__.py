"""Distributed scans: Celery workers on Redis and PostgreSQL running the in-process code.

One task scans one zone or host (`Scanner.scan_unit`) and writes it with the same idempotent
`store.scans.write_target_result` the in-process pipeline uses; the last target of an
organisation to arrive queues its rating (`pipeline.rate_organisation`). The database is the
record of what was planned and what is done; the broker only carries work, so anything it
loses is sent again from the database (`worker.runs.reconcile`). See docs/scaling.md.
"""
