"""The scan's plain data: targets, jobs and observations.

Everything here is serialisable (to JSON via `to_json`), so that the same jobs can run on
distributed workers and their observations travel back unchanged.

A job is the unit of work and of the connection rule (`CheckFamily` in scan/family.py,
kept by scan/guard.py): its connections go through the guard one at a time, at most
`JOB_CONNECTIONS` (20) per run; most jobs open one.
"""

from __future__ import annotations

import ipaddress
import re
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from typing import Any, Literal

# The ports of a host that gave no answer at all (port discovery); not "closed" (`rules.standing`).
FILTERED = "service.filtered"

# Evidence is an excerpt of what a server said: capped, and with control characters escaped
# so that a hostile banner can neither bloat storage nor drive a terminal.
EVIDENCE_LIMIT = 2048
_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f\u200b-\u200f\u2028-\u202e\u2066-\u2069]")


def excerpt(data: bytes | str, limit: int = EVIDENCE_LIMIT) -> str:
    """A printable, size-capped excerpt of untrusted bytes or text."""
    text = data.decode("utf-8", "replace") if isinstance(data, bytes) else data
    cut = text[:limit]
    clean = _CONTROL.sub(lambda m: f"\\x{ord(m.group()):02x}", cut)
    return clean + ("…" if len(text) > limit else "")


def is_ip(name: str) -> bool:
    """Whether `name` is an IP address (v4 or v6) rather than a host name."""
    try:
        ipaddress.ip_address(name)
    except ValueError:
        return False
    return True


def now_iso() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


@dataclass(frozen=True, slots=True)
class DomainTarget:
    """A DNS zone: SPF, DMARC, DKIM, MTA-STS, DNSSEC, CAA and friends are asked of it."""

    name: str

    @property
    def label(self) -> str:
        return self.name


@dataclass(frozen=True, slots=True)
class ServiceTarget:
    """An open port on an address, reached under a host name."""

    host: str
    ip: str
    port: int
    protocol: str  # "https", "http", "smtp", "ssh", "ftp", ... (see scan.services)
    banner: str | None = None  # what the service said first, when it speaks first

    @property
    def label(self) -> str:
        return f"{self.host}:{self.port}"


Target = DomainTarget | ServiceTarget


@dataclass(frozen=True, slots=True)
class Job:
    """One unit of work: its connections one at a time, at most JOB_CONNECTIONS (guard)."""

    family: str
    name: str  # e.g. "version:tls1.0", "path:/.git/HEAD"
    target: Target


@dataclass(frozen=True, slots=True)
class Observation:
    """One fact a check observed, with the evidence behind it.

    `check` names the fact ("tls.version.tls1.0", "http.header.server"); `value` is plain JSON.
    When the check could not be made, `error` says why and `value` is None.
    """

    target: str
    check: str
    value: Any
    ip: str | None = None
    probe: str = ""
    evidence: str = ""
    error: str | None = None
    time: str = field(default_factory=now_iso)
    # Not seen in this scan: the last successful observation, kept because this scan's
    # check failed (`rules.standing`); `time` is when it was really made.
    carried: bool = False

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Observation:
        return cls(**data)


@dataclass(frozen=True, slots=True)
class Footprint:
    """What to scan for one organisation: its domains, host names and addresses."""

    org: str  # organisation number or another stable key
    domains: tuple[str, ...] = ()
    hostnames: tuple[str, ...] = ()
    ips: tuple[str, ...] = ()
    # The primary domain (its web site weighs most); None: the first domain.
    primary: str | None = None

    @property
    def primary_domain(self) -> str | None:
        return self.primary or (self.domains[0] if self.domains else None)


@dataclass(frozen=True, slots=True)
class TargetResult:
    """Everything observed about one target (a zone or a host); stored in one transaction."""

    org: str
    target: str
    kind: Literal["domain", "host"]
    observations: tuple[Observation, ...]
    seconds: float = 0.0
    # Why it was scanned: "" for a name of the footprint, "mx:<domain>" for a mail exchanger
    # followed from that domain's MX records.
    via: str = ""

    def to_json(self) -> dict[str, Any]:
        return {
            "org": self.org,
            "target": self.target,
            "kind": self.kind,
            "via": self.via,
            "seconds": round(self.seconds, 3),
            "observations": [o.to_json() for o in self.observations],
        }


def failed(target: Target, check: str, error: str, probe: str = "") -> Observation:
    ip = target.ip if isinstance(target, ServiceTarget) else None
    return Observation(target.label, check, None, ip=ip, probe=probe, error=error)


def observe(
    target: Target, check: str, value: Any, probe: str = "", evidence: bytes | str = ""
) -> Observation:
    ip = target.ip if isinstance(target, ServiceTarget) else None
    return Observation(target.label, check, value, ip=ip, probe=probe, evidence=excerpt(evidence))
