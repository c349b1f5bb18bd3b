"""The in-memory vulnerability index: every feed's ranges keyed by product for fast lookup,
plus KEV, EPSS and the highest CVSS per CVE; and `load_snapshot()` over the offline
snapshot shipped in `utsyn/data/vuln/`.

Single-version ranges (Apache's thousands of `= 2.2.x` lines, Exchange CU CPEs) sit in a
dictionary keyed by the version's sort key, so they cost one lookup per observation. True
intervals are sorted by their start, so a lookup only visits those starting at or below the
observed version. Ranges of a feed that another, more authoritative feed overrules for the
same CVE and product (`model.FEED_RANK`) are left out of the lookup tables at build time;
their records stay in `records`. So are ranges on an operating-system distribution when the
CVE names a program too (`products.is_distribution`): NVD lists `debian_linux 11.0` next to
Tomcat because Debian's Tomcat package was affected, and a banner naming Debian 11 says
nothing about Tomcat. An application CVE is matched on the application only.

The index also carries the distribution package table (`vuln.distros`) and each CVE's
publication date, which the backport judgement (`vuln.backport`) needs.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date, datetime
from functools import lru_cache
from importlib import resources
from pathlib import Path
from typing import Any

from utsyn.vuln import scoring
from utsyn.vuln.cve5 import load_cve5_file
from utsyn.vuln.distros import DistroTable, load_distros
from utsyn.vuln.epss import load_epss_csv
from utsyn.vuln.feedio import as_dict, read_json
from utsyn.vuln.httpd import load_httpd_file
from utsyn.vuln.kev import load_kev_json
from utsyn.vuln.model import (
    FEED_RANK,
    AffectedRange,
    CvssScore,
    EpssScore,
    Feed,
    FeedError,
    KevEntry,
    VersionField,
    Vulnerability,
)
from utsyn.vuln.nginx import load_nginx_advisories
from utsyn.vuln.nvd import load_nvd_dir
from utsyn.vuln.products import is_distribution
from utsyn.vuln.retirejs import load_retirejs
from utsyn.vuln.versions import VersionKey

# Whose summary a match shows: NVD's analysed text, then the CNA's, then vendor words.
_SUMMARY_ORDER = (Feed.NVD, Feed.CVE5_CNA, Feed.HTTPD, Feed.NGINX, Feed.RETIREJS)


@dataclass(frozen=True, slots=True)
class IndexedRange:
    vuln_id: str
    rank: int  # FEED_RANK of the range's feed: lower speaks first
    range: AffectedRange


ExactTable = dict[VersionKey, list[IndexedRange]]
_LOWEST: VersionKey = ()  # sorts before every version key: a range open at the bottom


@dataclass(slots=True)
class VulnIndex:
    records: dict[str, list[Vulnerability]] = field(default_factory=dict)
    exact: dict[tuple[str, VersionField], ExactTable] = field(default_factory=dict)
    spans: dict[str, list[IndexedRange]] = field(default_factory=dict)  # sorted by start
    span_starts: dict[str, list[VersionKey]] = field(default_factory=dict)  # for bisect
    best_rank: dict[tuple[str, str], int] = field(default_factory=dict)
    cvss: dict[str, CvssScore] = field(default_factory=dict)
    kev: dict[str, KevEntry] = field(default_factory=dict)
    epss: dict[str, EpssScore] = field(default_factory=dict)
    summaries: dict[str, str] = field(default_factory=dict)
    published: dict[str, date] = field(default_factory=dict)  # the earliest record's date
    products: frozenset[str] = frozenset()  # every product key that has a range
    distros: DistroTable = field(default_factory=DistroTable)


def build_index(
    vulnerabilities: Iterable[Vulnerability],
    kev: dict[str, KevEntry] | None = None,
    epss: dict[str, EpssScore] | None = None,
    reported_cvss: dict[str, CvssScore] | None = None,
    distros: DistroTable | None = None,
) -> VulnIndex:
    table = distros if distros is not None else DistroTable()
    index = VulnIndex(kev=dict(kev or {}), epss=dict(epss or {}), distros=table)
    entries: list[IndexedRange] = []
    vulnerabilities = list(vulnerabilities)
    programs = _naming_programs(vulnerabilities)
    for vulnerability in vulnerabilities:
        index.records.setdefault(vulnerability.id, []).append(vulnerability)
        for affected in vulnerability.affected:
            if vulnerability.id in programs and is_distribution(affected.product):
                continue  # the distribution's package of the program, not the OS itself
            rank = FEED_RANK.get(affected.provenance.feed, len(FEED_RANK))
            entries.append(IndexedRange(vulnerability.id, rank, affected))
            pair = (affected.product, vulnerability.id)
            index.best_rank[pair] = min(rank, index.best_rank.get(pair, rank))
    for entry in entries:
        if entry.rank == index.best_rank[(entry.range.product, entry.vuln_id)]:
            _add_range(index, entry)
    _sort_spans(index)
    _add_scores(index, reported_cvss or {})
    index.products = frozenset(index.spans) | frozenset(p for p, _ in index.exact)
    return index


def _naming_programs(vulnerabilities: list[Vulnerability]) -> set[str]:
    """The CVEs some record of which names a product that is not a distribution."""
    return {
        v.id for v in vulnerabilities if any(not is_distribution(a.product) for a in v.affected)
    }


def _add_range(index: VulnIndex, entry: IndexedRange) -> None:
    affected = entry.range
    if affected.exact_key is not None:
        table = index.exact.setdefault((affected.product, affected.compares), {})
        table.setdefault(affected.exact_key, []).append(entry)
    else:
        index.spans.setdefault(affected.product, []).append(entry)


def _start(entry: IndexedRange) -> VersionKey:
    return entry.range.start_key or _LOWEST


def _sort_spans(index: VulnIndex) -> None:
    for product, spans in index.spans.items():
        spans.sort(key=_start)
        index.span_starts[product] = [_start(e) for e in spans]


def _add_scores(index: VulnIndex, reported_cvss: dict[str, CvssScore]) -> None:
    for vuln_id, records in index.records.items():
        pool = [s for r in records for s in r.cvss]
        if vuln_id in reported_cvss:
            pool.append(reported_cvss[vuln_id])
        best = scoring.highest(pool)
        if best is not None:
            index.cvss[vuln_id] = best
        index.summaries[vuln_id] = _summary(records)
        dates = [r.published for r in records if isinstance(r.published, datetime)]
        if dates:
            index.published[vuln_id] = min(dates).date()


def _summary(records: list[Vulnerability]) -> str:
    by_feed = {r.provenance.feed: r.summary for r in records if r.summary}
    return next((by_feed[f] for f in _SUMMARY_ORDER if f in by_feed), "")


# ------------------------------------------------------------------ the shipped snapshot

MANIFEST = "SOURCES.json"


def snapshot_dir() -> Path:
    """The folder of the offline snapshot inside the installed package."""
    return Path(str(resources.files("utsyn.data").joinpath("vuln")))


def read_manifest(folder: Path) -> dict[str, dict[str, Any]]:
    """`SOURCES.json`: per feed, its file (or folder), upstream, commit, date and licence."""
    return {k: as_dict(v) for k, v in as_dict(read_json(folder / MANIFEST)).items()}


def feed_date(entry: dict[str, Any]) -> date:
    try:
        return date.fromisoformat(str(entry["date"]))
    except (KeyError, ValueError) as exc:
        raise FeedError(
            "snapshot manifest entry without a valid date: %(entry)s", entry=entry
        ) from exc


def load_folder(folder: Path) -> VulnIndex:
    """Load every feed the manifest in `folder` names and build the index."""
    manifest = read_manifest(folder)

    def source(name: str) -> tuple[Path, date]:
        entry = manifest[name]
        return folder / str(entry["path"]), feed_date(entry)

    vulnerabilities: list[Vulnerability] = []
    vulnerabilities += load_nvd_dir(*source("nvd"))
    vulnerabilities += load_cve5_file(*source("vulnrichment"))
    vulnerabilities += load_httpd_file(*source("httpd"))
    vulnerabilities += load_nginx_advisories(*source("nginx"))
    vulnerabilities += load_retirejs(*source("retirejs"))
    kev = load_kev_json(*source("kev"))
    epss, reported = load_epss_csv(*source("epss"))
    if "distros" in manifest:
        distros = load_distros(*source("distros"))
    else:  # a generation installed before the table was a feed: the shipped table stands in
        shipped = read_manifest(snapshot_dir())["distros"]
        distros = load_distros(snapshot_dir() / str(shipped["path"]), feed_date(shipped))
    return build_index(vulnerabilities, kev.entries, epss, reported, distros)


@lru_cache(maxsize=1)
def load_snapshot() -> VulnIndex:
    """The index over the snapshot shipped with Utsyn, loaded once per process.

    The index is shared: callers must treat it as read-only.
    """
    return load_folder(snapshot_dir())
