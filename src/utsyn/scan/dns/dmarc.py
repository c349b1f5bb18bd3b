"""DMARC (RFC 7489): the policy a domain asks receivers to apply to mail that fails.

The verdict is the `p` tag's value, or `malformed` when the record at `_dmarc` does not
parse as DMARC: "v=DMARC1" must be the first tag (RFC 7489 6.3) and `p` must be present and
one of none, quarantine, reject (6.3). Receivers would treat some malformed records as
p=none when `rua` is valid (6.6.3); a scanner reports the mistake itself.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

DmarcVerdict = Literal["none", "quarantine", "reject", "malformed", "missing"]
POLICIES: tuple[DmarcVerdict, ...] = ("none", "quarantine", "reject")


@dataclass(frozen=True)
class DmarcResult:
    verdict: DmarcVerdict
    record: str | None = None
    tags: dict[str, str] = field(default_factory=dict)  # pct, sp, rua, ... for evidence
    problem: str | None = None

    def evidence(self) -> str:
        if self.record is None:
            return self.problem or "no DMARC record"
        lines = [f"record: {self.record}"]
        lines += [f"{k}={v}" for k, v in self.tags.items()]
        if self.problem:
            lines.append(f"problem: {self.problem}")
        return "\n".join(lines)


def parse_tags(record: str) -> list[tuple[str, str]]:
    """The tag=value pairs in order (RFC 7489 6.4: ";"-separated, whitespace around them)."""
    pairs = []
    for part in record.split(";"):
        if not part.strip():
            continue  # a trailing ";" is allowed
        name, equals, value = part.partition("=")
        if not equals:
            raise ValueError(f"{part.strip()!r} is not a tag=value pair")
        pairs.append((name.strip().lower(), value.strip()))
    return pairs


def evaluate_dmarc(texts: list[str]) -> DmarcResult:
    """The verdict on the TXT records found at `_dmarc.<domain>` (each one joined)."""
    if not texts:
        return DmarcResult("missing")
    if len(texts) == 1:
        return parse_dmarc(texts[0])
    # Records that are not DMARC are discarded; several DMARC records mean no policy at
    # all (RFC 7489 6.6.3).
    candidates = [t for t in texts if t.strip().startswith("v=DMARC1")]
    if len(candidates) == 1:
        return parse_dmarc(candidates[0])
    problem = f"{len(candidates)} v=DMARC1 records among {len(texts)} TXT records"
    return DmarcResult("malformed", " | ".join(texts), problem=problem)


def parse_dmarc(record: str) -> DmarcResult:
    try:
        pairs = parse_tags(record)
    except ValueError as exc:
        return DmarcResult("malformed", record, problem=str(exc))
    tags = dict(pairs)
    if not pairs or pairs[0] != ("v", "DMARC1"):
        return DmarcResult("malformed", record, tags, "v=DMARC1 is not the first tag")
    policy = tags.get("p")
    if policy is None:
        return DmarcResult("malformed", record, tags, "the required p tag is missing")
    verdict = policy.lower()
    for known in POLICIES:
        if verdict == known:
            return DmarcResult(known, record, tags)
    return DmarcResult("malformed", record, tags, f"p={policy} is not none/quarantine/reject")
