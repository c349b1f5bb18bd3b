"""Single sign-on through a real OpenID provider (panva's oidc-provider under Node, started
here on loopback): a login per client authentication method, and every refusal a clear
page and an audit row."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from joserfc.jwk import ECKey
from sqlalchemy import Engine, select
from sqlalchemy.orm import Session

from utsyn.store.identities import NO_PASSWORD
from utsyn.store.models import AuditLog, OidcIdentity, User
from utsyn.web.app import create_app
from utsyn.web.oidc import FLOW_COOKIE, Flow, OidcRuntime
from utsyn.web.settings import WebSettings

from .conftest import ORG_A, csrf_of
from .oidc_provider import (
    LOA,
    UTSYN,
    authorize,
    back,
    free_port,
    provider_key,
    running_provider,
    start,
)

SECRET = "a-client-secret-long-enough-for-the-provider-1234567890"
ACCOUNTS = {
    "alice": {"email": "alice@kommune.test", "groups": ["utsyn-admins"]},
    "bob": {"email": "bob@ostmarkfk.test", "orgno": ORG_A},
    "eve": {"email": "eve@elsewhere.test"},
}
ROLES = [
    {"claim": "groups", "equals": "utsyn-admins", "role": "national_admin"},
    {"claim": "orgno", "role": "org_viewer", "orgnr_claim": "orgno"},
]
SCOPES = ["openid", "email", "profile"]


def _client(name: str, **extra: Any) -> dict[str, Any]:
    return {
        "client_id": f"utsyn-{name}",
        "redirect_uris": [f"{UTSYN}login/oidc/{name}/callback"],
        "grant_types": ["authorization_code"],
        "response_types": ["code"],
        **extra,
    }


def _secret_client(name: str, **extra: Any) -> dict[str, Any]:
    return _client(
        name, client_secret=SECRET, token_endpoint_auth_method="client_secret_basic", **extra
    )


def provider_config(
    port: int, keys: list[dict[str, Any]], utsyn_jwks: dict[str, Any]
) -> dict[str, Any]:
    return {
        "issuer": f"http://127.0.0.1:{port}",
        "host": "127.0.0.1",
        "port": port,
        "jwks": {"keys": keys},
        "acr_values": LOA,
        "accounts": ACCOUNTS,
        "clients": [
            _client(
                "jwt",
                token_endpoint_auth_method="private_key_jwt",
                token_endpoint_auth_signing_alg="ES256",
                jwks=utsyn_jwks,
            ),
            _secret_client("secret"),
            _secret_client("high"),
            _secret_client("late", id_token_ttl=-3600),
            _secret_client("aud", tamper_aud="someone-else"),
        ],
    }


def profiles(issuer: str) -> list[dict[str, Any]]:
    def profile(name: str, **extra: Any) -> dict[str, Any]:
        return {
            "name": name,
            "label": f"Test {name}",
            "issuer": issuer,
            "client_id": f"utsyn-{name}",
            "scopes": SCOPES,
            "acr_values": [LOA[0]],
            "acr_accepted": LOA,
            "roles": ROLES,
            **extra,
        }

    secret = {"auth_method": "client_secret_basic", "client_secret": SECRET}
    return [
        profile("jwt", auth_method="private_key_jwt"),
        profile("secret", **secret),
        profile("high", acr_values=[LOA[1]], acr_accepted=[LOA[1]], **secret),
        profile("late", **secret),
        profile("aud", **secret),
    ]


@pytest.fixture(scope="module")
def utsyn_key(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("oidc") / "utsyn-signing-key.pem"
    path.write_bytes(ECKey.generate_key("P-256", private=True).as_pem(private=True))
    return path


def _public(path: Path) -> dict[str, Any]:
    key = ECKey.import_key(path.read_bytes())
    key.ensure_kid()
    return {"keys": [key.as_dict(private=False)]}


@pytest.fixture(scope="module")
def issuer(utsyn_key: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    config = provider_config(free_port(), [provider_key()], _public(utsyn_key))
    with running_provider(config, tmp_path_factory.mktemp("provider")) as found:
        yield found


@pytest.fixture
def settings(tmp_path: Path, issuer: str, utsyn_key: Path) -> WebSettings:
    return _settings(tmp_path, issuer, utsyn_key)


def _settings(tmp_path: Path, issuer: str, utsyn_key: Path, **extra: Any) -> WebSettings:
    return WebSettings(
        data_dir=tmp_path / "data",
        cache_dir=tmp_path / "cache",
        secret_key="test-secret-" * 4,
        public_url="https://testserver",
        oidc_providers=profiles(issuer),
        oidc_signing_keys=(utsyn_key,),
        oidc_clock_skew_seconds=5,
        **extra,
    )


def _login(client: TestClient, name: str, account: str, acr: str = LOA[0]) -> httpx.Response:
    return back(client, authorize(start(client, name), account, acr)[0])


def _audit(session: Session, action: str) -> list[AuditLog]:
    session.commit()
    session.expire_all()
    query = select(AuditLog).where(AuditLog.action == action).order_by(AuditLog.id)
    return list(session.scalars(query))


def _refused(
    response: httpx.Response, session: Session, reason: str, logins_before: int = 0
) -> None:
    assert response.status_code == 403, response.text
    assert "Innlogging avvist" in response.text  # bokmål by default
    rows = _audit(session, "oidc:refused")
    assert rows and rows[-1].detail["reason"] == reason, [r.detail for r in rows]
    assert FLOW_COOKIE in response.headers.get("set-cookie", "")  # the flow is spent
    assert len(_audit(session, "login:success")) == logins_before


def test_private_key_jwt_login_provisions_a_national_admin(
    client: TestClient, session: Session
) -> None:
    response = _login(client, "jwt", "alice")
    assert response.status_code == 303, response.text
    assert response.headers["location"] == "/brukere"
    account = client.get("/brukere")
    assert account.status_code == 200 and "alice@kommune.test" in account.text
    user = session.scalars(select(User).where(User.email == "alice@kommune.test")).one()
    assert (user.role, user.org_id, user.password_hash) == ("national_admin", None, NO_PASSWORD)
    identity = session.get(OidcIdentity, ("jwt", "alice"))
    assert identity is not None and identity.user_id == user.id
    [success] = _audit(session, "login:success")
    assert success.detail | {"address": None} == {
        "address": None,
        "provider": "jwt",
        "subject": "alice",
        "acr": LOA[0],
        "rule": 0,
        "role": "national_admin",
    }
    assert [row.actor for row in _audit(session, "user:add")][-1] == "oidc:jwt"
    assert _audit(session, "oidc:link")[-1].subject == "alice@kommune.test"


def test_client_secret_login_maps_the_organisation_claim(
    client: TestClient, session: Session
) -> None:
    assert _login(client, "secret", "bob").status_code == 303
    user = session.scalars(select(User).where(User.email == "bob@ostmarkfk.test")).one()
    assert user.role == "org_viewer" and user.org_id is not None
    # A second login finds the same account through its link.
    client.cookies.clear()
    assert _login(client, "secret", "bob").status_code == 303
    assert len(_audit(session, "oidc:link")) == 1
    assert len(_audit(session, "login:success")) == 2


def test_a_person_no_rule_maps_gets_no_access(client: TestClient, session: Session) -> None:
    response = _login(client, "secret", "eve")
    _refused(response, session, "unknown")
    assert "gir ikke tilgang til Utsyn" in response.text and "Test secret" in response.text
    assert session.scalars(select(User).where(User.email == "eve@elsewhere.test")).all() == []


def test_a_lower_level_of_assurance_is_refused(client: TestClient, session: Session) -> None:
    response = _login(client, "high", "alice", acr=LOA[0])
    _refused(response, session, "acr")
    assert _audit(session, "oidc:refused")[-1].detail["acr"] == LOA[0]
    assert _login(client, "high", "alice", acr=LOA[1]).status_code == 303


def test_an_expired_id_token_is_refused(client: TestClient, session: Session) -> None:
    _refused(_login(client, "late", "alice"), session, "expired")


def test_an_id_token_for_another_audience_is_refused(client: TestClient, session: Session) -> None:
    _refused(_login(client, "aud", "alice"), session, "audience")


def test_a_callback_not_started_by_this_browser_is_refused(
    client: TestClient, session: Session
) -> None:
    first = start(client, "secret")
    start(client, "secret")  # a second login replaces the first's state in the cookie
    callback = authorize(first, "alice")[0]
    _refused(back(client, callback), session, "state")


def test_a_replayed_nonce_is_refused(client: TestClient, session: Session) -> None:
    url = start(client, "secret")
    flow_cookie = client.cookies.get(FLOW_COOKIE, path="/login/oidc/")
    first, second = authorize(url, "alice", times=2)  # two codes, one nonce
    assert back(client, first).status_code == 303
    client.cookies.set(FLOW_COOKIE, flow_cookie, path="/login/oidc/")  # a captured cookie
    _refused(back(client, second), session, "replay", logins_before=1)


def test_a_wrong_pkce_verifier_is_refused(
    client: TestClient, app: FastAPI, session: Session
) -> None:
    url = start(client, "secret")
    oidc = runtime_of(app)
    flow = oidc.loads(client.cookies.get(FLOW_COOKIE, path="/login/oidc/"))
    assert flow is not None
    forged = Flow(flow.provider, flow.state, flow.nonce, "x" * 64, flow.next)
    client.cookies.set(FLOW_COOKIE, oidc.dumps(forged), path="/login/oidc/")
    response = back(client, authorize(url, "alice")[0])
    _refused(response, session, "token")
    assert _audit(session, "oidc:refused")[-1].detail["error"] == "invalid_grant"


def test_the_provider_refuses_a_code_without_its_pkce_verifier(issuer: str) -> None:
    """Utsyn always sends a verifier; the provider must also insist on one."""
    metadata = httpx.get(f"{issuer}/.well-known/openid-configuration").json()
    assert "S256" in metadata["code_challenge_methods_supported"]
    answer = httpx.get(
        metadata["authorization_endpoint"],
        params={
            "response_type": "code",
            "client_id": "utsyn-secret",
            "redirect_uri": f"{UTSYN}login/oidc/secret/callback",
            "scope": "openid",
            "state": "s",
            "nonce": "n",
        },
    )
    assert answer.status_code == 303
    refusal = httpx.URL(answer.headers["location"]).params
    assert refusal["error"] == "invalid_request" and "PKCE" in refusal["error_description"]


def runtime_of(app: FastAPI) -> OidcRuntime:
    found = app.state.oidc
    assert isinstance(found, OidcRuntime)
    return found


def test_a_rotated_provider_key_is_fetched_again(
    tmp_path: Path, utsyn_key: Path, engine: Engine, session: Session
) -> None:
    port, old, new = free_port(), provider_key(), provider_key()
    utsyn_jwks = _public(utsyn_key)
    with running_provider(provider_config(port, [old], utsyn_jwks), tmp_path) as issuer:
        app = create_app(_settings(tmp_path, issuer, utsyn_key), engine)
        with TestClient(app, base_url="https://testserver") as client:
            assert _login(client, "secret", "alice").status_code == 303
    rotated = provider_config(port, [new, old], utsyn_jwks)
    with running_provider(rotated, tmp_path), TestClient(app, base_url=UTSYN) as client:
        assert _login(client, "secret", "alice").status_code == 303
    kids = {key.kid for key in runtime_of(app).clients["secret"].keys().keys}
    assert kids == {old["kid"], new["kid"]}


def test_utsyn_publishes_its_public_keys_only(client: TestClient, utsyn_key: Path) -> None:
    published = client.get("/.well-known/jwks.json").json()
    [key] = published["keys"]
    assert key["kid"] == _public(utsyn_key)["keys"][0]["kid"]
    assert "d" not in key and key["alg"] == "ES256" and key["use"] == "sig"


def test_the_login_page_offers_the_providers_and_passwords_can_be_switched_off(
    tmp_path: Path, issuer: str, utsyn_key: Path, engine: Engine, client: TestClient
) -> None:
    csrf = csrf_of(client.get("/login").text)  # a session from the app with passwords
    settings = _settings(tmp_path, issuer, utsyn_key, local_passwords=False)
    with TestClient(create_app(settings, engine), base_url=UTSYN) as without:
        without.cookies = client.cookies  # the same secret key: the same session
        page = without.get("/login")
        assert 'href="/login/oidc/jwt?next=/"' in page.text and "Logg inn med Test jwt" in page.text
        assert 'type="password"' not in page.text
        form = {"email": "admin@utsyn.test", "password": "x", "csrf_token": csrf}
        refused = without.post("/login", data=form)
        assert refused.status_code == 403 and "Passord er slått av" in refused.text
