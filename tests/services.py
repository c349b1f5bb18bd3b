"""Tests that need a service (PostgreSQL, Redis, Chromium): skip on a user's machine without
it, fail in CI, which sets UTSYN_REQUIRE_SERVICES."""

from __future__ import annotations

import os

import pytest


def required() -> bool:
    return os.environ.get("UTSYN_REQUIRE_SERVICES", "").lower() not in ("", "0", "false", "no")


def unavailable(message: str) -> None:
    if required():
        pytest.fail(f"{message} (UTSYN_REQUIRE_SERVICES is set)")
    pytest.skip(f"{message} (set UTSYN_REQUIRE_SERVICES=1 to fail instead)")
