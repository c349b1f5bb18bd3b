"""FIRST EPSS scores (first.org/epss; "EPSS scores by FIRST.org"), from the
jgamblin/KEV_EPSS join `epss_kev_nvd.csv`: `CVE,CVSS3,EPSS,EPSS Percentile,...`.

That file covers KEV CVEs only. Its CVSS3 column is a number without a vector, so it is
kept only as a `reported` score (see `scoring.reported`), never as a computed one.
"""

from __future__ import annotations

import csv
from datetime import date
from pathlib import Path

from utsyn.vuln import scoring
from utsyn.vuln.model import CvssScore, EpssScore, Feed, FeedError, Provenance


def load_epss_csv(path: Path, file_date: date) -> tuple[dict[str, EpssScore], dict[str, CvssScore]]:
    """EPSS by CVE id, and the CSV's reported CVSS 3 numbers by CVE id."""
    provenance = Provenance(Feed.EPSS, path.name, file_date)
    scores: dict[str, EpssScore] = {}
    reported: dict[str, CvssScore] = {}
    try:
        with path.open(encoding="utf-8", newline="") as handle:
            for row in csv.DictReader(handle):
                cve = row["CVE"].strip()
                scores[cve] = EpssScore(
                    cve, float(row["EPSS"]), float(row["EPSS Percentile"]), provenance
                )
                if row.get("CVSS3", "").strip():
                    reported[cve] = scoring.reported("3.1", float(row["CVSS3"]), "epss-csv")
    except FileNotFoundError as exc:
        raise FeedError("feed file not found: %(path)s", path=path) from exc
    except (KeyError, ValueError) as exc:
        raise FeedError("%(path)s is not an EPSS CSV: %(reason)s", path=path, reason=exc) from exc
    return scores, reported
