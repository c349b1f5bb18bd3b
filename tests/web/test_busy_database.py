"""A database busy with another writer for longer than the web waits: writes answer 503 with
Retry-After (a problem, in the request's language), never 500; reads go on."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine
from sqlalchemy.orm import Session

from utsyn.store.db import make_engine
from utsyn.web.app import create_app
from utsyn.web.settings import WebSettings

from .conftest import A_VIEWER, ADMIN, ORG_A, PASSWORD, bearer, csrf_of

# A write a token may make (a token may not make tokens).
ASSETS = f"/api/v1/organisations/{ORG_A}/assets"


@pytest.fixture
def impatient(engine: Engine) -> Iterator[Engine]:
    """The test's database, waiting only 0.2 s for another writer."""
    made = make_engine(engine.url.render_as_string(hide_password=False), busy_seconds=0.2)
    yield made
    made.dispose()


def test_a_busy_database_answers_503_with_retry_after(
    settings: WebSettings, impatient: Engine, session: Session, engine: Engine
) -> None:
    headers = bearer(session, ADMIN)
    with TestClient(create_app(settings, impatient), base_url="https://testserver") as client:
        assert client.get("/api/v1/me", headers=headers).status_code == 200  # token's last use
        form = client.get("/login")
        other = sqlite3.connect(str(engine.url.database), isolation_level=None)
        other.execute("BEGIN IMMEDIATE")
        try:
            made = client.post(ASSETS, json={"kind": "domain", "value": "ny.test"}, headers=headers)
            assert made.status_code == 503
            assert made.headers["retry-after"] == "5"
            assert made.headers["content-type"] == "application/problem+json"
            assert made.json() == {
                "type": "about:blank",
                "title": "Tjenesten er utilgjengelig",
                "status": 503,
                "detail": "Databasen er opptatt. Prøv igjen om noen sekunder.",
            }
            english = {**headers, "Accept-Language": "en"}
            again = client.post(
                ASSETS, json={"kind": "domain", "value": "ny.test"}, headers=english
            )
            assert again.json()["detail"] == "The database is busy. Try again in a few seconds."
            # A login writes its audit row: the page says so too, with the same status.
            data = {"email": A_VIEWER, "password": PASSWORD, "csrf_token": csrf_of(form.text)}
            login = client.post("/login", data=data, follow_redirects=False)
            assert login.status_code == 503 and login.headers["retry-after"] == "5"
            assert "Databasen er opptatt" in login.text
            # Reads go on while the other writer holds the lock.
            assert client.get("/api/v1/organisations", headers=headers).status_code == 200
        finally:
            other.execute("ROLLBACK")
            other.close()
        # The lock is free again: the same write succeeds.
        made = client.post(ASSETS, json={"kind": "domain", "value": "ny.test"}, headers=headers)
        assert made.status_code == 201
