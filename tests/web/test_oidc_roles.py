"""Who gets which role from an ID token's claims, and which provider profiles are refused."""

from __future__ import annotations

from typing import Any

import pytest
from pydantic import ValidationError

from utsyn.web.oidc_roles import Decision, decide
from utsyn.web.oidc_settings import Provider

RULES: list[dict[str, Any]] = [
    {"claim": "groups", "equals": "utsyn-admins", "role": "national_admin"},
    {"claim": "orgno", "role": "org_admin", "orgnr_claim": "orgno"},
    {"claim": "email", "domain": "Kommune.test", "role": "org_viewer", "orgnr": "311239848"},
]


def _provider(**extra: Any) -> Provider:
    fields: dict[str, Any] = {
        "name": "test",
        "label": "Test",
        "issuer": "https://idp.example",
        "client_id": "utsyn",
        "roles": RULES,
    }
    return Provider.model_validate(fields | extra)


@pytest.mark.parametrize(
    ("claims", "decision"),
    [
        ({"groups": ["staff", "utsyn-admins"]}, Decision("national_admin", None, 0)),
        ({"groups": "utsyn-admins-not"}, None),
        ({"orgno": "310961027", "email": "a@kommune.test"}, Decision("org_admin", "310961027", 1)),
        ({"orgno": "", "email": "a@KOMMUNE.test"}, Decision("org_viewer", "311239848", 2)),
        ({"email": "a@kommune.test.evil"}, None),
        ({"email": "kommune.test@evil.example"}, None),
        ({}, None),
    ],
)
def test_the_first_matching_rule_decides(claims: dict[str, Any], decision: Decision | None) -> None:
    assert decide(_provider(), claims) == decision


@pytest.mark.parametrize(
    ("extra", "problem"),
    [
        ({"issuer": "http://idp.example"}, "https://"),
        ({"auth_method": "client_secret_basic"}, "needs a client_secret"),
        ({"scopes": ["profile"]}, "must include openid"),
        ({"name": "Has Spaces"}, "pattern"),
    ],
)
def test_a_profile_that_cannot_work_is_refused(extra: dict[str, Any], problem: str) -> None:
    with pytest.raises(ValidationError, match=problem):
        _provider(**extra)


def test_acr_accepted_defaults_to_the_levels_asked_for() -> None:
    asked = _provider(acr_values=["idporten-loa-high"])
    assert asked.accepted_acr == ("idporten-loa-high",)
    wider = _provider(acr_values=["a"], acr_accepted=["a", "b"])
    assert wider.accepted_acr == ("a", "b")
    assert _provider(issuer="http://127.0.0.1:9000").issuer.startswith("http://")
