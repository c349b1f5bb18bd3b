"""Logouts and login waits outlive the process (they are in the database), and a client
chooses its own address only through a proxy the operator named."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine, select
from sqlalchemy.orm import Session

from utsyn.store.db import make_engine
from utsyn.store.models import AuditLog
from utsyn.web.app import create_app
from utsyn.web.sessions import SESSION_COOKIE
from utsyn.web.settings import WebSettings

from .conftest import A_VIEWER, ADMIN, PASSWORD, csrf_of, log_in

HOST = "127.0.0.1"
PROXY = "127.0.0.2"  # the proxy the server is told to trust
FORGED = "198.51.100.7"  # a documentation address, only ever written in a header


def _client(settings: WebSettings, engine: Engine) -> TestClient:
    """A new app on the same database: what a restart (or another process) sees."""
    return TestClient(create_app(settings, engine), base_url="https://testserver")


def test_a_logged_out_cookie_stays_dead_after_a_restart(
    settings: WebSettings, engine: Engine
) -> None:
    before = _client(settings, engine)
    log_in(before, A_VIEWER)
    stolen = before.cookies.get(SESSION_COOKIE) or ""
    page = before.get("/")
    before.post("/logout", data={"csrf_token": csrf_of(page.text)}, follow_redirects=False)
    assert before.get("/api/v1/me").status_code == 401
    after = _client(settings, engine)
    after.cookies.set(SESSION_COOKIE, stolen)
    assert after.get("/api/v1/me").status_code == 401  # signed, unexpired, and still dead
    log_in(after, A_VIEWER)  # the account itself is fine
    assert after.get("/api/v1/me").status_code == 200


def test_login_waits_survive_a_restart(settings: WebSettings, engine: Engine) -> None:
    before = _client(settings, engine)
    for _ in range(settings.login_attempts_per_account):
        form = before.get("/login")
        wrong = {"email": A_VIEWER, "password": "wrong", "csrf_token": csrf_of(form.text)}
        assert before.post("/login", data=wrong).status_code == 400
    after = _client(settings, engine)
    form = after.get("/login")
    right = {"email": A_VIEWER, "password": PASSWORD, "csrf_token": csrf_of(form.text)}
    answer = after.post("/login", data=right, follow_redirects=False)
    assert answer.status_code == 429
    assert int(answer.headers["retry-after"]) > 0


# ------------------------------------------------------------------ X-Forwarded-For


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind((HOST, 0))
        return int(probe.getsockname()[1])


@pytest.fixture
def served(template_db: Path, tmp_path: Path) -> Iterator[tuple[str, Path]]:
    """`utsyn serve` as an operator runs it, trusting the proxy at 127.0.0.2 only."""
    data = tmp_path / "served"
    data.mkdir()
    shutil.copyfile(template_db, data / "utsyn.db")
    port = _free_port()
    env = {
        **os.environ,
        "UTSYN_DATA_DIR": str(data),
        "UTSYN_SECRET_KEY": "served-test-" * 4,
        "UTSYN_TRUSTED_PROXIES": PROXY,
    }
    env.pop("FORWARDED_ALLOW_IPS", None)  # uvicorn's own setting: not the operator's here
    server = subprocess.Popen(
        [sys.executable, "-m", "utsyn", "serve", "--host", HOST, "--port", str(port)],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    url = f"http://{HOST}:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            assert server.poll() is None, server.stderr.read() if server.stderr else ""
            try:
                httpx.get(f"{url}/login", timeout=1)
                break
            except httpx.TransportError:
                assert time.monotonic() < deadline, "utsyn serve did not start"
                time.sleep(0.2)
        yield url, data / "utsyn.db"
    finally:
        server.terminate()
        server.wait(timeout=10)


def _failed_login_from(url: str, source: str) -> None:
    transport = httpx.HTTPTransport(local_address=source)
    with httpx.Client(base_url=url, transport=transport) as client:
        form = client.get("/login")
        data = {"email": ADMIN, "password": "wrong", "csrf_token": csrf_of(form.text)}
        answer = client.post("/login", data=data, headers={"X-Forwarded-For": FORGED})
        assert answer.status_code == 400


def test_x_forwarded_for_counts_only_from_a_trusted_proxy(served: tuple[str, Path]) -> None:
    url, database = served
    _failed_login_from(url, HOST)  # a local client that is not the proxy
    _failed_login_from(url, PROXY)
    engine = make_engine(f"sqlite:///{database}")
    try:
        with Session(engine) as session:
            rows = session.scalars(
                select(AuditLog).where(AuditLog.action == "login:failure").order_by(AuditLog.id)
            )
            addresses = [row.detail["address"] for row in rows]
    finally:
        engine.dispose()
    assert addresses == [HOST, FORGED]
