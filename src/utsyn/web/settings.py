"""The web service's settings: Utsyn's `Settings` plus the `UTSYN_*` variables of the web.

| variable | default | meaning |
|---|---|---|
| `UTSYN_SECRET_KEY` | unset: made once, kept in `$UTSYN_DATA_DIR/web-secret-key` | signs cookies |
| `UTSYN_SESSION_MINUTES` | 30 | a session ends after this long without a request |
| `UTSYN_SESSION_MAX_HOURS` | 12 | and this long after the login, whatever the activity |
| `UTSYN_DNS_SERVERS` | unset | name servers (comma-separated IPs) for footprint verification |
| `UTSYN_DNS_PORT` | 53 | their port |
| `UTSYN_LOGIN_ATTEMPTS_PER_ACCOUNT` | 5 | failed logins of an account before a wait |
| `UTSYN_LOGIN_ATTEMPTS_PER_ADDRESS` | 20 | failed logins from an address before a wait |
| `UTSYN_LOGIN_FIRST_WAIT_SECONDS` | 1 | the first wait; each failure after it doubles it |
| `UTSYN_LOGIN_MAX_WAIT_SECONDS` | 3600 | the longest wait of an address, or of an account there |
| `UTSYN_LOGIN_ACCOUNT_MAX_WAIT_SECONDS` | 60 | the longest wait imposed from elsewhere |
| `UTSYN_LOGIN_FORGET_HOURS` | 24 | failures are forgotten after this long without one |
| `UTSYN_LOGIN_KNOWN_DAYS` | 90 | an address an account logged in from stays known |
| `UTSYN_TRUSTED_PROXIES` | unset | proxies (IPs or networks) whose `X-Forwarded-*` count |
| `UTSYN_TOKEN_MAX_DAYS` | 365 | the longest lifetime of an API token |
| `UTSYN_PASSWORD_RESET_HOURS` | 24 | a password reset link works this long, once |
| `UTSYN_PUBLIC_URL` | `http://127.0.0.1:8000` | where users reach Utsyn (reset links) |
| `UTSYN_SECURITY_CONTACT` | `mailto:security@utsyn.example` | Contact: of security.txt |
| `UTSYN_OIDC_PROVIDERS` | `[]` | OpenID Connect providers (JSON list, `web.oidc_settings`) |
| `UTSYN_OIDC_SIGNING_KEYS` | unset: made once | keys for `private_key_jwt` (`web.oidc_keys`) |
| `UTSYN_OIDC_TIMEOUT_SECONDS` | 10 | a request to a provider |
| `UTSYN_OIDC_CLOCK_SKEW_SECONDS` | 60 | leeway when checking an ID token's times |
| `UTSYN_LOCAL_PASSWORDS` | true | false: only the OpenID Connect providers log in |
| `UTSYN_WEB_BUSY_SECONDS` | 10 | SQLite: a request waits this long for another writer, then 503 |
| `UTSYN_MAX_BODY_BYTES` | 10485760 (10 MiB) | largest request body with credentials, else 413 |
| `UTSYN_MAX_ANONYMOUS_BODY_BYTES` | 65536 (64 KiB) | largest request body without credentials |
"""

from __future__ import annotations

import ipaddress
import os
import secrets
from pathlib import Path
from typing import Annotated

from pydantic import Field, SecretStr, field_validator
from pydantic_settings import NoDecode

from utsyn.files import private_directory
from utsyn.settings import Settings
from utsyn.web.oidc_settings import Provider


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
    login_first_wait_seconds: int = Field(default=1, ge=1, le=3600)
    login_max_wait_seconds: int = Field(default=3600, ge=1, le=24 * 3600)
    login_account_max_wait_seconds: int = Field(default=60, ge=1, le=3600)
    login_forget_hours: int = Field(default=24, ge=1, le=24 * 30)
    login_known_days: int = Field(default=90, ge=0, le=3650)
    # No proxy is trusted unless named: any client could otherwise choose its own address.
    trusted_proxies: Annotated[tuple[str, ...], NoDecode] = ()
    token_max_days: int = Field(default=365, ge=1, le=365)
    password_reset_hours: int = Field(default=24, ge=1, le=24 * 14)
    public_url: str = "http://127.0.0.1:8000"
    security_contact: str = "mailto:security@utsyn.example"
    oidc_providers: tuple[Provider, ...] = ()
    oidc_signing_keys: Annotated[tuple[Path, ...], NoDecode] = ()
    oidc_timeout_seconds: float = Field(default=10.0, gt=0, le=60)
    oidc_clock_skew_seconds: int = Field(default=60, ge=0, le=300)
    local_passwords: bool = True
    # SQLite: how long a request waits for another writer's lock before answering 503.
    web_busy_seconds: float = Field(default=10.0, gt=0, le=300)
    # Request bodies (`web.limits`): with credentials, and without (the login form's size).
    max_body_bytes: int = Field(default=10 * 1024 * 1024, ge=1024)
    max_anonymous_body_bytes: int = Field(default=64 * 1024, ge=1024)

    @field_validator("dns_servers", "trusted_proxies", "oidc_signing_keys", mode="before")
    @classmethod
    def _comma_separated(cls, value: object) -> object:
        if isinstance(value, str):
            return tuple(part.strip() for part in value.split(",") if part.strip())
        return value

    @field_validator("trusted_proxies")
    @classmethod
    def _addresses(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        for proxy in value:
            ipaddress.ip_network(proxy, strict=False)  # ValueError names the bad one
        return value

    @field_validator("public_url")
    @classmethod
    def _web_address(cls, value: str) -> str:
        if not value.startswith(("http://", "https://")):
            raise ValueError("an http:// or https:// address")
        return value.rstrip("/")

    @field_validator("oidc_providers")
    @classmethod
    def _distinct(cls, value: tuple[Provider, ...]) -> tuple[Provider, ...]:
        names = [provider.name for provider in value]
        if len(set(names)) != len(names):
            raise ValueError("two OpenID Connect providers with one name")
        return value

    def oidc_provider(self, name: str) -> Provider | None:
        return next((p for p in self.oidc_providers if p.name == name), None)

    def signing_key(self) -> str:
        """The configured key, or one made once and kept beside the data (mode 0600)."""
        if self.secret_key is not None:
            return self.secret_key.get_secret_value()
        return _kept_key(self.data_dir / "web-secret-key")


def _kept_key(path: Path) -> str:
    if path.is_file():
        return path.read_text(encoding="utf-8").strip()
    private_directory(path.parent)
    key = secrets.token_urlsafe(48)
    # Created 0600 from the start: the key is never readable by others, even briefly.
    with open(path, "x", encoding="utf-8", opener=_private_opener) as out:
        out.write(key)
    return key


def _private_opener(path: str, flags: int) -> int:
    return os.open(path, flags, 0o600)
