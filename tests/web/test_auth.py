"""Logging in and out, throttling, CSRF and API tokens."""

from __future__ import annotations

import hashlib

from fastapi import APIRouter, FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import Engine, select
from sqlalchemy.orm import Session

from utsyn.store import users
from utsyn.store.models import ApiToken
from utsyn.web.app import create_app
from utsyn.web.security import hash_password
from utsyn.web.sessions import SESSION_COOKIE
from utsyn.web.settings import WebSettings

from .conftest import A_VIEWER, ADMIN, PASSWORD, audit_actions, bearer, csrf_of, log_in


def _set_cookie(response_headers: list[str], name: str) -> str:
    found = [h for h in response_headers if h.startswith(f"{name}=")]
    assert found, f"no Set-Cookie for {name}"
    return found[-1]


def test_login_sets_a_rotated_secure_session_and_is_audited(
    client: TestClient, session: Session
) -> None:
    form = client.get("/login")
    before = client.cookies.get(SESSION_COOKIE)
    answer = client.post(
        "/login",
        data={"email": A_VIEWER.upper(), "password": PASSWORD, "csrf_token": csrf_of(form.text)},
        follow_redirects=False,
    )
    assert answer.status_code == 303 and answer.headers["location"] == "/"
    cookie = _set_cookie(answer.headers.get_list("set-cookie"), SESSION_COOKIE)
    attributes = {part.strip().lower() for part in cookie.split(";")[1:]}
    assert {"secure", "httponly", "samesite=lax", "path=/"} <= attributes
    assert "max-age=1800" in attributes  # short: 30 minutes without a request
    assert client.cookies.get(SESSION_COOKIE) != before  # a new session, not the anonymous one
    assert client.get("/api/v1/me").json() == {
        "email": A_VIEWER,
        "role": "org_viewer",
        "orgnr": "311239848",
    }
    assert (A_VIEWER, "login:success", A_VIEWER) in audit_actions(session)


def test_wrong_password_is_refused_and_audited(client: TestClient, session: Session) -> None:
    form = client.get("/login")
    answer = client.post(
        "/login",
        data={"email": A_VIEWER, "password": "not the password", "csrf_token": csrf_of(form.text)},
    )
    assert answer.status_code == 400
    assert "Feil e-postadresse eller passord." in answer.text
    assert client.get("/api/v1/me").status_code == 401
    assert (A_VIEWER, "login:failure", A_VIEWER) in audit_actions(session)


def test_unknown_account_answers_like_a_wrong_password(client: TestClient) -> None:
    form = client.get("/login")
    answer = client.post(
        "/login",
        data={"email": "nobody@x.test", "password": PASSWORD, "csrf_token": csrf_of(form.text)},
    )
    assert answer.status_code == 400 and "Feil e-postadresse eller passord." in answer.text


def test_logout_ends_the_session_and_the_old_cookie_stays_dead(client: TestClient) -> None:
    log_in(client, A_VIEWER)
    stolen = client.cookies.get(SESSION_COOKIE)
    page = client.get("/")
    assert (
        client.post(
            "/logout", data={"csrf_token": csrf_of(page.text)}, follow_redirects=False
        ).status_code
        == 303
    )
    assert client.get("/api/v1/me").status_code == 401
    client.cookies.clear()
    client.cookies.set(SESSION_COOKIE, stolen or "")
    assert client.get("/api/v1/me").status_code == 401  # revoked, though still signed


def test_a_password_change_ends_existing_sessions(client: TestClient, session: Session) -> None:
    log_in(client, A_VIEWER)
    assert client.get("/api/v1/me").status_code == 200
    user = users.user_by_email(session, A_VIEWER)
    assert user is not None
    users.set_password_hash(session, user, hash_password("another long password"))
    assert client.get("/api/v1/me").status_code == 401


def test_login_is_throttled_per_account(client: TestClient, session: Session) -> None:
    for _ in range(5):
        form = client.get("/login")
        wrong = {"email": A_VIEWER, "password": "wrong", "csrf_token": csrf_of(form.text)}
        assert client.post("/login", data=wrong).status_code == 400
    form = client.get("/login")
    right = {"email": A_VIEWER, "password": PASSWORD, "csrf_token": csrf_of(form.text)}
    answer = client.post("/login", data=right, follow_redirects=False)
    assert answer.status_code == 429  # even the right password waits
    assert int(answer.headers["retry-after"]) > 0
    assert "For mange forsøk" in answer.text
    assert (A_VIEWER, "login:throttled", A_VIEWER) in audit_actions(session)
    # Another account from the same address is not locked out by this one's failures.
    log_in(client, ADMIN)


def test_login_is_throttled_per_client_address(settings: WebSettings, engine: Engine) -> None:
    strict = settings.model_copy(update={"login_attempts_per_address": 3})
    client = TestClient(create_app(strict, engine), base_url="https://testserver")
    for n in range(3):  # three different accounts from one address
        form = client.get("/login")
        data = {"email": f"guess{n}@x.test", "password": "x", "csrf_token": csrf_of(form.text)}
        assert client.post("/login", data=data).status_code == 400
    form = client.get("/login")
    data = {"email": ADMIN, "password": PASSWORD, "csrf_token": csrf_of(form.text)}
    assert client.post("/login", data=data, follow_redirects=False).status_code == 429


def test_forms_without_the_csrf_token_are_refused(client: TestClient) -> None:
    client.get("/login")
    missing = client.post("/login", data={"email": ADMIN, "password": PASSWORD})
    assert missing.status_code == 403
    forged = client.post(
        "/login", data={"email": ADMIN, "password": PASSWORD, "csrf_token": "forged"}
    )
    assert forged.status_code == 403
    log_in(client, ADMIN)
    assert client.post("/logout", data={}).status_code == 403
    assert client.get("/api/v1/me").status_code == 200  # still logged in


def test_a_new_form_route_is_protected_without_asking(app: FastAPI, client: TestClient) -> None:
    """The CSRF guard is app-wide: the dashboard's future forms get it for free."""
    router = APIRouter()

    @router.post("/test/form")
    def submit() -> dict[str, bool]:
        return {"ok": True}

    app.include_router(router)
    token = csrf_of(client.get("/login").text)
    assert client.post("/test/form", data={"x": "1"}).status_code == 403
    assert client.post("/test/form", data={"csrf_token": token}).status_code == 200
    assert client.post("/test/form", headers={"X-CSRF-Token": token}).status_code == 200


def test_api_changes_over_a_session_need_the_csrf_header(client: TestClient) -> None:
    log_in(client, ADMIN)
    body = {"name": "from the browser", "days": 1}
    assert client.post("/api/v1/tokens", json=body).status_code == 403
    token = csrf_of(client.get("/").text)
    made = client.post("/api/v1/tokens", json=body, headers={"X-CSRF-Token": token})
    assert made.status_code == 201


def test_bearer_tokens_authenticate_and_are_exempt_from_csrf(
    client: TestClient, session: Session
) -> None:
    headers = bearer(session, ADMIN)
    assert client.get("/api/v1/me", headers=headers).json()["role"] == "national_admin"
    log_in(client, ADMIN)  # tokens are made over a password session (a token cannot)
    csrf = {"X-CSRF-Token": csrf_of(client.get("/").text)}
    made = client.post("/api/v1/tokens", json={"name": "ci"}, headers=csrf)
    assert made.status_code == 201
    token = made.json()["token"]
    stored = session.scalars(select(ApiToken).where(ApiToken.id == made.json()["id"])).one()
    assert stored.token_hash == hashlib.sha256(token.encode()).hexdigest()
    client.cookies.clear()
    listed = client.get("/api/v1/tokens", headers={"Authorization": f"Bearer {token}"}).json()
    assert {t["name"] for t in listed} == {"test", "ci"}
    assert all("token" not in t for t in listed)  # shown once, never again
    revoked = client.delete(f"/api/v1/tokens/{listed[0]['id']}", headers=headers)
    assert revoked.status_code == 204  # changes over a bearer token need no CSRF token


def test_bad_expired_and_revoked_tokens_are_refused(client: TestClient, session: Session) -> None:
    refused = client.get("/api/v1/me", headers={"Authorization": "Bearer utsyn_nonsense"})
    assert refused.status_code == 401
    assert refused.headers["www-authenticate"] == "Bearer"
    assert refused.headers["content-type"] == "application/problem+json"
    expired = bearer(session, ADMIN, days=-1)
    assert client.get("/api/v1/me", headers=expired).status_code == 401
    headers = bearer(session, A_VIEWER)
    own = client.get("/api/v1/tokens", headers=headers).json()
    assert client.delete(f"/api/v1/tokens/{own[0]['id']}", headers=headers).status_code == 204
    assert client.get("/api/v1/me", headers=headers).status_code == 401


def test_a_bad_token_is_not_rescued_by_a_session(client: TestClient) -> None:
    log_in(client, ADMIN)
    answer = client.get("/api/v1/me", headers={"Authorization": "Bearer wrong"})
    assert answer.status_code == 401


def test_next_only_leads_within_the_site(client: TestClient) -> None:
    form = client.get("/login")
    data = {
        "email": ADMIN,
        "password": PASSWORD,
        "csrf_token": csrf_of(form.text),
        "next": "//evil.example/",
    }
    answer = client.post("/login", data=data, follow_redirects=False)
    assert answer.headers["location"] == "/"
