"""SPF (RFC 7208): which record a domain publishes, what it costs in DNS lookups, and what
it says about every sender it does not list (the qualifier of `all`).

The evaluator is static, like the reference tools: it walks every `include` and `redirect`
of the record, counting the terms that cause DNS lookups, without a sender IP to match. It
asks for TXT records through a `TxtFetch`, so the same code runs over the scan's guarded
resolver and over a table in the unit tests.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Literal

SpfVerdict = Literal[
    "strict",  # -all: everyone else fails
    "softfail",  # ~all
    "neutral",  # ?all, or no `all` at all (RFC 7208 4.7)
    "pass_all",  # +all: anyone may send as the domain
    "too_many_lookups",  # more than 10 lookup terms: a permerror (RFC 7208 4.6.4)
    "multiple",  # two or more v=spf1 records: a permerror (RFC 7208 4.5)
    "missing",
    "invalid",  # another permerror: bad syntax, an include of a domain without SPF, ...
]

# RFC 7208 4.6.4: at most 10 mechanisms and modifiers that cause DNS queries.
LOOKUP_LIMIT = 10
# Terms that cost a DNS lookup (RFC 7208 4.6.4); `exp` is explicitly exempt.
LOOKUP_TERMS = frozenset({"include", "a", "mx", "ptr", "exists", "redirect"})
MECHANISMS = frozenset({"all", "include", "a", "mx", "ptr", "ip4", "ip6", "exists"})
# Mechanisms whose domain-spec is required (RFC 7208 5.2, 5.7); the rest may omit it.
NEEDS_VALUE = frozenset({"include", "exists", "ip4", "ip6"})
QUALIFIERS: dict[str, SpfVerdict] = {
    "+": "pass_all",
    "-": "strict",
    "~": "softfail",
    "?": "neutral",
}

# The TXT strings at a name, each record's strings joined (RFC 7208 3.3); [] when none.
TxtFetch = Callable[[str], Awaitable[list[str]]]


class SpfSyntaxError(ValueError):
    """A record that does not parse: a permerror (RFC 7208 4.6)."""


@dataclass(frozen=True)
class Term:
    name: str  # mechanism or modifier name, lower case
    value: str = ""  # what follows ":" (mechanisms) or "=" (modifiers)
    qualifier: str = "+"  # mechanisms only; "+" when not written (RFC 7208 4.6.2)
    modifier: bool = False


@dataclass
class SpfResult:
    verdict: SpfVerdict
    record: str | None = None
    lookups: int = 0
    problems: list[str] = field(default_factory=list)

    def evidence(self) -> str:
        lines = [f"record: {self.record}" if self.record else "no v=spf1 record"]
        lines.append(f"DNS lookup terms: {self.lookups} (limit {LOOKUP_LIMIT})")
        lines += self.problems
        return "\n".join(lines)


def spf_records(texts: list[str]) -> list[str]:
    """The TXT records that are SPF records: "v=spf1" then a space or the end (RFC 7208 4.5)."""
    return [t for t in texts if t.lower() == "v=spf1" or t.lower().startswith("v=spf1 ")]


def parse_record(record: str) -> list[Term]:
    """The terms after the version, or SpfSyntaxError (RFC 7208 section 12's ABNF, in short)."""
    terms = [_parse_term(text) for text in record.split()[1:]]
    for modifier in ("redirect", "exp"):  # each at most once (RFC 7208 6)
        if sum(t.modifier and t.name == modifier for t in terms) > 1:
            raise SpfSyntaxError(f"{modifier}= appears more than once")
    return terms


def _parse_term(text: str) -> Term:
    head, equals, rest = text.partition("=")
    if equals and ":" not in head and "/" not in head:
        if not _is_name(head):
            raise SpfSyntaxError(f"{text!r}: bad modifier name")
        if head.lower() == "redirect" and not rest:
            raise SpfSyntaxError(f"{text!r}: redirect needs a domain")
        return Term(head.lower(), rest, "", modifier=True)
    qualifier = text[0] if text[0] in QUALIFIERS else "+"
    body = text[1:] if text[0] in QUALIFIERS else text
    name, _, value = body.partition(":")
    name = name.lower()
    cidr_only = name.partition("/")[0]
    if cidr_only in ("a", "mx") and "/" in name:  # a/24, mx/24//64: a CIDR, no domain
        name, value = cidr_only, ""
    if name not in MECHANISMS:
        raise SpfSyntaxError(f"{text!r}: unknown mechanism")
    if name == "all" and value:
        raise SpfSyntaxError(f"{text!r}: all takes no argument")
    if name in NEEDS_VALUE and not value:
        raise SpfSyntaxError(f"{text!r}: {name} needs a value")
    if name in ("ip4", "ip6"):
        _check_network(text, name, value)
    return Term(name, value.split("/")[0] if name in ("a", "mx") else value, qualifier)


def _check_network(text: str, name: str, value: str) -> None:
    try:
        network = ipaddress.ip_network(value, strict=False)
    except ValueError as exc:
        raise SpfSyntaxError(f"{text!r}: not an address or network") from exc
    if network.version != int(name[-1]):
        raise SpfSyntaxError(f"{text!r}: an IPv{network.version} network under {name}")


def _is_name(text: str) -> bool:
    # name = ALPHA *( ALPHA / DIGIT / "-" / "_" / "." ) (RFC 7208 12)
    return (
        bool(text)
        and text[0].isascii()
        and text[0].isalpha()
        and all(c.isascii() and (c.isalnum() or c in "-_.") for c in text)
    )


class _LookupCounter:
    """Walks includes and redirects depth first, counting lookup terms as RFC 7208 4.6.4 does:
    every evaluation counts, so an include reached twice costs twice (unlike checkdmarc,
    which skips a domain it has already seen)."""

    def __init__(self, fetch: TxtFetch) -> None:
        self.fetch = fetch
        self.lookups = 0
        self.problems: list[str] = []
        self.parsed: dict[str, list[Term]] = {}

    async def walk(self, terms: list[Term], path: tuple[str, ...]) -> None:
        for term in terms:
            if term.name not in LOOKUP_TERMS:
                continue
            self.lookups += 1
            if self.lookups > LOOKUP_LIMIT:
                return  # the verdict is settled; further queries would be wasted
            if term.name in ("include", "redirect"):
                await self._follow(term, path)

    async def _follow(self, term: Term, path: tuple[str, ...]) -> None:
        target = term.value.lower().rstrip(".")
        if "%" in target:
            return  # a macro depends on the sender: counted, but nothing to follow
        if target in path:
            # A loop never ends on its own: the lookup limit is what stops it (RFC 7208 4.6.4).
            self.problems.append(f"loop: {' -> '.join((*path, target))}")
            self.lookups = LOOKUP_LIMIT + 1
            return
        records = spf_records(await self.fetch(target))
        if len(records) != 1:
            # RFC 7208 5.2 (include) and 6.1 (redirect): none or several records: permerror.
            count = "no" if not records else "several"
            self.problems.append(f"{term.name}:{target} has {count} SPF records")
            return
        try:
            terms = parse_record(records[0])
        except SpfSyntaxError as exc:
            self.problems.append(f"{term.name}:{target}: {exc}")
            return
        self.parsed[target] = terms
        await self.walk(terms, (*path, target))


async def evaluate_spf(domain: str, fetch: TxtFetch) -> SpfResult:
    """The verdict on `domain`'s SPF policy; errors of the fetch itself propagate."""
    domain = domain.lower().rstrip(".")
    records = spf_records(await fetch(domain))
    if not records:
        return SpfResult("missing")
    if len(records) > 1:
        return SpfResult("multiple", " | ".join(records), problems=["several v=spf1 records"])
    record = records[0]
    try:
        terms = parse_record(record)
    except SpfSyntaxError as exc:
        return SpfResult("invalid", record, problems=[str(exc)])
    counter = _LookupCounter(fetch)
    await counter.walk(terms, (domain,))
    result = SpfResult("neutral", record, counter.lookups, counter.problems)
    if counter.lookups > LOOKUP_LIMIT:
        result.verdict = "too_many_lookups"
    elif counter.problems:
        result.verdict = "invalid"
    else:
        result.verdict = _catch_all(terms, counter.parsed)
    return result


def _catch_all(terms: list[Term], parsed: dict[str, list[Term]]) -> SpfVerdict:
    """What happens to a sender no mechanism lists: `all`'s qualifier, else the redirect
    target's (redirect applies only without `all`, RFC 7208 6.1), else neutral (4.7)."""
    seen: set[str] = set()
    while True:
        for term in terms:
            if not term.modifier and term.name == "all":
                return QUALIFIERS[term.qualifier]
        redirect = next((t.value for t in terms if t.modifier and t.name == "redirect"), None)
        target = redirect.lower().rstrip(".") if redirect else None
        if target is None or target in seen or target not in parsed:
            return "neutral"
        seen.add(target)
        terms = parsed[target]
