"""Observations → findings: classify each target's observations and apply the rulebook."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, replace
from typing import Any

from utsyn.rules.model import Assessment, Asset, Factor, Finding
from utsyn.rules.outcomes import Hit, classify, factor_of
from utsyn.rules.outcomes.mail import MAIL_TRANSFER_PORT
from utsyn.rules.rulebook import Role, Rulebook
from utsyn.rules.weights import VALUE_DEFAULT, VALUE_LOGIN, VALUE_MAIL, VALUE_PRIMARY_WEBSITE
from utsyn.scan.model import TargetResult

# Services that carry an organisation's mail: what phishing in its name would go through.
MAIL_KINDS = frozenset({"smtp", "smtps", "imap", "imaps", "pop3", "pop3s"})


@dataclass(frozen=True)
class HostTraits:
    login: frozenset[str]  # hosts with a password form
    mail: frozenset[str]  # hosts running SMTP, IMAP or POP, and zones with MX records
    primary: frozenset[str]  # the primary website's names


def host_of(asset: str) -> str:
    return asset.rsplit(":", 1)[0] if ":" in asset else asset


def traits(results: Iterable[TargetResult], primary_domain: str | None) -> HostTraits:
    login: set[str] = set()
    mail: set[str] = set()
    for result in results:
        for o in result.observations:
            if o.check == "http.login_form" and o.value is True:
                login.add(host_of(o.target))
            elif (o.check == "service.kind" and o.value in MAIL_KINDS) or (
                o.check == "dns.mx" and o.value
            ):
                mail.add(host_of(o.target))
    primary = {primary_domain, f"www.{primary_domain}"} if primary_domain else set()
    return HostTraits(frozenset(login), frozenset(mail), frozenset(primary))


def asset_value(asset: str, factor: Factor, host: HostTraits) -> float:
    name = host_of(asset)
    value = VALUE_DEFAULT
    if name in host.primary and factor in (Factor.WEB, Factor.TLS, Factor.LEAKAGE):
        value = max(value, VALUE_PRIMARY_WEBSITE)
    if name in host.login:
        value = max(value, VALUE_LOGIN)
    if name in host.mail:
        value = max(value, VALUE_MAIL)
    return value


# Where users send passwords: mail submission (RFC 8314) and mailbox access.
PASSWORD_PORTS = frozenset({465, 587, 993, 995, 143, 110})


def roles(results: Iterable[TargetResult], host: HostTraits) -> dict[str, Role]:
    """Asset → the role its TLS is judged by (the rulebook's `roles`); web by default.

    Port 25 carries mail between servers, opportunistically, unless a domain whose mail it
    receives publishes an enforced MTA-STS policy: then it is held to that promise and
    judged like a web site. Login pages, submission and mailbox ports carry passwords.
    """
    results = list(results)
    promised = {
        str(mx)
        for r in results
        if r.kind == "domain" and _value(r, "dns.mta_sts") == "enforce"
        for mx in _value(r, "dns.mx") or []
    }
    found: dict[str, Role] = {}
    for result in results:
        for o in result.observations:
            if o.check != "service.kind" or o.error is not None or ":" not in o.target:
                continue
            name, port = host_of(o.target), int(o.target.rsplit(":", 1)[1])
            if port == MAIL_TRANSFER_PORT and o.value == "smtp" and name not in promised:
                found[o.target] = Role.MAIL_TRANSFER
            elif port in PASSWORD_PORTS or (o.value == "https" and name in host.login):
                found[o.target] = Role.PASSWORD
    return found


def _value(result: TargetResult, check: str) -> Any:
    return next(
        (o.value for o in result.observations if o.check == check and o.error is None), None
    )


def per_host(results: Iterable[TargetResult]) -> list[TargetResult]:
    """One result per zone and one per host: a host listed as `host:80` and `host:443` (two
    targets) is one web site, whose port 80 redirects to the HTTPS its port 443 serves."""
    merged: dict[tuple[str, str], TargetResult] = {}
    for result in results:
        key = (result.kind, host_of(result.target) if result.kind == "host" else result.target)
        found = merged.get(key)
        if found is None:
            merged[key] = replace(result, target=key[1])
        else:
            merged[key] = replace(found, observations=found.observations + result.observations)
    return list(merged.values())


def assess(
    org: str, results: Iterable[TargetResult], book: Rulebook, primary_domain: str | None = None
) -> Assessment:
    """The rating's view of one organisation's latest scan results."""
    results = per_host(results)
    host = traits(results, primary_domain)
    hits: list[Hit] = [hit for result in results for hit in classify(result)]
    assets = {(hit.asset, factor_of(hit.outcome)) for hit in hits}
    primary = host.primary
    asset_list = tuple(
        Asset(a, Factor(f), asset_value(a, Factor(f), host), host_of(a) in primary)
        for a, f in sorted(assets)
    )
    role = roles(results, host)
    findings = []
    for hit in hits:
        rule = book.rule_for(hit.outcome, role.get(hit.asset))
        if rule is not None:
            findings.append(Finding(rule.id, hit.asset, hit.detail, hit.evidence))
    return Assessment(org, asset_list, tuple(findings))
