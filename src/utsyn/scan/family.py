"""The typed interface every check family implements, and what a check is given."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import ClassVar, Protocol

from utsyn import __version__
from utsyn.scan.guard import GuardedNet, ScopePolicy, Timeouts
from utsyn.scan.model import Job, Observation, Target
from utsyn.scan.resolve import Resolver

USER_AGENT = f"Utsyn/{__version__} (+https://utsyn.example/om-skanning; non-intrusive)"

# Risky and common ports probed on every host: what a browser or mail server would reach,
# where users send mail passwords (submission 465/587, IMAP 143/993, POP3 110/995), plus
# the services that should never face the internet (CISA/NCSC exposure guidance).
DEFAULT_PORTS: tuple[int, ...] = (
    21, 22, 23, 25, 53, 80, 110, 143, 389, 443, 445, 465, 587, 993, 995, 1433, 3306, 3389,
    5432, 5900, 6379, 9200, 11211, 27017,
)  # fmt: skip


@dataclass(frozen=True)
class ScanConfig:
    scope: ScopePolicy
    nameservers: tuple[str, ...]
    dns_port: int = 53
    ca_file: Path | None = None  # trusted in addition to the system store (the lab CA)
    # DNSSEC trust anchor (the lab's in lab mode); None: IANA's root anchors (scan/dns/anchors.py)
    trust_anchor_file: Path | None = None
    timeouts: Timeouts = field(default_factory=Timeouts)
    max_connections: int = 256
    per_host: int = 4
    hosts_in_flight: int = 64
    host_deadline: float = 90.0
    retries: int = 1
    ports: tuple[int, ...] = DEFAULT_PORTS
    user_agent: str = USER_AGENT


@dataclass
class ScanContext:
    """What a running check may use: the guarded network, the resolver and the settings."""

    config: ScanConfig
    net: GuardedNet
    resolver: Resolver


class CheckFamily(Protocol):
    """A check family: the jobs it makes of a target, and how one job runs.

    The connection rule, kept by the guard (`GuardedNet.job`, scan/guard.py) around every
    run of a job:
    - every connection goes through `scan.net` (`tcp()` or `blocking_socket()`), which asks
      the scope policy first; DNS questions go through `scan.resolver` (or `scan.net.dns`)
      and do not count as connections;
    - a job opens its connections one at a time: the next only after the last is closed;
    - a job opens at most `JOB_CONNECTIONS` (20) in all; a retry by the engine starts anew.
    Most jobs open one connection (a TLS probe, a banner, an SMTP or SSH exchange). The
    HTTP page job opens one per request only when the server will not keep the connection
    alive (at most 8), the redirect job one or two per hop across hosts (at most 20), the
    zone job one per name-server address and the MTA-STS job one per policy-host address
    (each stopping at 20). A family with such a loop bounds it itself: breaking the rule
    raises `JobBudgetExceeded`, which the engine records as the job's internal error.
    """

    family: ClassVar[str]

    def jobs(self, target: Target) -> Iterable[Job]:
        """The jobs for a target; none when the family does not apply to it."""
        ...

    async def run(self, job: Job, scan: ScanContext) -> list[Observation]:
        """Run one job, within the connection rule above."""
        ...
