"""Loaders over the real snapshot files shipped in `utsyn/data/vuln/`."""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from dataclasses import replace
from datetime import date
from pathlib import Path

import pytest

from utsyn.vuln.cve5 import load_cve5_file
from utsyn.vuln.epss import load_epss_csv
from utsyn.vuln.httpd import load_httpd_file
from utsyn.vuln.index import feed_date, read_manifest, snapshot_dir
from utsyn.vuln.kev import load_kev_csv, load_kev_json
from utsyn.vuln.model import Certainty, Feed, FeedError, VersionField
from utsyn.vuln.nginx import load_nginx_advisories
from utsyn.vuln.nvd import load_nvd_dir
from utsyn.vuln.retirejs import load_retirejs
from utsyn.vuln.scoring import base_score

SNAPSHOT = snapshot_dir()
MANIFEST = read_manifest(SNAPSHOT)


def _source(name: str) -> tuple[Path, date]:
    return SNAPSHOT / MANIFEST[name]["path"], feed_date(MANIFEST[name])


def test_cvss_computed_equals_nvd_stated_for_every_nvd_metric() -> None:
    folder, _ = _source("nvd")
    files = sorted(folder.glob("*.json"))
    assert len(files) == 47
    compared = 0
    for path in files:
        metrics = json.loads(path.read_text())["metrics"]
        for entries in metrics.values():
            for metric in entries:
                data = metric.get("cvssData")
                if data is None:
                    continue  # SSVC entries carry no CVSS
                assert base_score(data["vectorString"]) == data["baseScore"], path.name
                compared += 1
    assert compared > 47  # most records carry two or three metrics


def test_nvd_records_keep_computed_scores_and_stated_numbers() -> None:
    records = {v.id: v for v in load_nvd_dir(*_source("nvd"))}
    assert len(records) == 47
    for record in records.values():
        for score in record.cvss:
            assert score.computed and score.base_score == score.reported_score
    regresshion = records["CVE-2024-6387"]
    assert {s.vector for s in regresshion.cvss} == {"CVSS:3.1/AV:N/AC:H/PR:N/UI:N/S:U/C:H/I:H/A:H"}
    assert regresshion.provenance.record_date is not None
    assert regresshion.provenance.feed is Feed.NVD


def test_nvd_only_vulnerable_entries_become_ranges_with_their_platform() -> None:
    records = {v.id: v for v in load_nvd_dir(*_source("nvd"))}
    iis = records["CVE-2017-7269"].affected
    assert [r.product for r in iis] == ["microsoft:internet_information_services"]
    assert iis[0].exact == "6.0"
    assert iis[0].platforms == ("cpe:2.3:o:microsoft:windows_server_2003:r2:*:*:*:*:*:*:*",)
    openssh = [r for r in records["CVE-2024-6387"].affected if r.product == "openbsd:openssh"]
    exact = {(r.exact, r.update) for r in openssh if r.exact}
    assert exact == {("4.4", "-"), ("8.5", "p1"), ("9.8", "-")}
    span = next(r for r in openssh if r.start == "8.6")
    assert (span.end, span.end_inclusive, span.compares) == ("9.8", False, VersionField.CPE_VERSION)
    # Three deliberate edge cases have no configurations at all.
    for bare in ("CVE-2023-51764", "CVE-2023-42115", "CVE-2023-48795"):
        assert records[bare].affected == ()


def test_kev_json_and_csv_load_the_same_catalogue() -> None:
    json_path, file_date = _source("kev")
    csv_path = SNAPSHOT / MANIFEST["kev"]["csv"]
    from_json = load_kev_json(json_path, file_date)
    from_csv = load_kev_csv(csv_path, file_date)
    assert from_json.version == "2025.08.25"
    assert len(from_json.entries) == len(from_csv.entries) == 1404
    assert from_json.entries.keys() == from_csv.entries.keys()
    for cve, entry in from_json.entries.items():
        assert replace(entry, provenance=from_csv.entries[cve].provenance) == from_csv.entries[cve]
    proxylogon = from_json.entries["CVE-2021-26855"]
    assert proxylogon.date_added == date(2021, 11, 3)
    assert proxylogon.ransomware_use is True


def test_epss_rows_and_reported_cvss() -> None:
    scores, reported = load_epss_csv(*_source("epss"))
    assert len(scores) == 1556
    path_traversal = scores["CVE-2021-41773"]
    assert 0.9 < path_traversal.probability <= 1 and 0.9 < path_traversal.percentile <= 1
    assert all(not s.computed and s.vector is None for s in reported.values())


def test_nginx_items_and_branch_semantics() -> None:
    path, file_date = _source("nginx")
    records = load_nginx_advisories(path, file_date)
    assert len(records) == len(list(ET.parse(path).getroot().iter("item"))) == 62
    resolver = next(r for r in records if r.id == "CVE-2021-23017")
    assert resolver.severity == "medium"
    spans = {(r.start, r.end, r.end_inclusive) for r in resolver.affected}
    # vulnerable 0.6.18-1.20.0, good 1.21.0+ and 1.20.1+: nothing of 0.6.18..1.20.0 is good.
    assert spans == {("0.6.18", "1.20.0", True)}
    windows = [r for r in records if any(a.platforms for a in r.affected)]
    assert {r.id for r in windows} >= {"CVE-2011-4963", "CVE-2010-2266"}


def test_httpd_operators() -> None:
    records = {v.id: v for v in load_httpd_file(*_source("httpd"))}
    assert len(records) == 244
    traversal = records["CVE-2021-41773"].affected
    assert [(r.exact, r.certainty) for r in traversal] == [("2.4.49", Certainty.AFFECTED)]
    splitting = records["CVE-2021-33193"].affected  # <= 2.4.48 and !< 2.4.17
    assert [(r.start, r.end, r.end_inclusive) for r in splitting] == [("2.4.17", "2.4.48", True)]
    old = records["CVE-2000-0505"].affected  # "=" 1.3.12 and "?=" for older releases
    assert {r.certainty for r in old} == {Certainty.AFFECTED, Certainty.UNKNOWN}


def test_cve5_versions_wildcards_and_adp() -> None:
    records = {v.id: v for v in load_cve5_file(*_source("vulnrichment"))}
    assert len(records) == 191
    php = [r for r in records["CVE-2022-31629"].affected if r.product == "php:php"]
    assert ("7.4", "7.4.31") in {(r.start, r.end) for r in php}  # CNA wrote "7.4.X"
    adp = [r for r in records["CVE-2024-39894"].affected if r.provenance.feed is Feed.CVE5_ADP]
    assert [(r.product, r.start, r.end) for r in adp] == [("openbsd:openssh", "9.5", "9.7")]


def test_retirejs_groups_ranges_by_cve() -> None:
    records = load_retirejs(*_source("retirejs"))
    cors = [r for r in records if r.id == "CVE-2015-9251"]
    assert len(cors) == 1
    assert {(a.start, a.end) for a in cors[0].affected} == {
        ("1.4.0", "1.12.0"),
        ("1.12.3", "3.0.0-beta1"),
    }
    assert all(not r.id.startswith("CVE-XXXX") for r in records)


def test_missing_feed_file_is_a_feed_error(tmp_path: Path) -> None:
    with pytest.raises(FeedError, match="not found"):
        load_kev_json(tmp_path / "absent.json", date(2026, 1, 1))
