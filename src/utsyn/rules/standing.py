"""A failure is not a finding and clears none: what stands of a target after a scan.

A scan's result for a zone or a host is merged with the last one stored for it:

- an asset that answered fully keeps exactly what this scan saw;
- an asset that answered but where some check failed (a time-out, a reset, a refusal by
  the scope guard) keeps, for each fact this scan could not see again, the last successful
  observation, marked `carried` and with its own time (its age);
- an asset that stopped answering (its host reached no port, or its port accepted the
  connection and then said nothing, as an overloaded server does) keeps all of its last
  observations and gets a `scan.unreachable` fact: since when, for how many scans. After
  `Reachability.failed_scans` scans in a row over at least `Reachability.days` days it
  leaves: nothing is carried any more, and its findings resolve as those of a removed
  asset do;
- an asset missing from a host that did answer (a port now closed) is gone: that is an
  answer, not a failure.

The rules then judge the merged result, so a stalled web server changes neither the
findings nor the denominator of the rating. `fresh` strips what was carried, for the
finding lifecycle: carried facts must not count as seen again (their findings keep aging
towards their rule's decay).
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import replace
from datetime import datetime
from typing import Any

from utsyn.rules.rulebook import Reachability
from utsyn.scan.model import FILTERED, Observation, TargetResult

UNREACHABLE = "scan.unreachable"
# Facts about a service that it did not give itself: a port accepted a connection, its
# number says what should speak there, the DNS says whether its name is a zone's apex. Not
# yet an answer when every question asked of the service failed (a stalled server accepts).
NOT_AN_ANSWER = frozenset({"service.open", "service.kind", "http.zone_apex"})
# Facts about a host that are no sign any of its ports was reached.
NOT_REACHED = frozenset({"dns.resolve", FILTERED})

# asset → check → its successful observations (a check can be made several times on one
# asset: one `vuln.cve` per vulnerability)
Facts = dict[str, dict[str, list[Observation]]]


def standing(
    fresh: TargetResult, previous: TargetResult | None, now: datetime, policy: Reachability
) -> TargetResult:
    """`fresh` completed from `previous` (the target's last stored result), as above."""
    if previous is None:
        return fresh
    before = _successes(previous.observations)
    markers = {o.target: o.value for o in previous.observations if o.check == UNREACHABLE}
    seen = _successes(fresh.observations)
    failed = {o.target for o in fresh.observations if o.error is not None} | _filtered(fresh)
    unit_failed = fresh.target in failed  # a host deadline, a name that did not resolve
    # The host reached on some port (or the zone answered some question): a port that
    # refused the connection is closed, an answer; one that did not answer is filtered.
    reached = any(set(checks) - NOT_REACHED for checks in seen.values())
    kept: list[Observation] = []
    for asset, checks in sorted(before.items()):
        asked = set(seen.get(asset, {}))
        missing = [
            o for check, found in sorted(checks.items()) if check not in asked for o in found
        ]
        if asset in seen or asset in failed:  # this scan reached the asset
            stalled = asset in failed and not asked - NOT_AN_ANSWER
            if not stalled:
                if asset in failed or unit_failed:
                    kept += [_carried(o) for o in missing]
                continue
        elif reached and not unit_failed:
            continue  # the host answered without this port: closed, not failed
        marker = _unreachable(asset, markers.get(asset), now, policy)
        kept.append(marker)
        if not marker.value["left"]:
            kept += [_carried(o) for o in missing]
    if not kept:
        return fresh
    return replace(fresh, observations=fresh.observations + tuple(kept))


def _filtered(fresh: TargetResult) -> set[str]:
    """The ports of the host that gave no answer (`service.filtered`), as asset ids."""
    return {
        f"{o.target}:{port}"
        for o in fresh.observations
        if o.check == FILTERED and o.error is None
        for port in o.value or []
    }


def fresh_only(result: TargetResult) -> TargetResult:
    """What this scan itself saw (carried facts and reachability markers left out)."""
    seen = tuple(o for o in result.observations if not o.carried and o.check != UNREACHABLE)
    return replace(result, observations=seen)


def _successes(observations: tuple[Observation, ...]) -> Facts:
    facts: Facts = defaultdict(lambda: defaultdict(list))
    for o in observations:
        if o.error is None and o.check != UNREACHABLE:
            facts[o.target][o.check].append(o)
    return facts


def _carried(o: Observation) -> Observation:
    return o if o.carried else replace(o, carried=True)


def _unreachable(asset: str, before: Any, now: datetime, policy: Reachability) -> Observation:
    """Since when the asset has not answered and for how many scans; `left` once both
    limits of the rulebook have passed."""
    earlier = before if isinstance(before, dict) and not before.get("left") else {}
    since = str(earlier.get("since") or now.isoformat(timespec="seconds"))
    scans = int(earlier.get("scans", 0)) + 1
    days = (now - datetime.fromisoformat(since)).total_seconds() / 86400
    left = scans >= policy.failed_scans and days >= policy.days
    value = {"since": since, "scans": scans, "left": left}
    evidence = f"no answer in {scans} scan(s) since {since}" + (
        f": left the rating ({policy.failed_scans} scans over {policy.days} days)" if left else ""
    )
    return Observation(asset, UNREACHABLE, value, evidence=evidence, time=now.isoformat())
