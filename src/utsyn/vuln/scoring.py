"""CVSS base scores, computed from vectors with the `cvss` library (PyPI `cvss`, RedHat).

A feed's printed score is kept next to the computed one (`reported_score`) so a mismatch is
visible, but only the computed number is used. A feed that gives a number without a vector
(the EPSS CSV's CVSS3 column) yields a score flagged `computed=False`.
"""

from __future__ import annotations

from collections.abc import Iterable

from cvss import CVSS2, CVSS3, CVSS4
from cvss.exceptions import CVSSError

from utsyn.vuln.model import CvssScore, FeedError


def version_of(vector: str) -> str:
    """ "3.1" for `CVSS:3.1/...`, "4.0" for `CVSS:4.0/...`; v2 vectors have no prefix."""
    if vector.startswith("CVSS:"):
        return vector.split("/", 1)[0].removeprefix("CVSS:")
    return "2.0"


def base_score(vector: str) -> float:
    """The base score of a CVSS v2, v3.x or v4.0 vector."""
    version = version_of(vector)
    try:
        if version == "2.0":
            return float(CVSS2(vector).base_score)
        if version in ("3.0", "3.1"):
            return float(CVSS3(vector).base_score)
        if version == "4.0":
            return float(CVSS4(vector).base_score)
    except CVSSError as exc:
        raise FeedError(
            "invalid CVSS vector %(vector)r: %(reason)s", vector=vector, reason=exc
        ) from exc
    raise FeedError("unknown CVSS version in %(vector)r", vector=vector)


def computed(vector: str, source: str, reported: float | None = None) -> CvssScore:
    return CvssScore(
        version=version_of(vector),
        vector=vector,
        base_score=base_score(vector),
        source=source,
        computed=True,
        reported_score=reported,
    )


def reported(version: str, score: float, source: str) -> CvssScore:
    return CvssScore(version, None, score, source, computed=False, reported_score=score)


def highest(scores: Iterable[CvssScore]) -> CvssScore | None:
    """The highest computed score; a reported-only number only when nothing was computed.

    Among equal scores the newest CVSS version wins, then the one with a vector.
    """
    pool = list(scores)
    usable = [s for s in pool if s.computed] or pool
    if not usable:
        return None
    return max(usable, key=lambda s: (s.base_score, s.version, s.vector or ""))
