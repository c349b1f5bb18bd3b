"""All of Utsyn's settings, read from `UTSYN_*` environment variables."""

from __future__ import annotations

import os
from functools import lru_cache
from pathlib import Path

from pydantic import Field
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


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    return Settings()
