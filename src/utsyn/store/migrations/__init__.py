"""Alembic migrations shipped with the package (run with `utsyn.store.db.upgrade`)."""
