"""Every number the rating is made of, in one place: severity points, asset values, grades.

A rule's own deviation (a `weight:` or a grade `cap:`) stands next to the rule in
`rulebook.yaml`; everything else is here. `docs/methodology.md` is generated from both
(`utsyn rating methodology`), so the published method cannot drift from the code.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Literal


class Severity(StrEnum):
    CRITICAL = "critical"
    HIGH = "high"
    MEDIUM = "medium"
    LOW = "low"
    INFO = "info"


Grade = Literal["A", "B", "C", "D", "F"]

# Points an issue type costs when it affects every asset it could affect. Informational
# findings never cost points. A 20-point critical finding alone drops an otherwise clean
# organisation from A to B; five of them reach F.
SEVERITY_WEIGHT: dict[Severity, float] = {
    Severity.CRITICAL: 20.0,
    Severity.HIGH: 10.0,
    Severity.MEDIUM: 5.0,
    Severity.LOW: 2.0,
    Severity.INFO: 0.0,
}

# Grade boundaries: A ≥ 90, B ≥ 80, C ≥ 70, D ≥ 60, F below — the ten-point school scale
# SecurityScorecard and BitSight's letter grades also use, so grades compare across services.
GRADE_FLOORS: tuple[tuple[Grade, float], ...] = (("A", 90), ("B", 80), ("C", 70), ("D", 60))
GRADE_ORDER: tuple[Grade, ...] = ("A", "B", "C", "D", "F")

# Asset values: how much an asset weighs in the share of assets a finding affects.
VALUE_PRIMARY_WEBSITE = 3.0  # the organisation's main website: its public face
VALUE_LOGIN = 2.0  # pages that take passwords or forms
VALUE_MAIL = 2.0  # mail servers and mail domains: phishing in the organisation's name
VALUE_DEFAULT = 1.0
