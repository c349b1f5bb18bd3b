"""OpenID Connect provider profiles, read from `UTSYN_OIDC_PROVIDERS` (a JSON list).

One profile per provider Utsyn's login page offers:

    [{"name": "idporten", "label": "ID-porten",
      "issuer": "https://idporten.no", "client_id": "…",
      "auth_method": "private_key_jwt",
      "scopes": ["openid", "profile"],
      "acr_values": ["idporten-loa-substantial"],
      "acr_accepted": ["idporten-loa-substantial", "idporten-loa-high"],
      "roles": [{"claim": "orgno", "role": "org_viewer", "orgnr_claim": "orgno"}]}]

`roles` decides who gets in, and as what: the first rule whose claim matches gives the role
(and the organisation, fixed or from a claim); a person no rule matches has no access.
"""

from __future__ import annotations

from typing import Literal
from urllib.parse import urlsplit

from pydantic import BaseModel, ConfigDict, Field, SecretStr, model_validator

AuthMethod = Literal["client_secret_basic", "client_secret_post", "private_key_jwt"]


class RoleRule(BaseModel):
    """A claim that gives a role: it equals `equals` (or a list claim contains it), or it is
    an e-mail address at `domain`, or (neither given) it is present at all."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    claim: str = Field(min_length=1, max_length=100)
    equals: str | None = None
    domain: str | None = None
    role: str
    orgnr: str | None = None  # the organisation, fixed
    orgnr_claim: str | None = None  # or read from this claim (e.g. "orgno")


class Provider(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str = Field(pattern=r"^[a-z0-9][a-z0-9-]{0,39}$")  # in the redirect URI
    label: str = Field(min_length=1, max_length=60)  # on the login page's button
    issuer: str = Field(pattern=r"^https?://")
    client_id: str = Field(min_length=1)
    client_secret: SecretStr | None = None
    auth_method: AuthMethod = "private_key_jwt"
    scopes: tuple[str, ...] = ("openid", "email", "profile")
    acr_values: tuple[str, ...] = ()  # asked for
    acr_accepted: tuple[str, ...] | None = None  # the returned `acr` must be one (default: asked)
    email_claim: str = "email"
    roles: tuple[RoleRule, ...] = ()

    @model_validator(mode="after")
    def _consistent(self) -> Provider:
        if self.auth_method != "private_key_jwt" and self.client_secret is None:
            raise ValueError(f"{self.name}: {self.auth_method} needs a client_secret")
        host = urlsplit(self.issuer).hostname or ""
        if self.issuer.startswith("http://") and host not in ("127.0.0.1", "::1", "localhost"):
            raise ValueError(f"{self.name}: an issuer is https:// (http:// on loopback only)")
        if "openid" not in self.scopes:
            raise ValueError(f"{self.name}: the scopes must include openid")
        return self

    @property
    def accepted_acr(self) -> tuple[str, ...]:
        return self.acr_values if self.acr_accepted is None else self.acr_accepted
