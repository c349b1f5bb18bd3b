"""Account lifecycle over the API and the admin pages, tokens that always expire and never
mint tokens, the password policy on the reset page, and login waits that someone elsewhere
cannot turn into a lock-out."""

from __future__ import annotations

import html

from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import Engine
from sqlalchemy.orm import Session

from utsyn.store import users
from utsyn.web.app import create_app
from utsyn.web.settings import WebSettings

from .conftest import (
    A_ADMIN,
    A_VIEWER,
    ADMIN,
    ANALYST,
    B_VIEWER,
    ORG_A,
    PASSWORD,
    audit_actions,
    bearer,
    csrf_of,
    log_in,
)


def _session_headers(client: TestClient, email: str) -> dict[str, str]:
    log_in(client, email)
    return {"X-CSRF-Token": csrf_of(client.get("/").text)}


def _user_id(session: Session, email: str) -> int:
    user = users.user_by_email(session, email)
    assert user is not None
    return user.id


# ------------------------------------------------------------------ tokens


def test_a_token_cannot_mint_tokens_or_reset_links(client: TestClient, session: Session) -> None:
    token = bearer(session, ADMIN)
    made = client.post("/api/v1/tokens", json={"name": "child", "days": 30}, headers=token)
    assert made.status_code == 403
    assert "logg inn med passordet" in made.json()["detail"]
    viewer = _user_id(session, A_VIEWER)
    reset = client.post(f"/api/v1/users/{viewer}/password-reset", headers=token)
    assert reset.status_code == 403
    assert [t["name"] for t in client.get("/api/v1/tokens", headers=token).json()] == ["test"]


def test_every_token_expires_within_the_maximum(client: TestClient, session: Session) -> None:
    csrf = _session_headers(client, ADMIN)
    for body in ({"name": "forever", "days": None}, {"name": "long", "days": 400}):
        assert client.post("/api/v1/tokens", json=body, headers=csrf).status_code == 422
    made = client.post("/api/v1/tokens", json={"name": "ci"}, headers=csrf)
    assert made.status_code == 201
    created = made.json()
    assert created["expires"] is not None
    headers = {"Authorization": f"Bearer {created['token']}"}
    assert client.get("/api/v1/me", headers=headers).json()["email"] == ADMIN
    assert (ADMIN, "token:create", f"token/{created['id']}") in audit_actions(session)


def test_a_lower_maximum_applies_to_tokens_made_before(
    settings: WebSettings, engine: Engine, session: Session
) -> None:
    headers = bearer(session, ADMIN, days=300)
    strict = settings.model_copy(update={"token_max_days": 1})
    client = TestClient(create_app(strict, engine), base_url="https://testserver")
    assert client.get("/api/v1/me", headers=headers).status_code == 200  # made just now
    csrf = _session_headers(client, ADMIN)
    answer = client.post("/api/v1/tokens", json={"name": "ci", "days": 2}, headers=csrf)
    assert answer.status_code == 422 and "1" in answer.json()["detail"]


def test_admins_revoke_any_token_others_only_their_own(
    client: TestClient, session: Session
) -> None:
    viewer = bearer(session, A_VIEWER)
    other = bearer(session, A_ADMIN)
    viewer_id = _user_id(session, A_VIEWER)
    admin = bearer(session, ADMIN)
    (listed,) = client.get(f"/api/v1/users/{viewer_id}/tokens", headers=admin).json()
    assert client.delete(f"/api/v1/tokens/{listed['id']}", headers=other).status_code == 404
    assert client.get("/api/v1/me", headers=viewer).status_code == 200
    assert client.delete(f"/api/v1/tokens/{listed['id']}", headers=admin).status_code == 204
    assert client.get("/api/v1/me", headers=viewer).status_code == 401
    assert (ADMIN, "token:revoke", f"token/{listed['id']}") in audit_actions(session)
    assert client.get(f"/api/v1/users/{viewer_id}/tokens", headers=other).status_code == 403


# ------------------------------------------------------------------ the API


def test_an_admin_manages_accounts_through_the_api(client: TestClient, session: Session) -> None:
    admin = bearer(session, ADMIN)
    viewer_token = bearer(session, A_VIEWER)
    listed = client.get("/api/v1/users", headers=admin).json()
    assert listed["total"] == 5
    viewer = next(u for u in listed["items"] if u["email"] == A_VIEWER)
    assert viewer == {**viewer, "role": "org_viewer", "orgnr": ORG_A, "disabled": False}
    path = f"/api/v1/users/{viewer['id']}"
    promoted = client.patch(path, json={"role": "org_admin"}, headers=admin).json()
    assert promoted["role"] == "org_admin" and promoted["orgnr"] == ORG_A
    national = client.patch(path, json={"role": "national_analyst"}, headers=admin).json()
    assert national["orgnr"] is None
    lost = client.patch(path, json={"role": "org_viewer"}, headers=admin)
    assert lost.status_code == 422  # an organisation role needs its organisation
    back = {"role": "org_viewer", "orgnr": ORG_A}
    assert client.patch(path, json=back, headers=admin).status_code == 200
    disabled = client.patch(path, json={"disabled": True}, headers=admin).json()
    assert disabled["disabled"] is True
    assert client.get("/api/v1/me", headers=viewer_token).status_code == 401
    client.patch(path, json={"disabled": False}, headers=admin)
    assert client.get("/api/v1/me", headers=viewer_token).status_code == 200
    assert client.get(path, headers=viewer_token).status_code == 403  # not an admin
    assert client.delete(path, headers=admin).status_code == 204
    assert client.get(path, headers=admin).status_code == 404
    assert client.get("/api/v1/me", headers=viewer_token).status_code == 401
    assert [a for a in audit_actions(session) if a[0] == ADMIN and a[2] == A_VIEWER] == [
        (ADMIN, "user:role", A_VIEWER),
        (ADMIN, "user:role", A_VIEWER),
        (ADMIN, "user:role", A_VIEWER),
        (ADMIN, "user:disable", A_VIEWER),
        (ADMIN, "user:enable", A_VIEWER),
        (ADMIN, "user:delete", A_VIEWER),
    ]


def test_the_last_admin_stays(client: TestClient, session: Session) -> None:
    admin = bearer(session, ADMIN)
    path = f"/api/v1/users/{_user_id(session, ADMIN)}"
    for change in ({"disabled": True}, {"role": "national_analyst"}):
        refused = client.patch(path, json=change, headers=admin)
        assert refused.status_code == 422
        assert "siste aktive nasjonale administratoren" in refused.json()["detail"]
    assert client.delete(path, headers=admin).status_code == 422
    assert client.get("/api/v1/me", headers=admin).json()["role"] == "national_admin"


def test_the_api_schema_has_the_account_endpoints(client: TestClient) -> None:
    paths = client.get("/api/v1/openapi.json").json()["paths"]
    assert {"get", "patch", "delete"} <= set(paths["/api/v1/users/{user_id}"])
    assert "post" in paths["/api/v1/users/{user_id}/password-reset"]
    assert "get" in paths["/api/v1/users/{user_id}/tokens"]
    assert "get" in paths["/api/v1/users"]


# ------------------------------------------------------------------ reset links


def test_a_reset_link_sets_a_good_password_once(client: TestClient, session: Session) -> None:
    csrf = _session_headers(client, ADMIN)
    viewer = _user_id(session, A_VIEWER)
    made = client.post(f"/api/v1/users/{viewer}/password-reset", headers=csrf)
    assert made.status_code == 201
    link = made.json()["url"]
    assert link.startswith("http://127.0.0.1:8000/nytt-passord/")
    path = link.removeprefix("http://127.0.0.1:8000")
    holder = TestClient(client.app, base_url="https://testserver")
    log_in(holder, A_VIEWER)  # a session from before the reset
    stranger = TestClient(client.app, base_url="https://testserver")
    form = stranger.get(path)
    assert form.status_code == 200 and A_VIEWER in form.text
    csrf_token = csrf_of(form.text)
    weak = stranger.post(
        path, data={"password": "password1234", "again": "password1234", "csrf_token": csrf_token}
    )
    assert weak.status_code == 400
    assert "Dette passordet er et av de vanligste passordene." in weak.text
    english = stranger.post(
        path + "?lang=en",
        data={"password": "Sommer2024!!", "again": "Sommer2024!!", "csrf_token": csrf_token},
    )
    assert "This password is too easy to guess" in html.unescape(english.text)
    path += "?lang=nb"  # the English answer set the language cookie
    new = "tre ulike ord som ingen gjetter"
    differ = stranger.post(
        path, data={"password": new, "again": new + "x", "csrf_token": csrf_token}
    )
    assert differ.status_code == 400
    done = stranger.post(path, data={"password": new, "again": new, "csrf_token": csrf_token})
    assert done.status_code == 200 and "logget ut overalt" in done.text
    assert holder.get("/api/v1/me").status_code == 401  # every earlier session ended
    assert stranger.get(path).status_code == 404  # used once
    log_in(stranger, A_VIEWER, new)
    assert (A_VIEWER, "password:reset", A_VIEWER) in audit_actions(session)
    assert (ADMIN, "password:reset_link", A_VIEWER) in audit_actions(session)


# ------------------------------------------------------------------ the pages


def test_the_user_pages_are_for_national_admins(client: TestClient) -> None:
    log_in(client, ANALYST)
    assert client.get("/brukere").status_code == 403
    page = client.get("/")
    denied = client.post(
        "/brukere/1/status", data={"status": "disabled", "csrf_token": csrf_of(page.text)}
    )
    assert denied.status_code == 403


def test_an_admin_manages_accounts_on_the_pages(client: TestClient, session: Session) -> None:
    bearer(session, A_VIEWER)
    log_in(client, ADMIN)
    listing = client.get("/brukere")
    assert listing.status_code == 200 and "Brukere" in listing.text and A_VIEWER in listing.text
    assert "Users" in client.get("/brukere", params={"lang": "en"}).text
    client.get("/brukere", params={"lang": "nb"})
    csrf = csrf_of(listing.text)
    viewer = _user_id(session, A_VIEWER)
    assert client.post(f"/brukere/{viewer}/status", data={"status": "disabled"}).status_code == 403
    disabled = client.post(
        f"/brukere/{viewer}/status", data={"status": "disabled", "csrf_token": csrf}
    )
    assert "Kontoen er deaktivert" in disabled.text
    other = TestClient(client.app, base_url="https://testserver")
    form = other.get("/login")
    data = {"email": A_VIEWER, "password": PASSWORD, "csrf_token": csrf_of(form.text)}
    refused = other.post("/login", data=data)
    assert refused.status_code == 403 and "deaktivert" in refused.text
    client.post(f"/brukere/{viewer}/status", data={"status": "enabled", "csrf_token": csrf})
    role = {"role": "org_admin", "orgnr": ORG_A, "csrf_token": csrf}
    assert "Rollen er endret" in client.post(f"/brukere/{viewer}/rolle", data=role).text
    tokens = client.get(f"/brukere/{viewer}")
    assert "API-tokener" in tokens.text
    (token,) = users.tokens_of(session, users.find_user(session, A_VIEWER))
    revoked = client.post(f"/brukere/{viewer}/nokler/{token.id}/slett", data={"csrf_token": csrf})
    assert "Tokenet er trukket tilbake" in revoked.text
    issued = client.post(f"/brukere/{viewer}/tilbakestill", data={"csrf_token": csrf})
    assert "/nytt-passord/" in issued.text and "Den vises bare nå" in issued.text
    wrong = client.post(
        f"/brukere/{viewer}/slett", data={"confirm": "x@y.test", "csrf_token": csrf}
    )
    assert wrong.status_code == 400
    deleted = client.post(
        f"/brukere/{viewer}/slett", data={"confirm": A_VIEWER, "csrf_token": csrf}
    )
    assert "Kontoen er slettet" in deleted.text and A_VIEWER not in deleted.text
    actions = [a[1] for a in audit_actions(session) if a[0] == ADMIN]
    assert actions[-6:] == [
        "user:disable", "user:enable", "user:role", "token:revoke",
        "password:reset_link", "user:delete",
    ]  # fmt: skip


# ------------------------------------------------------------------ no lock-out from elsewhere


def _try(app: FastAPI, address: str, email: str, password: str) -> int:
    client = TestClient(app, base_url="https://testserver", client=(address, 40000))
    form = client.get("/login")
    data = {"email": email, "password": password, "csrf_token": csrf_of(form.text)}
    return client.post("/login", data=data, follow_redirects=False).status_code


def test_guessing_from_elsewhere_cannot_lock_a_user_out(
    settings: WebSettings, engine: Engine, session: Session
) -> None:
    app = create_app(settings, engine)
    home, guesser = "192.0.2.10", "192.0.2.66"
    assert _try(app, home, A_VIEWER, PASSWORD) == 303  # the user's usual address
    # One address guessing one account: that address waits (and stays waiting).
    for _ in range(settings.login_attempts_per_account):
        assert _try(app, guesser, A_VIEWER, "wrong") == 400
    assert _try(app, guesser, A_VIEWER, PASSWORD) == 429
    # Many addresses guessing one account: the account waits, but only briefly, and not at
    # the user's usual address.
    for n in range(20):
        _try(app, f"192.0.2.{100 + n}", A_VIEWER, "wrong")
    assert _try(app, home, A_VIEWER, PASSWORD) == 303
    client = TestClient(app, base_url="https://testserver", client=("192.0.2.200", 40000))
    form = client.get("/login")
    data = {"email": A_VIEWER, "password": PASSWORD, "csrf_token": csrf_of(form.text)}
    elsewhere = client.post("/login", data=data, follow_redirects=False)
    assert elsewhere.status_code == 429
    assert int(elsewhere.headers["retry-after"]) <= settings.login_account_max_wait_seconds
    # Nor do the guesses hold up another account, from the guesser's address or any.
    assert _try(app, guesser, A_ADMIN, PASSWORD) == 303


def test_guessing_behind_a_shared_address_spares_its_regular_users(
    settings: WebSettings, engine: Engine
) -> None:
    app = create_app(settings, engine)
    office = "192.0.2.20"
    assert _try(app, office, A_ADMIN, PASSWORD) == 303  # a regular of the office
    for n in range(settings.login_attempts_per_address):
        assert _try(app, office, f"guess{n}@x.test", "wrong") == 400
    assert _try(app, office, B_VIEWER, PASSWORD) == 429  # new here: the address waits
    assert _try(app, office, A_ADMIN, PASSWORD) == 303
