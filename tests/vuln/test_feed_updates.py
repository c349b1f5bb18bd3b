"""`utsyn feeds update`: offline default, conditional downloads from a loopback mirror, and
an atomic switch that a broken, truncated or tampered file never gets past."""

from __future__ import annotations

import gzip
import hashlib
import json
from collections.abc import Callable
from pathlib import Path

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session
from typer.testing import CliRunner

from utsyn.cli.feeds import app as feeds_app
from utsyn.settings import Settings, get_settings
from utsyn.store.feed_state import generation_files
from utsyn.store.models import FeedFile, FeedGeneration
from utsyn.vuln.feeds import (
    current_generation,
    feeds_root,
    load_current,
    update_feeds,
)
from utsyn.vuln.index import load_snapshot, read_manifest
from utsyn.vuln.match import ObservedProduct, match
from utsyn.vuln.model import FeedError
from utsyn.vuln.verify import feed_counts

from .conftest import T0, FeedServer, write_mirror_manifest

KEV_JSON = "kev/known_exploited_vulnerabilities.json"
NGINX_XML = "cve/nginx_security_advisories.xml"
EPSS_CSV = "epss/epss_kev_nvd.csv"
DISTROS = "distros/distribution-packages.json"


def _generations(session: Session) -> int:
    return int(session.scalar(select(func.count()).select_from(FeedGeneration)) or 0)


def _on_disk(settings: Settings) -> list[str]:
    return sorted(p.name for p in feeds_root(settings).iterdir() if p.is_dir())


def test_offline_default_installs_the_shipped_snapshot_once(
    session: Session, settings: Settings
) -> None:
    first = update_feeds(session, None, settings, T0)
    assert first.switched and first.previous is None
    assert current_generation(feeds_root(settings)) == first.generation
    assert first.changes.new_kev == first.changes.new_cves == frozenset()  # same as shipped
    assert first.alert_ids == ()
    assert feed_counts(load_current(settings)) == feed_counts(load_snapshot())
    files = generation_files(session, str(first.generation))
    # NVD's one file per CVE, six feed files, the KEV CSV and the distribution table
    assert len(files) == 47 + 8
    kev = next(f for f in files if f.path == KEV_JSON)
    assert kev.records == len(load_snapshot().kev) and kev.size > 1_000_000
    assert kev.sha256 == hashlib.sha256(Path(kev.source_url).read_bytes()).hexdigest()
    assert all(f.records > 0 and f.fetched for f in files)

    again = update_feeds(session, None, settings, T0)
    assert not again.switched and again.generation == first.generation
    assert _generations(session) == 1


def test_a_mirror_answering_304_keeps_the_current_generation(
    session: Session, settings: Settings, feed_server: FeedServer
) -> None:
    first = update_feeds(session, feed_server.base, settings, T0)
    assert first.switched and first.downloaded == len(first.files) == 55
    rows = generation_files(session, str(first.generation))
    assert all(r.etag and r.last_modified for r in rows)
    feed_server.requests.clear()

    second = update_feeds(session, feed_server.base, settings, T0)
    assert not second.switched and second.generation == first.generation
    assert second.downloaded == 0
    assert len(feed_server.served(304)) == 55  # every file; only SOURCES.json came whole
    assert feed_server.served(200) == ["/SOURCES.json"]
    conditional = [h for path, _, h in feed_server.requests if path != "/SOURCES.json"]
    assert all("If-None-Match" in h and "If-Modified-Since" in h for h in conditional)
    assert _generations(session) == 1 and _on_disk(settings) == [first.generation]


def test_only_the_changed_file_is_downloaded_and_the_rest_is_kept(
    session: Session, settings: Settings, feed_server: FeedServer
) -> None:
    first = update_feeds(session, feed_server.base, settings, T0)
    kev = json.loads((feed_server.root / KEV_JSON).read_text())
    kev["vulnerabilities"] = kev["vulnerabilities"][1:]  # CISA removed one entry
    feed_server.touch(KEV_JSON, json.dumps(kev).encode())

    second = update_feeds(session, feed_server.base, settings, T0)
    assert second.switched and second.previous == first.generation
    assert [f.spec.path for f in second.files if f.fetched] == [KEV_JSON]
    assert len(load_current(settings).kev) == len(kev["vulnerabilities"])
    kept = feeds_root(settings) / str(second.generation) / NGINX_XML
    assert kept.stat().st_nlink == 2  # hard-linked from the previous generation, not copied
    assert _on_disk(settings) == sorted([str(first.generation), str(second.generation)])


def _truncate_json(root: Path) -> str:
    data = (root / KEV_JSON).read_bytes()
    (root / KEV_JSON).write_bytes(data[: len(data) // 2])
    return "kev/known_exploited_vulnerabilities.json: .*not valid JSON"


def _corrupt_xml(root: Path) -> str:
    text = (root / NGINX_XML).read_text()
    (root / NGINX_XML).write_text(text.replace("</item>", "</itme>", 1))
    return "cve/nginx_security_advisories.xml: cannot read nginx advisories.*mismatched tag"


def _wrong_sha256(root: Path) -> str:
    manifest = read_manifest(root)
    manifest["httpd"]["sha256"] = "0" * 64
    write_mirror_manifest(root, manifest)
    return "feed 'httpd', file cve/apache_httpd_vendor_cve_json.json: sha256 is [0-9a-f]{64}"


def _wrong_columns(root: Path) -> str:
    (root / EPSS_CSV).write_text("cve,score\nCVE-2021-44228,0.9\n")
    return "feed 'epss', file epss/epss_kev_nvd.csv: .*not an EPSS CSV"


def _cut_csv(root: Path) -> str:
    lines = (root / EPSS_CSV).read_text().splitlines(keepends=True)
    (root / EPSS_CSV).write_text("".join(lines[:40]))  # cut at a line end: still a valid CSV
    return "feed 'epss', file epss/epss_kev_nvd.csv: 39 records where the current data has 1556"


def _empty_kev(root: Path) -> str:
    kev = json.loads((root / KEV_JSON).read_text())
    (root / KEV_JSON).write_text(json.dumps({**kev, "vulnerabilities": []}))
    return "feed 'kev', file kev/known_exploited_vulnerabilities.json: no records"


def _unsafe_path(root: Path) -> str:
    manifest = read_manifest(root)
    manifest["retirejs"]["path"] = "../../../../tmp/utsyn-escape.json"
    write_mirror_manifest(root, manifest)
    return "feed 'retirejs': unsafe or empty path"


def _missing_feed(root: Path) -> str:
    manifest = read_manifest(root)
    del manifest["nginx"]
    write_mirror_manifest(root, manifest)
    return "names no nginx feed"


def _distros_of_another_format(root: Path) -> str:
    table = json.loads((root / DISTROS).read_text())
    (root / DISTROS).write_text(json.dumps({**table, "format": "something-else/2"}))
    return "feed 'distros', file distros/distribution-packages.json: .*not a utsyn-distro"


def _distros_naming_an_unknown_release(root: Path) -> str:
    table = json.loads((root / DISTROS).read_text())
    table["packages"][0]["release"] = "debian-99"
    (root / DISTROS).write_text(json.dumps(table))
    return "feed 'distros', .*unknown release 'debian-99'"


BREAKAGES: dict[str, Callable[[Path], str]] = {
    "distribution table of another format": _distros_of_another_format,
    "distribution table naming an unknown release": _distros_naming_an_unknown_release,
    "truncated JSON": _truncate_json,
    "corrupted XML": _corrupt_xml,
    "wrong sha256": _wrong_sha256,
    "CSV with other columns": _wrong_columns,
    "CSV cut at a line end": _cut_csv,
    "KEV without entries": _empty_kev,
    "path outside the generation": _unsafe_path,
    "feed missing from the manifest": _missing_feed,
}


@pytest.mark.parametrize("breakage", sorted(BREAKAGES))
def test_a_broken_feed_leaves_the_loaded_data_untouched(
    session: Session, settings: Settings, feed_server: FeedServer, breakage: str
) -> None:
    good = update_feeds(session, feed_server.base, settings, T0)
    counts = feed_counts(load_current(settings))
    expected = BREAKAGES[breakage](feed_server.root)
    with pytest.raises(FeedError, match=expected):
        update_feeds(session, feed_server.base, settings, T0)
    assert current_generation(feeds_root(settings)) == good.generation
    assert _on_disk(settings) == [good.generation]  # nothing half-written left behind
    assert not list(feeds_root(settings).glob(".incoming-*"))
    assert _generations(session) == 1
    assert feed_counts(load_current(settings)) == counts
    assert not Path("/tmp/utsyn-escape.json").exists()


def test_gzip_files_are_inflated_and_a_truncated_gzip_is_refused(
    session: Session, settings: Settings, feed_server: FeedServer
) -> None:
    root = feed_server.root
    packed = gzip.compress((root / KEV_JSON).read_bytes())
    (root / (KEV_JSON + ".gz")).write_bytes(packed)
    manifest = read_manifest(root)
    manifest["kev"]["path"] = KEV_JSON + ".gz"
    write_mirror_manifest(root, manifest)

    first = update_feeds(session, feed_server.base, settings, T0)
    stored = feeds_root(settings) / str(first.generation)
    assert read_manifest(stored)["kev"]["path"] == KEV_JSON
    assert (stored / KEV_JSON).read_bytes() == (root / KEV_JSON).read_bytes()

    feed_server.touch(KEV_JSON + ".gz", packed[: len(packed) // 3])
    with pytest.raises(FeedError, match=r"kev/known_exploited_vulnerabilities.json.gz is a trunc"):
        update_feeds(session, feed_server.base, settings, T0)
    assert current_generation(feeds_root(settings)) == first.generation


def test_a_file_over_the_size_limit_is_refused(
    session: Session, tmp_path: Path, feed_server: FeedServer
) -> None:
    small = Settings(data_dir=tmp_path / "data", feeds_max_bytes=1_000_000)
    with pytest.raises(FeedError, match="larger than 1000000 bytes"):
        update_feeds(session, feed_server.base, small, T0)
    assert current_generation(feeds_root(small)) is None
    assert feed_counts(load_current(small)) == feed_counts(load_snapshot())  # the fallback


def test_the_cli_updates_and_reports(
    session: Session, tmp_path: Path, feed_server: FeedServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("UTSYN_DATA_DIR", str(tmp_path / "cli"))
    get_settings.cache_clear()
    try:
        runner = CliRunner()
        updated = runner.invoke(feeds_app, ["update", "--from", feed_server.base, "--lang", "en"])
        assert updated.exit_code == 0, updated.output
        assert "55 of 55 files downloaded" in updated.output
        unchanged = runner.invoke(feeds_app, ["update", "--from", feed_server.base, "--lang", "en"])
        assert "Feeds unchanged" in unchanged.output
        status = runner.invoke(feeds_app, ["status"])
        assert "kev" in status.output and "1404" in status.output
        _truncate_json(feed_server.root)
        broken = runner.invoke(feeds_app, ["update", "--from", feed_server.base, "--lang", "en"])
        assert isinstance(broken.exception, FeedError)
        assert "known_exploited_vulnerabilities.json" in str(broken.exception)
    finally:
        get_settings.cache_clear()


def test_feed_file_rows_record_provenance(
    session: Session, settings: Settings, feed_server: FeedServer
) -> None:
    result = update_feeds(session, feed_server.base, settings, T0)
    row = session.scalars(select(FeedFile).where(FeedFile.path == NGINX_XML)).one()
    assert row.source_url == feed_server.base + NGINX_XML
    assert row.file_date.isoformat() == read_manifest(feed_server.root)["nginx"]["date"]
    assert row.records == 62 and row.loaded_at == T0
    generation = session.scalars(select(FeedGeneration)).one()
    assert generation.name == result.generation and generation.source == feed_server.base
    assert generation.counts["kev"] == 1404
    assert generation.changes == {"new_kev": [], "new_cves": [], "withdrawn": [], "alerts": 0}


def test_the_distribution_table_is_updated_with_the_feeds(
    session: Session, settings: Settings, feed_server: FeedServer
) -> None:
    """Debian 12 ships nginx 1.22.1, so its CVEs are potential; a table update that no longer
    lists that row (as when a release leaves the table) makes them confirmed, at once."""
    nginx = ObservedProduct("nginx", "1.22.1", vendor="f5", source="nginx/1.22.1")
    update_feeds(session, feed_server.base, settings, T0)
    before = match(nginx, load_current(settings))
    assert before and not any(m.scored for m in before)
    assert all("Debian 12 (bookworm)" in m.shipped_by for m in before)

    table = json.loads((feed_server.root / DISTROS).read_text())
    table["packages"] = [
        row
        for row in table["packages"]
        if row["product"] != "f5:nginx" or "1.22.1" not in row["versions"]
    ]
    feed_server.touch(DISTROS, json.dumps(table).encode())
    result = update_feeds(session, feed_server.base, settings, T0)
    assert [f.spec.path for f in result.files if f.fetched] == [DISTROS]
    after = match(nginx, load_current(settings))
    assert {m.vuln_id for m in after} == {m.vuln_id for m in before}
    assert all(m.scored and "ships nginx 1.22.1" in m.basis for m in after)
