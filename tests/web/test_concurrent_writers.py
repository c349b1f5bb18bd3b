"""Writers queue on SQLite: `utsyn scan --scenario demo` and `utsyn serve` (each a process of
its own) on one database file, while 20 web clients log in, make API tokens and explain
findings. Every request is answered as it should be, the scan finishes, nothing is lost."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
from collections import Counter
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path

import httpx
import pytest
from sqlalchemy import Engine, func, select
from sqlalchemy.orm import Session

from utsyn.clock import now_utc
from utsyn.lab.runtime import LabInfo, write_state
from utsyn.store.models import ApiToken, AuditLog, Explanation, ScanRun, TargetScan

from .conftest import A_ADMIN, ACCOUNTS, ADMIN, ORG_A, PASSWORD, bearer, csrf_of
from .served import serving_process

pytestmark = pytest.mark.timeout(900)

WRITERS = 20
MINIMUM = 3  # requests each writer makes at least, however fast the scan is
PAUSE = 0.2  # seconds between one writer's requests: busy users, not a denial of service


def _counts(engine: Engine) -> dict[str, int]:
    with Session(engine) as session:
        return _counted(session)


def _counted(session: Session) -> dict[str, int]:
    def audited(action: str) -> int:
        query = select(func.count()).select_from(AuditLog).where(AuditLog.action == action)
        return session.scalar(query) or 0

    return {
        "login": audited("login:success"),
        "token": session.scalar(select(func.count()).select_from(ApiToken)) or 0,
        "token_audit": audited("token:create"),
        "explanation": session.scalar(select(func.count()).select_from(Explanation)) or 0,
    }


class Writers:
    """Each writer repeats one kind of write until told to stop (and at least MINIMUM times)."""

    def __init__(self, base_url: str, tokens: dict[str, dict[str, str]], keys: list[str]) -> None:
        self.base_url = base_url
        self.tokens = tokens
        self.keys = keys
        self.stop = threading.Event()
        self.done: Counter[str] = Counter()
        self.during_scan: Counter[str] = Counter()
        self.errors: list[str] = []
        self.scan_running = threading.Event()
        self._lock = threading.Lock()
        self.sessions: dict[int, dict[str, str]] = {}  # the token writers' cookie and CSRF

    def run(self, number: int) -> None:
        kinds: list[tuple[str, Callable[[httpx.Client, int, int], httpx.Response], int]] = [
            ("login", self._login, 303),
            ("token", self._token, 201),
            ("explanation", self._explain, 201),
        ]
        kind, write, expected = kinds[number % len(kinds)]
        with httpx.Client(base_url=self.base_url, timeout=120) as client:
            n = 0
            while n < MINIMUM or not self.stop.is_set():
                if kind == "login":
                    client.cookies.clear()
                try:
                    answer = write(client, number, n)
                except Exception as exc:  # a writer that dies must say why
                    self._note(f"{kind}: {exc!r}")
                    return
                if answer.status_code != expected:
                    self._note(f"{kind}: {answer.status_code} {answer.text[:300]}")
                    return
                with self._lock:
                    self.done[kind] += 1
                    if self.scan_running.is_set():
                        self.during_scan[kind] += 1
                n += 1
                self.stop.wait(PAUSE)

    def _note(self, error: str) -> None:
        with self._lock:
            self.errors.append(error)

    def _login(self, client: httpx.Client, number: int, _n: int) -> httpx.Response:
        email = sorted(ACCOUNTS)[number % len(ACCOUNTS)]
        form = client.get("/login")
        data = {"email": email, "password": PASSWORD, "csrf_token": csrf_of(form.text)}
        return client.post("/login", data=data)

    def _token(self, client: httpx.Client, number: int, n: int) -> httpx.Response:
        # A token cannot make tokens: a password session can (logged in once per writer). The
        # session cookie is Secure, which httpx keeps from plain http: it is sent by hand.
        if number not in self.sessions:
            form = client.get("/login")
            data = {"email": ADMIN, "password": PASSWORD, "csrf_token": csrf_of(form.text)}
            login = client.post("/login", data=data)
            cookie = "; ".join(f"{name}={value}" for name, value in login.cookies.items())
            page = client.get("/", headers={"Cookie": cookie}, follow_redirects=True)
            self.sessions[number] = {"Cookie": cookie, "X-CSRF-Token": csrf_of(page.text)}
        body = {"name": f"writer {number}/{n}", "days": 30}
        return client.post("/api/v1/tokens", json=body, headers=self.sessions[number])

    def _explain(self, client: httpx.Client, number: int, n: int) -> httpx.Response:
        key = self.keys[(number + n) % len(self.keys)]
        body = {
            "key": key,
            "kind": "compensating_control",
            "reason": f"Writer {number} explains it, time {n}.",
            "expires": (now_utc() + timedelta(days=30)).isoformat(),
        }
        return client.post(
            f"/api/v1/organisations/{ORG_A}/explanations", json=body, headers=self.tokens[A_ADMIN]
        )


def _open_keys(base_url: str, headers: dict[str, str]) -> list[str]:
    url = f"{base_url}/api/v1/organisations/{ORG_A}/findings"
    items = httpx.get(url, headers=headers, params={"status": "open"}).json()["items"]
    return [item["key"] for item in items]


def test_a_stored_scan_and_twenty_web_writers_share_one_sqlite_file(
    demo_lab: LabInfo, engine: Engine, session: Session, tmp_path: Path
) -> None:
    database = engine.url.database
    assert engine.dialect.name == "sqlite" and database is not None
    tokens = {email: bearer(session, email) for email in (ADMIN, A_ADMIN)}
    before = _counts(engine)
    env = {
        **os.environ,
        "UTSYN_DATA_DIR": str(tmp_path / "scan"),
        "UTSYN_DATABASE_URL": f"sqlite:///{database}",
    }
    write_state(tmp_path / "scan" / "lab" / "lab.json", demo_lab, os.getpid())  # use this lab
    web = {
        **env,
        "UTSYN_DATA_DIR": str(tmp_path / "web"),
        "UTSYN_SECRET_KEY": "w" * 48,
        # Queueing is what is tested here; the bound after which a write answers 503 instead
        # (test_busy_database) is raised so a loaded machine's slow scan cannot reach it.
        "UTSYN_WEB_BUSY_SECONDS": "120",
    }
    with serving_process(web, tmp_path / "serve.log") as served:
        base_url = served.base_url
        writers = Writers(base_url, tokens, _open_keys(base_url, tokens[A_ADMIN]))
        threads = [threading.Thread(target=writers.run, args=(n,)) for n in range(WRITERS)]
        for thread in threads:
            thread.start()
        writers.scan_running.set()
        scan = subprocess.run(
            [sys.executable, "-m", "utsyn", "scan", "--scenario", "demo"],
            env=env, capture_output=True, text=True, timeout=800,
        )  # fmt: skip
        writers.scan_running.clear()
        writers.stop.set()
        for thread in threads:
            thread.join(timeout=300)
    assert scan.returncode == 0, scan.stderr[-3000:]
    assert writers.errors == [], (tmp_path / "serve.log").read_text(encoding="utf-8")[-3000:]
    # The writers really wrote while the scan was storing, and every kind of write was made.
    assert sum(writers.during_scan.values()) > 0
    assert min(writers.done[kind] for kind in ("login", "token", "explanation")) >= MINIMUM
    after = _counts(engine)
    logins = writers.done["login"] + len(writers.sessions)  # the token writers log in once
    assert after["login"] - before["login"] == logins
    assert after["token"] - before["token"] == writers.done["token"]
    assert after["token_audit"] - before["token_audit"] == writers.done["token"]
    assert after["explanation"] - before["explanation"] == writers.done["explanation"]
    # The scan stored every target it scanned, and finished.
    run = session.scalars(select(ScanRun).order_by(ScanRun.id.desc())).first()
    assert run is not None and run.status == "done"
    stored = session.scalar(
        select(func.count()).select_from(TargetScan).where(TargetScan.run_id == run.id)
    )
    assert stored == run.stats["targets"] > 0
