"""The web app on a temporary SQLite database holding the demo scenario's ground truth.

Nothing is scanned: `expected_results(demo)` (what a perfect scanner returns) is stored
through `store.scans.write_target_result` and rated with `pipeline.rate_organisation`,
once per session into a template database that each test gets a fresh copy of.
"""

from __future__ import annotations

import re
import shutil
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import Engine, select
from sqlalchemy.orm import Session

from utsyn.clock import now_utc
from utsyn.lab.expected import expected_results
from utsyn.lab.orgs import records_from_manifest
from utsyn.lab.scenarios import load_scenario
from utsyn.pipeline import rate_organisation
from utsyn.rules.rulebook import load_rulebook
from utsyn.store import scans, users
from utsyn.store.db import make_engine, session_factory, upgrade
from utsyn.store.models import AuditLog
from utsyn.store.orgs import organisation, upsert_organisations
from utsyn.web.app import create_app
from utsyn.web.security import hash_password, new_api_token
from utsyn.web.settings import WebSettings

from ..services import unavailable
from .browser import CHROMIUM, LAUNCH_ARGS, served

ORG_A = "311239848"  # Østmark fylkeskommune: 12 findings in the demo
ORG_B = "310961027"  # Statens arkivtilsyn: 12 findings, grade B
PASSWORD = "korrekt hest batteri stift"
ADMIN = "admin@utsyn.test"
ANALYST = "analyst@utsyn.test"
A_ADMIN = "admin@ostmarkfk.test"
A_VIEWER = "viewer@ostmarkfk.test"
B_VIEWER = "viewer@arkivtilsyn.test"
ACCOUNTS = {
    ADMIN: ("national_admin", None),
    ANALYST: ("national_analyst", None),
    A_ADMIN: ("org_admin", ORG_A),
    A_VIEWER: ("org_viewer", ORG_A),
    B_VIEWER: ("org_viewer", ORG_B),
}
_CSRF_INPUT = re.compile(r'name="csrf_token" value="([^"]+)"')


@pytest.fixture(scope="session")
def template_db(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("web") / "template.db"
    url = f"sqlite:///{path}"
    upgrade(url)
    engine = make_engine(url)
    with session_factory(engine)() as session:
        _store_demo(session)
        _add_accounts(session)
    engine.dispose()  # checkpoints the WAL: the file alone is the whole database
    return path


def _store_demo(session: Session) -> None:
    manifest = load_scenario("demo")
    book = load_rulebook()
    upsert_organisations(session, records_from_manifest(manifest), "lab:demo", now_utc())
    run = scans.start_run(session, {"mode": "lab"}, book.version, now_utc())
    for result in expected_results(manifest):
        scans.write_target_result(session, run, result, now_utc())
    for org in manifest.organisations:
        rate_organisation(session, org.orgnr, book, run)
    scans.finish_run(session, run, now_utc())


def _add_accounts(session: Session) -> None:
    password_hash = hash_password(PASSWORD)
    for email, (role, orgnr) in ACCOUNTS.items():
        org_id = organisation(session, orgnr).id if orgnr else None
        users.add_user(session, email, password_hash, role, org_id, now_utc())


@pytest.fixture
def engine(template_db: Path, tmp_path: Path) -> Iterator[Engine]:
    copy = tmp_path / "utsyn.db"
    shutil.copyfile(template_db, copy)
    made = make_engine(f"sqlite:///{copy}")
    yield made
    made.dispose()


@pytest.fixture
def session(engine: Engine) -> Iterator[Session]:
    with session_factory(engine)() as opened:
        yield opened


@pytest.fixture
def settings(tmp_path: Path) -> WebSettings:
    return WebSettings(
        data_dir=tmp_path / "data",
        cache_dir=tmp_path / "cache",
        secret_key="test-secret-" * 4,
        login_attempts_per_account=5,
        login_attempts_per_address=20,
        # Long enough that no test outruns it on a loaded machine.
        login_first_wait_seconds=30,
    )


@pytest.fixture
def app(settings: WebSettings, engine: Engine) -> FastAPI:
    return create_app(settings, engine)


@pytest.fixture
def client(app: FastAPI) -> Iterator[TestClient]:
    with TestClient(app, base_url="https://testserver") as made:
        yield made


def csrf_of(html: str) -> str:
    found = _CSRF_INPUT.search(html)
    assert found is not None, "no csrf_token in the form"
    return found.group(1)


def log_in(client: TestClient, email: str, password: str = PASSWORD) -> None:
    form = client.get("/login")
    answer = client.post(
        "/login",
        data={"email": email, "password": password, "csrf_token": csrf_of(form.text)},
        follow_redirects=False,
    )
    assert answer.status_code == 303, answer.text


def bearer(session: Session, email: str, days: int = 30) -> dict[str, str]:
    """An API token for the account, made through the store as `utsyn users token` does."""
    user = users.user_by_email(session, email)
    assert user is not None
    token, digest = new_api_token()
    expires = now_utc() + timedelta(days=days)
    users.add_token(session, user, "test", digest, now_utc(), expires, "test")
    return {"Authorization": f"Bearer {token}"}


def audit_actions(session: Session) -> list[tuple[str, str, str]]:
    session.commit()  # a new snapshot: the app wrote since this session last read
    session.expire_all()
    rows = session.scalars(select(AuditLog).order_by(AuditLog.id))
    return [(r.actor, r.action, r.subject) for r in rows]


# Browser tests (tests/web/browser.py has the helpers): one server and one chromium per module.
@pytest.fixture(scope="module")
def base_url(template_db: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    if not CHROMIUM.exists():
        unavailable(f"{CHROMIUM} is not installed")
    folder = tmp_path_factory.mktemp("browser")
    shutil.copyfile(template_db, folder / "utsyn.db")
    with served(folder / "utsyn.db") as url:
        yield url


@pytest.fixture(scope="module")
def browser(base_url: str) -> Iterator[Any]:
    sync_api = pytest.importorskip("playwright.sync_api")
    with sync_api.sync_playwright() as playwright:
        launched = playwright.chromium.launch(
            executable_path=str(CHROMIUM), headless=True, args=LAUNCH_ARGS
        )
        yield launched
        launched.close()


@pytest.fixture
def page(browser: Any, base_url: str) -> Iterator[Any]:
    context = browser.new_context(
        base_url=base_url, locale="nb-NO", viewport={"width": 1200, "height": 900}
    )
    opened = context.new_page()
    opened.set_default_timeout(10_000)
    yield opened
    context.close()
