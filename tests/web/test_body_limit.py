"""Request bodies are limited before anything parses them: JSON, forms and multipart, with a
declared length or streamed; 413 as a problem in the request's language. On a real server
(`utsyn serve`, its own process) 200 MB bodies leave its memory flat."""

from __future__ import annotations

import socket
import threading
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine
from sqlalchemy.orm import Session

from utsyn.web.app import create_app
from utsyn.web.settings import WebSettings

from .conftest import A_ADMIN, ORG_A, bearer, csrf_of, log_in
from .served import serving_process

MIB = 1024 * 1024
EXPLAIN = f"/api/v1/organisations/{ORG_A}/explanations"
GROWTH = 50 * MIB  # the server's peak memory may grow by less than this, for 1 GB sent


def _streamed(total: int, start: bytes = b'{"reason": "') -> Iterator[bytes]:
    """`total` bytes in 1 MiB chunks: no Content-Length, sent as it is made (chunked)."""
    yield start
    sent = len(start)
    while sent < total:
        chunk = b"x" * min(MIB, total - sent)
        sent += len(chunk)
        yield chunk


def _peak_rss(pid: int) -> int:
    """The process's peak resident memory (VmHWM), in bytes."""
    for line in Path(f"/proc/{pid}/status").read_text(encoding="ascii").splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) * 1024
    raise AssertionError("no VmHWM in /proc/PID/status")


def _declared_only(base_url: str, path: str, length: int) -> bytes:
    """Headers announcing `length` bytes, and no body: the answer must not wait for it."""
    host, port = base_url.removeprefix("http://").split(":")
    with socket.create_connection((host, int(port)), timeout=10) as connection:
        connection.sendall(
            f"POST {path} HTTP/1.1\r\nHost: {host}\r\nContent-Type: application/json\r\n"
            f"Content-Length: {length}\r\nAccept-Language: en\r\n\r\n".encode("ascii")
        )
        answer = b""
        while not _complete(answer):
            part = connection.recv(65536)
            assert part, "the server closed the connection without answering"
            answer += part
        return answer


def _complete(answer: bytes) -> bool:
    head, found, body = answer.partition(b"\r\n\r\n")
    if not found:
        return False
    lengths = [line for line in head.lower().split(b"\r\n") if line.startswith(b"content-length:")]
    return bool(lengths) and len(body) >= int(lengths[0].split(b":")[1])


def test_oversized_bodies_are_refused_and_the_servers_memory_stays_flat(
    engine: Engine, session: Session, tmp_path: Path
) -> None:
    assert engine.url.database is not None
    token = bearer(session, A_ADMIN)
    env = {
        "UTSYN_DATA_DIR": str(tmp_path / "data"),
        "UTSYN_DATABASE_URL": f"sqlite:///{engine.url.database}",
        "UTSYN_SECRET_KEY": "limit-test-" * 4,
    }
    with (
        serving_process(env, tmp_path / "serve.log") as served,
        httpx.Client(base_url=served.base_url, timeout=120) as client,
    ):
        assert client.get(f"/api/v1/organisations/{ORG_A}", headers=token).status_code == 200
        before = _peak_rss(served.pid)
        answers: list[httpx.Response] = []

        def send(headers: dict[str, str], content: Iterator[bytes]) -> None:
            answers.append(client.post(EXPLAIN, headers=headers, content=content))

        json = {"Content-Type": "application/json"}
        # Anonymous, and with a token; then four anonymous ones at once.
        send(json, _streamed(200 * MIB))
        send({**json, **token}, _streamed(200 * MIB))
        parallel = [
            threading.Thread(target=send, args=(json, _streamed(200 * MIB))) for _ in range(4)
        ]
        for thread in parallel:
            thread.start()
        for thread in parallel:
            thread.join()
        # A multipart form to the login page, streamed.
        boundary = "utsynboundary"
        form = {"Content-Type": f"multipart/form-data; boundary={boundary}"}
        start = f'--{boundary}\r\nContent-Disposition: form-data; name="email"\r\n\r\n'.encode()
        answers.append(client.post("/login", headers=form, content=_streamed(200 * MIB, start)))
        declared = _declared_only(served.base_url, EXPLAIN, 200 * MIB)
        growth = _peak_rss(served.pid) - before
    assert [a.status_code for a in answers] == [413] * 7
    assert answers[0].headers["content-type"] == "application/problem+json"
    assert answers[0].json()["title"] == "For stort innhold"
    assert declared.startswith(b"HTTP/1.1 413 ")
    assert b"Content too large" in declared
    assert growth < GROWTH, f"the server grew by {growth / MIB:.0f} MiB"


@pytest.fixture
def small(settings: WebSettings, engine: Engine) -> Iterator[TestClient]:
    """Limits of 8 KiB with credentials and 2 KiB without."""
    limited = settings.model_copy(update={"max_body_bytes": 8192, "max_anonymous_body_bytes": 2048})
    with TestClient(create_app(limited, engine), base_url="https://testserver") as made:
        yield made


def _explanation(reason_length: int) -> dict[str, str]:
    return {
        "key": "no|such|finding",
        "kind": "compensating_control",
        "reason": "r" * reason_length,
        "expires": "2030-01-01T00:00:00+00:00",
    }


def test_json_is_limited_with_and_without_credentials(small: TestClient, session: Session) -> None:
    token = bearer(session, A_ADMIN)
    anonymous = small.post(EXPLAIN, json=_explanation(3000))
    assert anonymous.status_code == 413
    assert anonymous.json() == {
        "type": "about:blank",
        "title": "For stort innhold",
        "status": 413,
        "detail": "Forespørselen er større enn Utsyn tar imot (høyst 2048 byte).",
    }
    assert small.post(EXPLAIN, json=_explanation(100)).status_code == 401  # under the limit
    # With a token the larger limit applies: the body is read, and validated.
    assert small.post(EXPLAIN, json=_explanation(3000), headers=token).status_code == 404
    english = {**token, "Accept-Language": "en"}
    refused = small.post(EXPLAIN, json=_explanation(9000), headers=english)
    assert refused.status_code == 413 and refused.json()["title"] == "Content too large"
    # Streamed (no Content-Length): counted as it arrives.
    streamed = small.post(EXPLAIN, content=_streamed(9000), headers=token)
    assert streamed.status_code == 413


def test_forms_and_multipart_are_limited_before_they_are_parsed(
    small: TestClient,
) -> None:
    form = small.get("/login")
    csrf = csrf_of(form.text)
    page = {"Accept": "text/html"}
    big = {"email": "a@b.no", "password": "p" * 4000, "csrf_token": csrf}
    refused = small.post("/login", data=big, headers=page)
    assert refused.status_code == 413
    assert "text/html" in refused.headers["content-type"]
    assert "For stort innhold" in refused.text
    assert refused.headers["x-frame-options"] == "DENY"  # the security headers wrap it too
    boundary = "utsynboundary"
    multipart = {"Content-Type": f"multipart/form-data; boundary={boundary}"}
    start = f'--{boundary}\r\nContent-Disposition: form-data; name="email"\r\n\r\n'.encode()
    streamed = small.post("/login", content=_streamed(5000, start), headers=multipart)
    assert streamed.status_code == 413
    # Under the limit, the form is read and the password checked.
    small_form = {"email": "a@b.no", "password": "wrong password", "csrf_token": csrf}
    assert small.post("/login", data=small_form).status_code == 400


def test_a_logged_in_session_gets_the_larger_limit(small: TestClient) -> None:
    log_in(small, A_ADMIN)
    form = small.get(f"/org/{ORG_A}")
    padding = {"csrf_token": csrf_of(form.text), "padding": "p" * 4000}
    assert small.post("/logout", data=padding, follow_redirects=False).status_code == 303
    assert small.post("/logout", data=padding, follow_redirects=False).status_code == 413
