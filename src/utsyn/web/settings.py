"""The web service's settings: Utsyn's `Settings` plus the `UTSYN_*` variables of the web.

| variable | default | meaning |
|---|---|---|
| `UTSYN_SECRET_KEY` | unset: made once, kept in `$UTSYN_DATA_DIR/web-secret-key` | signs cookies |
| `UTSYN_SESSION_MINUTES` | 30 | a session ends after this long without a request |
| `UTSYN_SESSION_MAX_HOURS` | 12 | and this long after the login, whatever the activity |
| `UTSYN_DNS_SERVERS` | unset | name servers (comma-separated IPs) for footprint verification |
| `UTSYN_DNS_PORT` | 53 | their port |
| `UTSYN_LOGIN_ATTEMPTS_PER_ACCOUNT` | 5 | failed logins per account per window |
| `UTSYN_LOGIN_ATTEMPTS_PER_ADDRESS` | 20 | failed logins per client address per window |
| `UTSYN_LOGIN_WINDOW_SECONDS` | 900 | the window |
| `UTSYN_SECURITY_CONTACT` | `mailto:security@utsyn.example` | Contact: of security.txt |
| `UTSYN_WEB_BUSY_SECONDS` | 10 | SQLite: a request waits this long for another writer, then 503 |
| `UTSYN_MAX_BODY_BYTES` | 10485760 (10 MiB) | largest request body with credentials, else 413 |
| `UTSYN_MAX_ANONYMOUS_BODY_BYTES` | 65536 (64 KiB) | largest request body without credentials |
"""

from __future__ import annotations

import os
import secrets
from pathlib import Path
from typing import Annotated

from pydantic import Field, SecretStr, field_validator
from pydantic_settings import NoDecode

from utsyn.settings import Settings


class WebSettings(Settings):
    secret_key: SecretStr | None = None
    session_minutes: int = Field(default=30, ge=1, le=24 * 60)
    session_max_hours: int = Field(default=12, ge=1, le=24 * 7)
    # Footprint verification never uses the system resolver: these servers or none.
    dns_servers: Annotated[tuple[str, ...], NoDecode] = ()
    dns_port: int = Field(default=53, ge=1, le=65535)
    dns_timeout: float = Field(default=3.0, gt=0, le=30)
    login_attempts_per_account: int = Field(default=5, ge=1)
    login_attempts_per_address: int = Field(default=20, ge=1)
    login_window_seconds: int = Field(default=900, ge=1)
    security_contact: str = "mailto:security@utsyn.example"
    # SQLite: how long a request waits for another writer's lock before answering 503.
    web_busy_seconds: float = Field(default=10.0, gt=0, le=300)
    # Request bodies (`web.limits`): with credentials, and without (the login form's size).
    max_body_bytes: int = Field(default=10 * 1024 * 1024, ge=1024)
    max_anonymous_body_bytes: int = Field(default=64 * 1024, ge=1024)

    @field_validator("dns_servers", mode="before")
    @classmethod
    def _comma_separated(cls, value: object) -> object:
        if isinstance(value, str):
            return tuple(part.strip() for part in value.split(",") if part.strip())
        return value

    def signing_key(self) -> str:
        """The configured key, or one made once and kept beside the data (mode 0600)."""
        if self.secret_key is not None:
            return self.secret_key.get_secret_value()
        return _kept_key(self.data_dir / "web-secret-key")


def _kept_key(path: Path) -> str:
    if path.is_file():
        return path.read_text(encoding="utf-8").strip()
    path.parent.mkdir(parents=True, exist_ok=True)
    key = secrets.token_urlsafe(48)
    # Created 0600 from the start: the key is never readable by others, even briefly.
    with open(path, "x", encoding="utf-8", opener=_private_opener) as out:
        out.write(key)
    return key


def _private_opener(path: str, flags: int) -> int:
    return os.open(path, flags, 0o600)
