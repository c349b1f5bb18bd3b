"""All of Utsyn's settings, read from `UTSYN_*` environment variables."""

from __future__ import annotations

import os
from functools import lru_cache
from pathlib import Path

from pydantic import Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict


def _default_data_dir() -> Path:
    base = os.environ.get("XDG_DATA_HOME") or str(Path.home() / ".local" / "share")
    return Path(base) / "utsyn"


def _default_cache_dir() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "utsyn"


class Settings(BaseSettings):
    """Documented in the README's settings table."""

    model_config = SettingsConfigDict(env_prefix="UTSYN_")

    data_dir: Path = Field(default_factory=_default_data_dir)
    cache_dir: Path = Field(default_factory=_default_cache_dir)
    lab_dns_ip: str = "127.53.0.1"
    require_services: bool = False
    # None: one SQLite file, data_dir / "utsyn.db" (embedded). At national scale:
    # "postgresql+psycopg://user@host:5432/utsyn" (see utsyn.store.db).
    database_url: str | None = None
    # SQLite: how long a writer waits for another's write lock before "database is locked"
    # (the web waits `web_busy_seconds` instead, then answers 503; a scan waits on).
    database_busy_seconds: float = Field(default=30.0, gt=0, le=3600)

    # Vulnerability feed updates (utsyn.vuln.feeds). None: `utsyn feeds update` installs
    # the snapshot shipped with Utsyn (offline); otherwise a mirror laid out like it.
    feeds_url: str | None = None
    feeds_max_bytes: int = 512 * 1024 * 1024  # per file, after gzip decompression
    feeds_timeout_seconds: float = 60.0
    feeds_keep: int = 3  # generations kept on disk, the current one included
    # A feed that shrinks below this share of the records it had is refused: a file cut
    # at a line boundary (CSV) still parses, so only its size gives it away.
    feeds_min_ratio: float = 0.5

    # Alerts (utsyn.vuln.alerts): a webhook signed with HMAC-SHA256, and e-mail via a relay.
    alert_webhook_url: str | None = None
    alert_webhook_secret: SecretStr | None = None
    alert_smtp_host: str | None = None
    alert_smtp_port: int = 25
    alert_mail_from: str = "utsyn@localhost"
    alert_mail_to: list[str] = Field(default_factory=list)  # JSON: '["cert@example.no"]'
    alert_attempts: int = 4  # per alert and channel in one delivery run, with back-off
    alert_attempts_total: int = 12  # per alert and channel over every run; then given up
    alert_backoff_seconds: float = 1.0  # doubled after each failed attempt, at most 60 s
    alert_timeout_seconds: float = 10.0

    # Distributed workers (utsyn.worker; docs/scaling.md). The broker carries tasks only:
    # the database is the record of what was planned and done.
    broker_url: str = "redis://127.0.0.1:6379/0"
    # Seconds before a task a worker took but never acknowledged goes to another worker. It
    # must exceed the longest task (the scan's host deadline plus the write), or a slow scan
    # is delivered twice (harmless, since writes are idempotent, but wasted).
    worker_visibility_timeout: float = 600.0
    worker_concurrency: int = 16  # host scans in flight per worker process (threads)
    worker_metrics_port: int = 9808  # Prometheus endpoint on 127.0.0.1; 0 turns it off
    # Scans of one target started per minute, shared by every worker (a Redis token bucket).
    target_rate_per_minute: float = 6.0
    target_burst: int = 2
    schedule_period_days: int = 7  # every organisation is rescanned once per period
    run_batch_orgs: int = 500  # organisations per scan run the scheduler creates
    # A running run without progress for this long has its missing targets sent again (the
    # broker lost them: a Redis restart without persistence).
    reconcile_after: float = 3600.0
    worker_test_delay: float = 0.0  # tests only: seconds each scan task sleeps first


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    return Settings()
