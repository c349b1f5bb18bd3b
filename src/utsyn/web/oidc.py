"""Logging in through an OpenID provider: the authorization code flow with PKCE (S256,
always), `state` and `nonce`, and Utsyn's public keys at `/.well-known/jwks.json`.

    GET /login/oidc/<name>           ─▶ the provider (state, nonce, PKCE kept in a signed
                                        cookie for ten minutes, for this path only)
    GET /login/oidc/<name>/callback  ◀─ code and state: the state must be this browser's;
                                        the code is exchanged (client secret or
                                        private_key_jwt), the ID token checked
                                        (`oidc_tokens`), its nonce spent once, the claims
                                        mapped to a role (`oidc_roles`), the account linked
                                        or made (`store.identities`), a session started.

Every outcome is audited: `login:success` (with the provider, subject, acr and the rule
that gave the role) or `oidc:refused` (with the reason); a refusal is a page saying why.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from fastapi import APIRouter, Request
from itsdangerous import BadSignature, URLSafeTimedSerializer
from starlette.responses import JSONResponse, RedirectResponse, Response

from utsyn.clock import now_utc
from utsyn.errors import ConfigError
from utsyn.store import identities, users
from utsyn.store.models import User
from utsyn.store.orgs import organisation
from utsyn.web.auth import client_address, safe_next, start_session
from utsyn.web.deps import DbSession, context
from utsyn.web.i18n import N_, Translator, request_language
from utsyn.web.oidc_client import OidcRefused, ProviderClient
from utsyn.web.oidc_keys import SigningKeys, load_signing_keys
from utsyn.web.oidc_roles import decide
from utsyn.web.oidc_settings import Provider
from utsyn.web.oidc_tokens import validate_id_token
from utsyn.web.problems import ADVICE, Problem
from utsyn.web.security import new_secret, same_secret
from utsyn.web.settings import WebSettings
from utsyn.web.templates import render_error

FLOW_COOKIE = "utsyn_oidc"
FLOW_PATH = "/login/oidc/"
FLOW_SECONDS = 600
NO_ACCESS = N_("Your account at %(provider)s gives no access to Utsyn. Ask your administrator.")
DISABLED = N_("This account is disabled. Ask an administrator.")
STARTED_ELSEWHERE = N_("This sign-in was not started here, or took too long. Start again.")
REPLAYED = N_("This sign-in answer was used already. Start again.")
DECLINED = N_("The identity provider did not sign you in.")
_PLAIN_SUBJECT = re.compile(r"[A-Za-z0-9._=-]{1,64}")

router = APIRouter(include_in_schema=False)


@dataclass(frozen=True)
class Flow:
    """One login under way, kept in the browser (signed) between the two requests."""

    provider: str
    state: str
    nonce: str
    verifier: str
    next: str


class OidcRuntime:
    """The app's providers and keys (in `app.state.oidc`)."""

    def __init__(self, settings: WebSettings) -> None:
        self.keys: SigningKeys = load_signing_keys(settings)
        timeout = settings.oidc_timeout_seconds
        self.clients = {
            provider.name: ProviderClient(provider, self.keys, timeout)
            for provider in settings.oidc_providers
        }
        self.flows = URLSafeTimedSerializer(settings.signing_key(), salt="utsyn.oidc.flow")

    def dumps(self, flow: Flow) -> str:
        return self.flows.dumps([flow.provider, flow.state, flow.nonce, flow.verifier, flow.next])

    def loads(self, cookie: str | None) -> Flow | None:
        if not cookie:
            return None
        try:
            found = self.flows.loads(cookie, max_age=FLOW_SECONDS)
        except BadSignature:  # SignatureExpired is one
            return None
        if not isinstance(found, list) or len(found) != 5:
            return None
        if not all(isinstance(part, str) for part in found):
            return None
        return Flow(*found)


def runtime(request: Request) -> OidcRuntime:
    found = request.app.state.oidc
    assert isinstance(found, OidcRuntime)
    return found


def redirect_uri(settings: WebSettings, provider: Provider) -> str:
    return f"{settings.public_url}{FLOW_PATH}{provider.name}/callback"


@router.get("/.well-known/jwks.json")
def jwks(request: Request) -> Response:
    """Utsyn's public keys, for providers checking its `private_key_jwt` assertions."""
    return JSONResponse(runtime(request).keys.public_jwks())


@router.get("/login/oidc/{name}")
def start(request: Request, session: DbSession, name: str, next: str = "/") -> Response:
    oidc = runtime(request)
    client = _client(oidc, name)
    flow = Flow(name, new_secret(), new_secret(), new_secret(48), safe_next(next))
    settings = context(request).settings
    try:
        url = client.authorization_url(
            redirect_uri(settings, client.provider),
            flow.state,
            flow.nonce,
            flow.verifier,
            request_language(request),
        )
    except OidcRefused as refused:
        return _refuse(request, session, client.provider, refused, None)
    response = RedirectResponse(url, status_code=303)
    response.set_cookie(
        FLOW_COOKIE,
        oidc.dumps(flow),
        max_age=FLOW_SECONDS,
        path=FLOW_PATH,
        secure=request.url.scheme == "https",
        httponly=True,
        samesite="lax",  # the provider's redirect back is a top-level GET: the cookie comes
    )
    return response


@router.get("/login/oidc/{name}/callback")
def callback(
    request: Request,
    session: DbSession,
    name: str,
    code: str | None = None,
    state: str | None = None,
    error: str | None = None,
) -> Response:
    oidc = runtime(request)
    client = _client(oidc, name)
    provider = client.provider
    flow = oidc.loads(request.cookies.get(FLOW_COOKIE))
    settings = context(request).settings
    claims: dict[str, Any] | None = None
    now = now_utc()
    try:
        if flow is None or flow.provider != name or not same_secret(state, flow.state):
            raise OidcRefused("state", STARTED_ELSEWHERE)
        if error is not None or not code:
            raise OidcRefused("declined", DECLINED, error=(error or "")[:100])
        tokens = client.exchange(code, redirect_uri(settings, provider), flow.verifier)
        id_token = tokens.get("id_token")
        if not isinstance(id_token, str):
            raise OidcRefused("malformed", STARTED_ELSEWHERE)
        leeway = settings.oidc_clock_skew_seconds
        claims = validate_id_token(client, id_token, flow.nonce, int(now.timestamp()), leeway)
        until = datetime.fromtimestamp(int(claims["exp"]) + leeway, UTC)
        if not identities.spend_nonce(session, _digest(flow.nonce), until, now):
            raise OidcRefused("replay", REPLAYED)
        user, rule = _account(session, provider, claims, now)
    except OidcRefused as refused:
        return _refuse(request, session, provider, refused, claims)
    start_session(request, session, user.id, user.password_hash)
    detail = {
        "address": client_address(request),
        "provider": name,
        "subject": claims["sub"],
        "acr": claims.get("acr"),
        "rule": rule,
        "role": user.role,
    }
    users.audit(session, user.email, "login:success", user.email, now, detail)
    response = RedirectResponse(flow.next, status_code=303)
    response.delete_cookie(FLOW_COOKIE, path=FLOW_PATH)
    return response


def _client(oidc: OidcRuntime, name: str) -> ProviderClient:
    client = oidc.clients.get(name)
    if client is None:
        raise Problem(404, N_("Not found"), N_("No such identity provider."))
    return client


def _account(
    session: DbSession, provider: Provider, claims: dict[str, Any], now: datetime
) -> tuple[User, int]:
    """The local account the claims sign in to, with the role the operator's rules give,
    and the rule that gave it."""
    decision = decide(provider, claims)
    if decision is None:
        raise OidcRefused("unknown", NO_ACCESS)
    subject = str(claims["sub"])
    try:
        org_id = organisation(session, decision.orgnr).id if decision.orgnr else None
        user = identities.sign_in(
            session, provider.name, subject, _email(provider, claims), decision.role, org_id, now
        )
    except ConfigError as exc:  # an organisation not in the database, a role without one
        raise OidcRefused("mapping", NO_ACCESS, error=exc.message) from exc
    if user.disabled:
        raise OidcRefused("disabled", DISABLED)
    return user, decision.rule


def _email(provider: Provider, claims: dict[str, Any]) -> str:
    """The e-mail claim, or an address that cannot receive mail (ID-porten gives none)."""
    email = claims.get(provider.email_claim)
    if isinstance(email, str) and "@" in email and len(email) <= 254:
        return email
    subject = str(claims["sub"])
    local = subject if _PLAIN_SUBJECT.fullmatch(subject) else _digest(subject)[:32]
    return f"{local}@{provider.name}.invalid"


def _refuse(
    request: Request,
    session: DbSession,
    provider: Provider,
    refused: OidcRefused,
    claims: dict[str, Any] | None,
) -> Response:
    subject = str(claims["sub"]) if claims else ""
    detail = {"address": client_address(request), "reason": refused.reason, **refused.detail}
    if subject:
        detail["subject"] = subject
    actor = f"oidc:{provider.name}"
    users.audit(session, actor, "oidc:refused", subject or provider.name, now_utc(), detail)
    translate = Translator(request_language(request))
    title = translate.gettext("Sign-in refused")
    text = translate.gettext(refused.message, provider=provider.label)
    response = render_error(request, 403, title, text, ADVICE[403])
    response.delete_cookie(FLOW_COOKIE, path=FLOW_PATH)
    return response


def _digest(value: str) -> str:
    return hashlib.sha256(value.encode("utf-8")).hexdigest()
