"""The back channel to one OpenID provider: its discovery document, its keys (JWKS), and
the token endpoint. The one module of the web that opens connections (pyproject's contract
names it), each with `UTSYN_OIDC_TIMEOUT_SECONDS` and a size limit.

The discovery document and the keys are cached for the process; an ID token signed with a
key id the cache lacks makes the keys be fetched again once (the provider rotated them).
ID tokens arrive only from the token endpoint, never from the browser, so a stranger cannot
make Utsyn refetch at will.
"""

from __future__ import annotations

import threading
from typing import Any
from urllib.parse import urlencode

import httpx
from authlib.oauth2.rfc7523 import private_key_jwt_sign
from authlib.oauth2.rfc7636 import create_s256_code_challenge
from joserfc.errors import JoseError
from joserfc.jwk import KeySet

from utsyn.i18n import N_
from utsyn.web.oidc_keys import SigningKeys
from utsyn.web.oidc_settings import Provider

MAX_BYTES = 1024 * 1024  # a discovery document, a key set or a token response


class OidcRefused(Exception):
    """A login through a provider refused: `reason` for the audit, `message` for the page."""

    def __init__(self, reason: str, message: str, **detail: object) -> None:
        super().__init__(reason)
        self.reason = reason
        self.message = message
        self.detail = detail


UNREACHABLE = N_("The identity provider could not be reached. Try again later.")
NOT_VERIFIED = N_("The identity provider's answer could not be verified. Start again.")


class ProviderClient:
    def __init__(self, provider: Provider, keys: SigningKeys, timeout: float) -> None:
        self.provider = provider
        self._signing = keys
        self._timeout = timeout
        self._lock = threading.Lock()
        self._metadata: dict[str, Any] | None = None
        self._keys: KeySet | None = None

    def metadata(self) -> dict[str, Any]:
        """The discovery document; its issuer must be the configured one, exactly."""
        with self._lock:
            if self._metadata is None:
                url = self.provider.issuer.rstrip("/") + "/.well-known/openid-configuration"
                found = self._get_json(url)
                if found.get("issuer") != self.provider.issuer:
                    raise OidcRefused("discovery", NOT_VERIFIED, issuer=found.get("issuer"))
                self._metadata = found
            return self._metadata

    def keys(self, refresh: bool = False) -> KeySet:
        """The provider's signing keys (fetched again when `refresh`)."""
        uri = self.metadata().get("jwks_uri")
        with self._lock:
            if self._keys is None or refresh:
                try:
                    self._keys = KeySet.import_key_set(self._get_json(str(uri)))  # type: ignore[arg-type]
                except (JoseError, ValueError, TypeError) as exc:
                    raise OidcRefused("jwks", NOT_VERIFIED) from exc
            return self._keys

    def authorization_url(
        self, redirect_uri: str, state: str, nonce: str, verifier: str, language: str
    ) -> str:
        """The authorization code request: PKCE S256 always, `acr_values`, `ui_locales`."""
        params = {
            "response_type": "code",
            "client_id": self.provider.client_id,
            "redirect_uri": redirect_uri,
            "scope": " ".join(self.provider.scopes),
            "state": state,
            "nonce": nonce,
            "code_challenge": create_s256_code_challenge(verifier),
            "code_challenge_method": "S256",
            "ui_locales": language,
        }
        if self.provider.acr_values:
            params["acr_values"] = " ".join(self.provider.acr_values)
        endpoint = str(self.metadata()["authorization_endpoint"])
        return endpoint + ("&" if "?" in endpoint else "?") + urlencode(params)

    def exchange(self, code: str, redirect_uri: str, verifier: str) -> dict[str, Any]:
        """The token response for `code`, the client authenticated as configured."""
        endpoint = str(self.metadata()["token_endpoint"])
        form = {
            "grant_type": "authorization_code",
            "code": code,
            "redirect_uri": redirect_uri,
            "code_verifier": verifier,
        }
        auth = httpx.Auth()  # the base class adds nothing
        provider = self.provider
        secret = provider.client_secret.get_secret_value() if provider.client_secret else ""
        if provider.auth_method == "client_secret_basic":
            auth = httpx.BasicAuth(provider.client_id, secret)
        elif provider.auth_method == "client_secret_post":
            form |= {"client_id": provider.client_id, "client_secret": secret}
        else:
            assertion = private_key_jwt_sign(
                self._signing.private_jwk(),
                provider.client_id,
                endpoint,
                alg=self._signing.algorithm,
                header={"kid": self._signing.current.kid},
            )
            form |= {
                "client_id": provider.client_id,
                "client_assertion_type": "urn:ietf:params:oauth:client-assertion-type:jwt-bearer",
                "client_assertion": str(assertion),
            }
        return self._post_json(endpoint, form, auth)

    def _get_json(self, url: str) -> dict[str, Any]:
        try:
            with httpx.Client(timeout=self._timeout) as client:
                response = client.get(url, headers={"Accept": "application/json"})
        except httpx.HTTPError as exc:
            raise OidcRefused("unreachable", UNREACHABLE, url=url) from exc
        if response.status_code != 200:
            raise OidcRefused("unreachable", UNREACHABLE, url=url, status=response.status_code)
        return _json_object(response, "unreachable", UNREACHABLE)

    def _post_json(self, url: str, form: dict[str, str], auth: httpx.Auth) -> dict[str, Any]:
        try:
            with httpx.Client(timeout=self._timeout) as client:
                response = client.post(url, data=form, auth=auth)
        except httpx.HTTPError as exc:
            raise OidcRefused("unreachable", UNREACHABLE, url=url) from exc
        body = _json_object(response, "token", NOT_VERIFIED)
        if response.status_code != 200:
            # invalid_grant: a used code, a wrong PKCE verifier, another client's code.
            raise OidcRefused("token", NOT_VERIFIED, error=str(body.get("error", ""))[:100])
        return body


def _json_object(response: httpx.Response, reason: str, message: str) -> dict[str, Any]:
    if len(response.content) > MAX_BYTES:
        raise OidcRefused(reason, message, size=len(response.content))
    try:
        found = response.json()
    except ValueError as exc:
        raise OidcRefused(reason, message) from exc
    if not isinstance(found, dict):
        raise OidcRefused(reason, message)
    return found
