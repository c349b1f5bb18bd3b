"""What the rules produce: the assets a scan evaluated and the findings on them.

Plain data, the rating's input (`rating.model.rate`). Produced by `rules.evaluate.assess`.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from utsyn.rules.weights import VALUE_DEFAULT


class Factor(StrEnum):
    TLS = "tls"
    WEB = "web"
    EMAIL = "email"
    DNS = "dns"
    NETWORK = "network"
    VULNERABILITIES = "vulnerabilities"
    LEAKAGE = "leakage"


@dataclass(frozen=True, slots=True)
class Asset:
    id: str  # "host:port" or a zone name
    factor: Factor
    value: float = VALUE_DEFAULT
    primary: bool = False  # the primary website (grade caps may apply to it alone)


@dataclass(frozen=True, slots=True)
class Finding:
    rule: str
    asset: str
    detail: str = ""
    evidence: str = ""

    @property
    def key(self) -> str:
        return f"{self.rule}|{self.asset}|{self.detail}"


@dataclass(frozen=True)
class Assessment:
    """What the rating sees of one organisation: evaluated assets and counting findings."""

    org: str
    assets: tuple[Asset, ...]
    findings: tuple[Finding, ...]
