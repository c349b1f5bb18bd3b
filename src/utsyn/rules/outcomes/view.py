"""What every classifier is given (one target's observations) and the few shapes they share."""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterable, Iterator, Mapping
from typing import Any

from utsyn.rules.outcomes.model import Hit, Outcome
from utsyn.scan.model import Observation, TargetResult


class TargetView:
    """The observations of one target result, looked up by (asset, check)."""

    def __init__(self, result: TargetResult) -> None:
        self.result = result
        self.by_key: dict[tuple[str, str], Observation] = {}
        self.assets: dict[str, dict[str, Observation]] = {}
        for o in result.observations:
            if o.error is None:
                self.by_key[(o.target, o.check)] = o
                self.assets.setdefault(o.target, {})[o.check] = o

    def value(self, asset: str, check: str) -> Any:
        o = self.by_key.get((asset, check))
        return None if o is None else o.value

    def has(self, asset: str, check: str) -> bool:
        return (asset, check) in self.by_key

    def kind(self, asset: str) -> str | None:
        value = self.value(asset, "service.kind")
        return value if isinstance(value, str) else None

    def assets_with(self, check: str) -> Iterator[tuple[str, Observation]]:
        for asset, checks in self.assets.items():
            if check in checks:
                yield asset, checks[check]


# What tells a version: a server that says "2.4" says which CVEs apply to it.
VERSION_NUMBER = re.compile(r"\d+\.\d+")

# One per check family (the modules of this package), run in the order `classify` lists them.
Classifier = Callable[[TargetView], Iterator[Hit]]


def hit(
    outcome: Outcome, asset: str, o: Observation | None, detail: str = "", *, check: str = ""
) -> Hit:
    """The outcome read from observation `o`; `check` names what was looked for when the
    outcome is its absence (a missing header), so that every hit says where it came from.

    Without a server's own words, the evidence is `<check> = <value as JSON>`: readable in
    an export, and read back into facts by the dashboard (`web.evidence`)."""
    evidence = (o.evidence or f"{o.check} = {_json(o.value)}") if o is not None else ""
    return Hit(outcome, asset, evidence[:500], detail, o.check if o is not None else check)


def _json(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, separators=(", ", ": "))


def by_value(view: TargetView, check: str, table: Mapping[str, Outcome]) -> Iterator[Hit]:
    """`check`'s value looked up in `table`; a value the table does not hold is no outcome."""
    for asset, o in view.assets_with(check):
        outcome = table.get(str(o.value))
        if outcome is not None:
            yield hit(outcome, asset, o)


def flag(
    view: TargetView, check: str, bad: Outcome, good: Outcome, bad_when: bool
) -> Iterator[Hit]:
    """A yes/no check: `bad` where its truth is `bad_when`, `good` otherwise."""
    for asset, o in view.assets_with(check):
        yield hit(bad if bool(o.value) == bad_when else good, asset, o)


def each(
    asset: str, o: Observation, found: Iterable[object], bad: Outcome, good: Outcome | None
) -> Iterator[Hit]:
    """One `bad` per thing found in `o` (a name, a server), told apart by its name;
    `good` when nothing was found (None: no outcome then)."""
    found = list(found)
    for name in found:
        yield hit(bad, asset, o, detail=str(name))
    if not found and good is not None:
        yield hit(good, asset, o)
