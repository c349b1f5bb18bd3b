"""Who gets which role: the operator's rules (`Provider.roles`) applied to an ID token's
claims. The first rule that matches decides; none matching means no access."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from utsyn.web.oidc_settings import Provider, RoleRule


@dataclass(frozen=True)
class Decision:
    role: str
    orgnr: str | None
    rule: int  # the matching rule's position in the profile, for the audit


def decide(provider: Provider, claims: Mapping[str, Any]) -> Decision | None:
    for position, rule in enumerate(provider.roles):
        if not _matches(rule, claims.get(rule.claim)):
            continue
        orgnr = rule.orgnr
        if rule.orgnr_claim is not None:
            found = claims.get(rule.orgnr_claim)
            if not isinstance(found, str) or not found:
                continue
            orgnr = found
        return Decision(rule.role, orgnr, position)
    return None


def _matches(rule: RoleRule, value: object) -> bool:
    values = [v for v in (value if isinstance(value, list) else [value]) if isinstance(v, str)]
    if rule.equals is not None:
        return rule.equals in values
    if rule.domain is not None:
        suffix = "@" + rule.domain.lower()
        return any(v.lower().endswith(suffix) for v in values)
    return any(values)
