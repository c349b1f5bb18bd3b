"""Checking an ID token: signature by the provider's keys (refetched once for an unknown
key id), issuer, audience (and `azp` when there are several), expiry and issue time with
`UTSYN_OIDC_CLOCK_SKEW_SECONDS` of leeway, the nonce of this login, and the level of
assurance (`acr`) against the profile's accepted levels. Anything else is refused."""

from __future__ import annotations

from typing import Any

from joserfc import jwt
from joserfc.errors import ExpiredTokenError, JoseError, MissingClaimError
from joserfc.jws import extract_compact

from utsyn.i18n import N_
from utsyn.web.oidc_client import NOT_VERIFIED, OidcRefused, ProviderClient
from utsyn.web.security import same_secret

# Asymmetric only: an HS256 token would be "signed" with the client secret, and `none` not at all.
ALGORITHMS = ("RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "ES512")
_REASONS = {"aud": "audience", "iss": "issuer", "iat": "issued", "nbf": "issued"}
LOW_ASSURANCE = N_(
    "The identity provider signed you in at a lower level of assurance than Utsyn requires."
)


def validate_id_token(
    client: ProviderClient, token: str, nonce: str, now: int, leeway: int
) -> dict[str, Any]:
    """The ID token's claims, or `OidcRefused` naming what failed."""
    provider = client.provider
    try:
        kid = extract_compact(token.encode("ascii")).protected.get("kid")
    except (JoseError, ValueError, UnicodeError) as exc:
        raise OidcRefused("malformed", NOT_VERIFIED) from exc
    keys = client.keys()
    if kid is not None and all(key.kid != kid for key in keys.keys):
        keys = client.keys(refresh=True)
    try:
        claims = dict(jwt.decode(token, keys, algorithms=list(ALGORITHMS)).claims)
    except JoseError as exc:
        raise OidcRefused("signature", NOT_VERIFIED, kid=kid) from exc
    registry = jwt.JWTClaimsRegistry(
        now=now,
        leeway=leeway,
        iss={"essential": True, "value": provider.issuer},
        aud={"essential": True, "value": provider.client_id},
        sub={"essential": True},
        exp={"essential": True},
        iat={"essential": True},
    )
    try:
        registry.validate(claims)
    except ExpiredTokenError as exc:
        raise OidcRefused("expired", NOT_VERIFIED, exp=claims.get("exp")) from exc
    except MissingClaimError as exc:
        raise OidcRefused("claims", NOT_VERIFIED, error=str(exc)) from exc
    except JoseError as exc:
        reason = _REASONS.get(str(getattr(exc, "claim", "")), "claims")
        raise OidcRefused(reason, NOT_VERIFIED, error=str(exc)[:200]) from exc
    audiences = claims["aud"] if isinstance(claims["aud"], list) else [claims["aud"]]
    if len(audiences) > 1 and claims.get("azp") != provider.client_id:
        raise OidcRefused("audience", NOT_VERIFIED, aud=audiences)
    if not isinstance(claims.get("nonce"), str) or not same_secret(claims["nonce"], nonce):
        raise OidcRefused("nonce", NOT_VERIFIED)
    accepted = provider.accepted_acr
    if accepted and claims.get("acr") not in accepted:
        raise OidcRefused("acr", LOW_ASSURANCE, acr=claims.get("acr"), accepted=list(accepted))
    return claims
