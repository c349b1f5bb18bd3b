"""Verifying a downloaded feed generation before it becomes current: every file loaded with
the real loaders (a truncated JSON, a corrupted XML or a CSV with the wrong columns fails
here, naming the file), and each feed's record count checked against the current one."""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any, TypeVar

from utsyn.vuln.cve5 import load_cve5_file
from utsyn.vuln.distros import load_distros
from utsyn.vuln.epss import load_epss_csv
from utsyn.vuln.httpd import load_httpd_file
from utsyn.vuln.index import (
    VulnIndex,
    build_index,
    feed_date,
    read_manifest,
)
from utsyn.vuln.kev import load_kev_csv, load_kev_json
from utsyn.vuln.model import Feed, FeedError, Vulnerability
from utsyn.vuln.nginx import load_nginx_advisories
from utsyn.vuln.nvd import load_nvd_dir
from utsyn.vuln.retirejs import load_retirejs

# The feeds the index is built from, by their name in SOURCES.json, as `load_folder` reads
# them; every one must be present and non-empty.
RECORD_LOADERS: dict[str, Callable[[Path, date], list[Vulnerability]]] = {
    "nvd": load_nvd_dir,
    "vulnrichment": load_cve5_file,
    "httpd": load_httpd_file,
    "nginx": load_nginx_advisories,
    "retirejs": load_retirejs,
}
# `distros` is the distribution package table (`vuln.distros`): which upstream versions
# releases ship and which revision fixed a CVE; it changes with the distributions' updates.
REQUIRED = (*RECORD_LOADERS, "kev", "epss", "distros")
# What a loader may raise on a file that parses but is not the feed it claims to be.
_CONTENT_ERRORS = (KeyError, TypeError, ValueError, AttributeError, IndexError)

T = TypeVar("T")

# The name in SOURCES.json of the feed each record came from.
_FEED_NAMES = {
    Feed.NVD: "nvd",
    Feed.CVE5_CNA: "vulnrichment",
    Feed.CVE5_ADP: "vulnrichment",
    Feed.HTTPD: "httpd",
    Feed.NGINX: "nginx",
    Feed.RETIREJS: "retirejs",
}


# ------------------------------------------------------------------ verification


@dataclass(frozen=True, slots=True)
class Verified:
    index: VulnIndex
    counts: dict[str, int]  # records per feed
    per_file: dict[tuple[str, str], int]  # (feed, file name) → records
    dates: dict[str, date]  # feed → the upstream date of its files


def _load(name: str, entry: dict[str, Any], folder: Path, key: str, loader: Callable[..., T]) -> T:
    rel = str(entry[key])
    try:
        return loader(folder / rel, feed_date(entry))
    except FeedError as exc:
        raise FeedError(
            "feed '%(feed)s', file %(path)s: %(reason)s", feed=name, path=rel, reason=exc
        ) from exc
    except _CONTENT_ERRORS as exc:
        raise FeedError(
            "feed '%(feed)s', file %(path)s: not the expected format (%(kind)s: %(reason)s)",
            feed=name,
            path=rel,
            kind=type(exc).__name__,
            reason=exc,
        ) from exc


def verify_folder(folder: Path, floor: dict[str, int], min_ratio: float) -> Verified:
    """Load every feed in `folder` with the real loaders and build the index; refuse a feed
    without records or with fewer than `min_ratio` of the records it had (`floor`)."""
    manifest = read_manifest(folder)
    vulnerabilities: list[Vulnerability] = []
    per_file: Counter[tuple[str, str]] = Counter()
    for name, loader in RECORD_LOADERS.items():
        records = _load(name, manifest[name], folder, "path", loader)
        vulnerabilities += records
        per_file.update((name, r.provenance.file) for r in records)
    kev = _load("kev", manifest["kev"], folder, "path", load_kev_json)
    per_file[("kev", Path(manifest["kev"]["path"]).name)] = len(kev.entries)
    if manifest["kev"].get("csv"):
        csv = _load("kev", manifest["kev"], folder, "csv", load_kev_csv)
        _check_count("kev", str(manifest["kev"]["csv"]), len(csv.entries), 0, min_ratio)
        per_file[("kev", Path(manifest["kev"]["csv"]).name)] = len(csv.entries)
    epss, reported = _load("epss", manifest["epss"], folder, "path", load_epss_csv)
    per_file[("epss", Path(manifest["epss"]["path"]).name)] = len(epss)
    distros = _load("distros", manifest["distros"], folder, "path", load_distros)
    per_file[("distros", Path(manifest["distros"]["path"]).name)] = len(distros)
    index = build_index(vulnerabilities, kev.entries, epss, reported, distros)
    counts = feed_counts(index)
    for name in REQUIRED:
        path = str(manifest[name]["path"])
        _check_count(name, path, counts.get(name, 0), floor.get(name, 0), min_ratio)
    dates = {name: feed_date(entry) for name, entry in manifest.items()}
    return Verified(index, counts, dict(per_file), dates)


def _check_count(name: str, path: str, count: int, before: int, min_ratio: float) -> None:
    if count == 0:
        raise FeedError(
            "feed '%(feed)s', file %(path)s: no records (empty or truncated)", feed=name, path=path
        )
    if count < before * min_ratio:
        raise FeedError(
            "feed '%(feed)s', file %(path)s: %(count)s records where the current data has "
            "%(before)s; refusing a feed that shrank this much (truncated upstream?)",
            feed=name,
            path=path,
            count=count,
            before=before,
        )


def feed_counts(index: VulnIndex) -> dict[str, int]:
    """Records per feed, by the feed's name in SOURCES.json."""
    counts: Counter[str] = Counter()
    for records in index.records.values():
        counts.update(_FEED_NAMES[r.provenance.feed] for r in records)
    counts["kev"] = len(index.kev)
    counts["epss"] = len(index.epss)
    counts["distros"] = len(index.distros)
    return dict(counts)
