"""From scan results to ratings, per organisation: the pipeline the CLI and views use."""

from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from utsyn.errors import ConfigError
from utsyn.rating.model import Assessment, Rating, rate
from utsyn.rules.evaluate import assess
from utsyn.rules.rulebook import Rulebook
from utsyn.scan.model import Footprint, TargetResult
from utsyn.scan.output import read_report
from utsyn.vuln.enrich import enrich
from utsyn.vuln.feeds import load_current


@dataclass(frozen=True)
class Rated:
    org: str
    assessment: Assessment
    rating: Rating
    # Median days from first seen to resolved for high and critical CVE findings (None:
    # none resolved yet, or not known without the finding history in the store).
    patching_days: float | None = None


def rate_all(
    footprints: Iterable[Footprint], results: Iterable[TargetResult], book: Rulebook
) -> list[Rated]:
    """One rating per organisation, as `pipeline.rate_organisation` would save it after a
    first scan: the same assessment (`rules.evaluate.assess`) and the same model."""
    index = load_current()
    by_org: dict[str, list[TargetResult]] = defaultdict(list)
    for result in results:
        by_org[result.org].append(enrich(result, index))
    primary = {f.org: f.primary_domain for f in footprints}
    rated = []
    for org in sorted(by_org):
        assessment = assess(org, by_org[org], book, primary.get(org))
        rated.append(Rated(org, assessment, rate(assessment, book)))
    return rated


def load_scan(path: Path) -> tuple[list[Footprint], list[TargetResult]]:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        return read_report(data)
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read the scan report ({exc.strerror})") from exc
    except (ValueError, KeyError, TypeError) as exc:
        raise ConfigError(f"{path}: not a scan report written by `utsyn scan -o`: {exc}") from exc
