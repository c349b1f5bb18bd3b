"""The rulebook: one versioned, reviewed data file defining every issue type.

Validated at load: unique ids, every failing outcome mapped to exactly one rule, NIST CSF 2.0
subcategories that exist, texts in Norwegian bokmål and English.
"""

from __future__ import annotations

from datetime import date
from enum import StrEnum
from functools import cache, cached_property
from importlib.resources import files
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from utsyn.errors import ConfigError
from utsyn.frameworks.library import NIST_CSF, load_framework
from utsyn.rules.model import Factor
from utsyn.rules.outcomes import PASSING, Outcome, factor_of
from utsyn.rules.weights import SEVERITY_WEIGHT, Grade, Severity

DEFAULT_DECAY_DAYS = 30


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Text(_Strict):
    nb: str = Field(min_length=1)
    en: str = Field(min_length=1)

    def get(self, lang: str) -> str:
        return self.en if lang == "en" else self.nb


class Role(StrEnum):
    """What a service is for, where one weakness weighs differently (`rules.evaluate`).

    A rule judges the web (HTTPS) unless it has a variant for the asset's role.
    """

    MAIL_TRANSFER = "mail_transfer"  # port 25 between mail servers: opportunistic TLS
    PASSWORD = "password"  # users send passwords: login pages, submission, IMAP, POP


ROLE_NAMES: dict[Role, dict[str, str]] = {
    Role.MAIL_TRANSFER: {"nb": "e-post mellom servere", "en": "mail between servers"},
    Role.PASSWORD: {"nb": "tjeneste med innlogging", "en": "service with logins"},
}


class Effort(StrEnum):
    """What fixing an issue usually takes: a hint for planning the work, never part of the
    score (the action plan shows it beside the points a fix gives back)."""

    SMALL = "small"  # a setting, a DNS record or a certificate: hours
    MEDIUM = "medium"  # an update, or a change to test or agree on first: days
    LARGE = "large"  # a project, such as rewriting a site's scripts: weeks


class RoleRule(_Strict):
    """A rule's severity for one role, and why it differs."""

    severity: Severity
    reason: Text
    references: tuple[str, ...] = ()


class Cap(_Strict):
    """The best grade an organisation can have while this finding counts."""

    grade: Grade
    assets: Literal["any", "primary"] = "any"


class Rule(_Strict):
    id: str = Field(pattern=r"^[a-z0-9_]+(\.[a-z0-9_]+)+$")
    factor: Factor
    severity: Severity
    effort: Effort | None = None  # None: not stated (a rulebook from before the field)
    outcomes: tuple[Outcome, ...] = Field(min_length=1)
    csf: tuple[str, ...] = Field(min_length=1)
    title: Text
    description: Text
    remediation: Text
    references: tuple[str, ...] = ()
    weight: float | None = Field(default=None, ge=0, le=50)
    decay_days: int = Field(default=DEFAULT_DECAY_DAYS, ge=1, le=365)
    cap: Cap | None = None
    roles: dict[Role, RoleRule] = Field(default_factory=dict)
    # Set on a role's variant (made from `roles` when the rulebook loads): its base rule.
    variant_of: str | None = None
    role: Role | None = None

    @property
    def points(self) -> float:
        """The most this issue type can cost (its weight)."""
        if self.severity == Severity.INFO:
            return 0.0
        return self.weight if self.weight is not None else SEVERITY_WEIGHT[self.severity]


class Reachability(_Strict):
    """How long an asset that stops answering keeps its last answers (design: rules.standing).

    Both conditions must hold before it leaves the rating: several scans in a row, so one
    bad night is not enough, and several days, so that scanning more often does not make
    an asset leave sooner.
    """

    failed_scans: int = Field(default=3, ge=1, le=100)
    days: int = Field(default=7, ge=0, le=365)
    reason: Text


class Rulebook(_Strict):
    version: str
    released: date
    reachability: Reachability
    rules: tuple[Rule, ...]

    @model_validator(mode="before")
    @classmethod
    def _with_variants(cls, data: object) -> object:
        """Each rule's `roles` become rules of their own (`<id>.<role>`), listed after it:
        findings, points, rollups and pages treat them as any other rule."""
        if not isinstance(data, dict) or not isinstance(data.get("rules"), list):
            return data
        rules: list[object] = []
        for raw in data["rules"]:
            if isinstance(raw, dict) and raw.get("variant_of"):
                continue  # a dumped rulebook's variants: made again from their base rule
            rules.append(raw)
            if isinstance(raw, dict):
                try:
                    rules += [_variant(raw, r, spec) for r, spec in raw.get("roles", {}).items()]
                except (KeyError, TypeError, AttributeError) as exc:
                    raise ValueError(f"{raw.get('id')}: roles: {exc!r}") from exc
        return {**data, "rules": rules}

    @model_validator(mode="after")
    def _consistent(self) -> Rulebook:
        ids = [r.id for r in self.rules]
        if len(ids) != len(set(ids)):
            raise ValueError("rule ids must be unique")
        seen: dict[Outcome, str] = {}
        known_csf = csf_subcategories()
        for rule in self.rules:
            if rule.variant_of is not None:
                continue  # a role's variant shares its base rule's outcomes
            for outcome in rule.outcomes:
                if outcome in PASSING:
                    raise ValueError(f"{rule.id}: {outcome} is a passing outcome")
                if outcome in seen:
                    raise ValueError(f"{outcome} is mapped by {seen[outcome]} and {rule.id}")
                if factor_of(outcome) != rule.factor:
                    raise ValueError(f"{rule.id}: {outcome} belongs to another factor")
                seen[outcome] = rule.id
            unknown = [c for c in rule.csf if c not in known_csf]
            if unknown:
                raise ValueError(f"{rule.id}: not NIST CSF 2.0 subcategories: {unknown}")
        return self

    # Lookups are on the scoring hot path: indexed once, in the instance's own __dict__
    # (pydantic's private attributes go through a slow __getattr__; hashing the model would
    # be slower still).
    @cached_property
    def by_id(self) -> dict[str, Rule]:
        return {r.id: r for r in self.rules}

    @cached_property
    def _by_outcome(self) -> dict[Outcome, Rule]:
        return {o: r for r in self.rules if r.variant_of is None for o in r.outcomes}

    def rule(self, rule_id: str) -> Rule:
        return self.by_id[rule_id]

    def has(self, rule_id: str) -> bool:
        return rule_id in self.by_id

    def rule_for(self, outcome: Outcome, role: Role | None = None) -> Rule | None:
        """The rule for an outcome on an asset of `role` (its variant when it has one)."""
        rule = self._by_outcome.get(outcome)
        if rule is None or role is None or role not in rule.roles:
            return rule
        return self.by_id[f"{rule.id}.{role}"]


def _variant(raw: dict[str, Any], role: str, spec: dict[str, Any]) -> dict[str, Any]:
    names = ROLE_NAMES[Role(role)]
    reason = spec.get("reason", {})
    text = {k: v for k, v in raw.items() if k not in ("roles", "cap", "weight")}
    return {
        **text,
        "id": f"{raw['id']}.{role}",
        "severity": spec.get("severity"),
        "title": {lang: f"{raw['title'][lang]} ({names[lang]})" for lang in ("nb", "en")},
        "description": {
            lang: f"{raw['description'][lang]}\n\n{reason.get(lang, '')}".strip()
            for lang in ("nb", "en")
        },
        "references": [*raw.get("references", []), *spec.get("references", [])],
        "variant_of": raw["id"],
        "role": role,
    }


@cache
def csf_subcategories() -> frozenset[str]:
    """The NIST CSF 2.0 subcategory ids of the framework library (`utsyn.frameworks`)."""
    return frozenset(n.ref_id for n in load_framework(NIST_CSF).of_kind("subcategory"))


def load_rulebook(path: Path | None = None) -> Rulebook:
    """The shipped rulebook, or another version's file (for `utsyn rating diff`)."""
    if path is None:
        return _shipped()
    return _parse(path.read_text(encoding="utf-8"), str(path))


@cache
def _shipped() -> Rulebook:
    text = files("utsyn.rules").joinpath("rulebook.yaml").read_text(encoding="utf-8")
    return _parse(text, "rulebook.yaml")


def _parse(text: str, source: str) -> Rulebook:
    try:
        return Rulebook.model_validate(yaml.safe_load(text))
    except (ValidationError, yaml.YAMLError) as exc:
        raise ConfigError(
            "%(path)s: invalid rulebook: %(reason)s", path=source, reason=exc
        ) from exc
