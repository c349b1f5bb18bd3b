"""The store tests' databases: every portfolio test runs on SQLite and on PostgreSQL."""

from __future__ import annotations

from tests.store.conftest import backend, databases, db_url, engine, new_database, session

__all__ = ["backend", "databases", "db_url", "engine", "new_database", "session"]
