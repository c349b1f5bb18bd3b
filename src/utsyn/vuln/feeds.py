"""Feed updates: download the vulnerability feeds, verify them, and switch atomically.

Why the records stay in files and the database keeps only provenance: the feeds are
millions of CPE ranges that matching reads as an in-memory index (`vuln.index`), which is
rebuilt from the files on start-up (in under a second for the shipped snapshot). Copying
them into tables would double the storage and still need the index. What the database is
good at is what the files cannot say: where each file came from (URL, ETag, Last-Modified,
sha256, size), when it was loaded, how many records it held, and what changed between two
updates, so that an alert can name the update that brought its CVE (`FeedGeneration`,
`FeedFile`, which `store.feed_state` writes and reads).

Layout under `settings.data_dir / "feeds"`:

    current               the name of the current generation, replaced atomically
    <generation>/         SOURCES.json and the files, laid out like utsyn/data/vuln/
    .incoming-<name>/     a generation being downloaded; removed if it fails
    .lock                 one update at a time

A generation is never changed once written. An update downloads into `.incoming-*`, loads
every file with the real loaders (so a truncated JSON, a corrupted XML or a CSV with the
wrong columns fails here, naming the file), checks each feed's record count, and only then
renames the folder and moves the pointer. Anything that fails leaves the pointer, the
current generation and the database as they were.

A mirror (`--from URL` or `UTSYN_FEEDS_URL`) serves `SOURCES.json` at its base URL, in the
shipped snapshot's format, and the files at the paths it names. An entry may also carry
`url` (where its `path` file is downloaded from), `files` (the file names of a folder feed,
such as NVD's one file per CVE) and `sha256` (a hex digest, or a mapping from path to
digest, of the file as stored, that is after gzip decompression as NVD's `.meta` files
give it). A path or URL ending in `.gz` is decompressed.
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import os
import secrets
import shutil
import zlib
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from email.utils import parsedate_to_datetime
from pathlib import Path, PurePosixPath
from typing import Any, Protocol, TypeVar

import httpx
from sqlalchemy.orm import Session

from utsyn import __version__
from utsyn.settings import Settings, get_settings
from utsyn.store.feed_state import (
    FileProvenance,
    NewGeneration,
    generation_digest,
    generation_files,
    record_generation,
)
from utsyn.vuln.alerts import Changes, feed_alerts, index_changes
from utsyn.vuln.cve5 import load_cve5_file
from utsyn.vuln.distros import load_distros
from utsyn.vuln.epss import load_epss_csv
from utsyn.vuln.feedio import as_dict
from utsyn.vuln.httpd import load_httpd_file
from utsyn.vuln.index import (
    MANIFEST,
    VulnIndex,
    build_index,
    feed_date,
    load_folder,
    load_snapshot,
    read_manifest,
    snapshot_dir,
)
from utsyn.vuln.kev import load_kev_csv, load_kev_json
from utsyn.vuln.model import Feed, FeedError, Vulnerability
from utsyn.vuln.nginx import load_nginx_advisories
from utsyn.vuln.nvd import load_nvd_dir
from utsyn.vuln.retirejs import load_retirejs

FEEDS_DIR = "feeds"
POINTER = "current"
CHUNK = 1 << 16

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
_FEED_NAMES = {
    Feed.NVD: "nvd",
    Feed.CVE5_CNA: "vulnrichment",
    Feed.CVE5_ADP: "vulnrichment",
    Feed.HTTPD: "httpd",
    Feed.NGINX: "nginx",
    Feed.RETIREJS: "retirejs",
}
# What a loader may raise on a file that parses but is not the feed it claims to be.
_CONTENT_ERRORS = (KeyError, TypeError, ValueError, AttributeError, IndexError)

T = TypeVar("T")


# ------------------------------------------------------------------ the current generation


def feeds_root(settings: Settings | None = None) -> Path:
    return (settings or get_settings()).data_dir / FEEDS_DIR


def current_generation(root: Path) -> str | None:
    """The generation the pointer names, or None (no update yet: the shipped snapshot)."""
    try:
        name = (root / POINTER).read_text(encoding="utf-8").strip()
    except FileNotFoundError:
        return None
    return name if name and (root / name / MANIFEST).is_file() else None


def load_current(settings: Settings | None = None) -> VulnIndex:
    """The index over the current feed generation, or over the shipped snapshot.

    Shared between callers (cached per generation): treat it as read-only.
    """
    root = feeds_root(settings)
    name = current_generation(root)
    if name is None:
        return load_snapshot()
    folder = (root / name).resolve()
    if folder not in _LOADED:
        _remember(folder, load_folder(folder))
    return _LOADED[folder]


# A generation's files never change once its name is written, so its index can be cached
# by path; the update registers the index it verified, so nothing is parsed twice.
_LOADED: dict[Path, VulnIndex] = {}
_LOADED_MAX = 2


def _remember(folder: Path, index: VulnIndex) -> None:
    while len(_LOADED) >= _LOADED_MAX:
        del _LOADED[next(iter(_LOADED))]
    _LOADED[folder.resolve()] = index


def feed_counts(index: VulnIndex) -> dict[str, int]:
    """Records per feed, by the feed's name in SOURCES.json."""
    counts: Counter[str] = Counter()
    for records in index.records.values():
        counts.update(_FEED_NAMES[r.provenance.feed] for r in records)
    counts["kev"] = len(index.kev)
    counts["epss"] = len(index.epss)
    counts["distros"] = len(index.distros)
    return dict(counts)


# ------------------------------------------------------------------ files and sources


@dataclass(frozen=True, slots=True)
class FileSpec:
    """One file to fetch: where it comes from and where it goes in the generation."""

    feed: str  # the manifest entry: "kev", "nvd", ...
    path: str  # inside the generation; ".gz" dropped
    url: str  # a URL, or a local file path for a folder source
    sha256: str | None  # what the manifest says the stored file hashes to

    @property
    def gz(self) -> bool:
        return self.url.endswith(".gz")


@dataclass(frozen=True, slots=True)
class Known:
    """What the current generation holds of a file: replayed as If-None-Match and
    If-Modified-Since, and hard-linked into the new generation on 304 Not Modified."""

    path: str
    source_url: str
    etag: str | None
    last_modified: str | None
    sha256: str
    file: Path


@dataclass(frozen=True, slots=True)
class Fetched:
    spec: FileSpec
    sha256: str
    size: int
    etag: str | None = None
    last_modified: str | None = None
    fetched: bool = True  # False: kept from the current generation (304)


class _Sink:
    """Writes a file while hashing and counting it; refuses it past the size limit and
    inflates gzip on the way, so neither a huge file nor a gzip bomb fills the disk."""

    def __init__(self, target: Path, label: str, limit: int, gz: bool) -> None:
        target.parent.mkdir(parents=True, exist_ok=True)
        self.label = label
        self.limit = limit
        self.size = 0
        self.hash = hashlib.sha256()
        self.inflater = zlib.decompressobj(wbits=31) if gz else None
        self.handle = target.open("wb")

    def __enter__(self) -> _Sink:
        return self

    def __exit__(self, kind: type[BaseException] | None, *_: object) -> None:
        self.handle.close()
        if kind is None and self.inflater is not None and not self.inflater.eof:
            raise FeedError(f"{self.label} is a truncated gzip stream")

    def write(self, chunk: bytes) -> None:
        if self.inflater is None:
            self._store(chunk)
            return
        try:
            while chunk and not self.inflater.eof:
                self._store(self.inflater.decompress(chunk, CHUNK))
                chunk = self.inflater.unconsumed_tail
        except zlib.error as exc:
            raise FeedError(f"{self.label} is not valid gzip: {exc}") from exc

    def _store(self, data: bytes) -> None:
        self.size += len(data)
        if self.size > self.limit:
            raise FeedError(
                f"{self.label} is larger than {self.limit} bytes (UTSYN_FEEDS_MAX_BYTES)"
            )
        self.hash.update(data)
        self.handle.write(data)


def _copy(source: Path, target: Path, label: str, limit: int, gz: bool) -> tuple[str, int]:
    try:
        with source.open("rb") as handle, _Sink(target, label, limit, gz) as sink:
            for chunk in iter(lambda: handle.read(CHUNK), b""):
                sink.write(chunk)
    except FileNotFoundError as exc:
        raise FeedError(f"{label}: file not found") from exc
    return sink.hash.hexdigest(), sink.size


class Source(Protocol):
    label: str

    def manifest(self) -> dict[str, dict[str, Any]]: ...
    def locate(self, path: str) -> str: ...
    def listing(self, path: str) -> list[str] | None: ...
    def fetch(self, spec: FileSpec, target: Path, known: Known | None) -> Fetched: ...


class FolderSource:
    """A local folder laid out like the shipped snapshot (the offline default)."""

    def __init__(self, folder: Path, limit: int) -> None:
        self.folder = folder
        self.limit = limit
        self.label = str(folder)

    def manifest(self) -> dict[str, dict[str, Any]]:
        if not (self.folder / MANIFEST).is_file():
            raise FeedError(f"{self.folder} has no {MANIFEST}: lay it out like the snapshot")
        return read_manifest(self.folder)

    def locate(self, path: str) -> str:
        return str(self.folder / path)

    def listing(self, path: str) -> list[str] | None:
        folder = self.folder / path
        return sorted(p.name for p in folder.glob("*.json")) if folder.is_dir() else None

    def fetch(self, spec: FileSpec, target: Path, known: Known | None) -> Fetched:
        label = f"feed '{spec.feed}', file {spec.url}"
        sha256, size = _copy(Path(spec.url), target, label, self.limit, spec.gz)
        return Fetched(spec, sha256, size)


class HttpSource:
    """A mirror over HTTP(S): conditional GETs, so an unchanged file costs a 304."""

    def __init__(self, base: str, client: httpx.Client, limit: int) -> None:
        self.base = base if base.endswith("/") else base + "/"
        self.client = client
        self.limit = limit
        self.label = self.base

    def manifest(self) -> dict[str, dict[str, Any]]:
        url = self.locate(MANIFEST)
        try:
            response = self.client.get(url)
        except httpx.HTTPError as exc:
            raise FeedError(f"cannot fetch {url}: {exc}") from exc
        if response.status_code != 200:
            raise FeedError(f"{url}: HTTP {response.status_code} (a mirror serves {MANIFEST})")
        if len(response.content) > self.limit:
            raise FeedError(f"{url} is larger than {self.limit} bytes")
        try:
            data = json.loads(response.content)
        except (json.JSONDecodeError, UnicodeDecodeError) as exc:
            raise FeedError(f"{url} is not valid JSON: {exc}") from exc
        return {str(k): as_dict(v) for k, v in as_dict(data).items()}

    def locate(self, path: str) -> str:
        return str(httpx.URL(self.base).join(path))

    def listing(self, path: str) -> list[str] | None:
        return None  # HTTP has no directory listing: a folder feed names its `files`

    def fetch(self, spec: FileSpec, target: Path, known: Known | None) -> Fetched:
        label = f"feed '{spec.feed}', {spec.url}"
        try:
            with self.client.stream("GET", spec.url, headers=_conditional(spec, known)) as got:
                if got.status_code == 304 and known is not None:
                    return _keep(spec, target, known, self.limit)
                if got.status_code != 200:
                    raise FeedError(f"{label}: HTTP {got.status_code}")
                return self._receive(spec, target, got, label)
        except httpx.HTTPError as exc:  # a connection cut mid-body lands here
            raise FeedError(f"{label}: {exc}") from exc

    def _receive(
        self, spec: FileSpec, target: Path, response: httpx.Response, label: str
    ) -> Fetched:
        declared = int(response.headers.get("Content-Length") or 0)
        if declared > self.limit:
            raise FeedError(f"{label} is larger than {self.limit} bytes (UTSYN_FEEDS_MAX_BYTES)")
        with _Sink(target, label, self.limit, spec.gz) as sink:
            for chunk in response.iter_bytes(CHUNK):
                sink.write(chunk)
        etag, modified = response.headers.get("ETag"), response.headers.get("Last-Modified")
        return Fetched(spec, sink.hash.hexdigest(), sink.size, etag, modified)


def _conditional(spec: FileSpec, known: Known | None) -> dict[str, str]:
    if known is None or known.source_url != spec.url or not known.file.is_file():
        return {}
    headers = {"If-None-Match": known.etag} if known.etag else {}
    if known.last_modified:
        headers["If-Modified-Since"] = known.last_modified
    return headers


def _keep(spec: FileSpec, target: Path, known: Known, limit: int) -> Fetched:
    """Not modified: the current generation's copy goes into the new one."""
    target.parent.mkdir(parents=True, exist_ok=True)
    try:
        os.link(known.file, target)  # generations are immutable, so sharing the inode is safe
        sha256, size = known.sha256, target.stat().st_size
    except OSError:
        sha256, size = _copy(known.file, target, f"kept copy of {spec.path}", limit, False)
    return Fetched(spec, sha256, size, known.etag, known.last_modified, fetched=False)


@contextmanager
def open_source(where: str | None, settings: Settings) -> Iterator[Source]:
    """`--from` (a folder or an http(s) base URL), else UTSYN_FEEDS_URL, else the shipped
    snapshot: offline by default."""
    where = where or settings.feeds_url
    limit = settings.feeds_max_bytes
    if where is None:
        yield FolderSource(snapshot_dir(), limit)
    elif where.startswith(("http://", "https://")):
        agent = {"User-Agent": f"utsyn/{__version__} (feed update)"}
        timeout = settings.feeds_timeout_seconds
        with httpx.Client(timeout=timeout, follow_redirects=True, headers=agent) as client:
            yield HttpSource(where, client, limit)
    elif Path(where).is_dir():
        yield FolderSource(Path(where), limit)
    else:
        raise FeedError(f"feed source {where!r} is neither a folder nor an http(s) URL")


# ------------------------------------------------------------------ manifest → files


def _safe_path(feed: str, path: object) -> str:
    """A relative path inside the generation: a mirror's manifest must not write elsewhere."""
    text = str(path or "")
    parts = PurePosixPath(text).parts
    if not text or text.startswith("/") or ".." in parts or "\\" in text:
        raise FeedError(f"feed '{feed}': unsafe or empty path {text!r} in {MANIFEST}")
    return text


def _stored(path: str) -> str:
    return path.removesuffix(".gz")


def _expected_sha(entry: dict[str, Any], rel: str) -> str | None:
    value = entry.get("sha256")
    if isinstance(value, str):
        return value.lower() if rel == entry.get("path") else None
    return str(value[rel]).lower() if isinstance(value, dict) and rel in value else None


def _entry_paths(name: str, entry: dict[str, Any], source: Source) -> list[str]:
    path = _safe_path(name, entry.get("path"))
    files = entry.get("files")
    if files is None:
        files = source.listing(path)
    paths = [path] if files is None else [f"{path}/{_safe_path(name, f)}" for f in files]
    if files is not None and not paths:
        raise FeedError(f"feed '{name}': folder {path} holds no files")
    if entry.get("csv"):
        paths.append(_safe_path(name, entry["csv"]))
    return paths


def file_specs(manifest: dict[str, dict[str, Any]], source: Source) -> list[FileSpec]:
    missing = [name for name in REQUIRED if name not in manifest]
    if missing:
        raise FeedError(f"{source.label}{MANIFEST} names no {', '.join(missing)} feed")
    specs: list[FileSpec] = []
    for name, entry in manifest.items():
        for rel in _entry_paths(name, entry, source):
            url = str(entry["url"]) if entry.get("url") and rel == entry["path"] else None
            specs.append(
                FileSpec(name, _stored(rel), url or source.locate(rel), _expected_sha(entry, rel))
            )
    return specs


def _check_sha(fetched: Fetched) -> None:
    want = fetched.spec.sha256
    if want is not None and want != fetched.sha256:
        raise FeedError(
            f"feed '{fetched.spec.feed}', file {fetched.spec.path}: sha256 is {fetched.sha256}, "
            f"the manifest says {want} (corrupted or replaced in transit)"
        )


def _generation_manifest(
    manifest: dict[str, dict[str, Any]], fetched: list[Fetched], today: date
) -> dict[str, dict[str, Any]]:
    """The mirror's manifest as `load_folder` reads it: stored paths, and a date for each
    feed (the mirror's, else the file's Last-Modified, else today)."""
    out: dict[str, dict[str, Any]] = {}
    for name, entry in manifest.items():
        stored = {k: v for k, v in entry.items() if k not in ("url", "files", "sha256")}
        stored["path"] = _stored(str(entry["path"]))
        if entry.get("csv"):
            stored["csv"] = _stored(str(entry["csv"]))
        if "date" not in stored:
            stored["date"] = _last_modified(name, fetched, today).isoformat()
        out[name] = stored
    return out


def _last_modified(name: str, fetched: list[Fetched], today: date) -> date:
    for f in fetched:
        if f.spec.feed == name and f.last_modified:
            try:
                return parsedate_to_datetime(f.last_modified).date()
            except (TypeError, ValueError):
                break
    return today


def fetch_all(source: Source, staging: Path, known: dict[str, Known], today: date) -> list[Fetched]:
    """Every file the source's manifest names, into `staging`, sha256 checked."""
    manifest = source.manifest()
    fetched: list[Fetched] = []
    for spec in file_specs(manifest, source):
        got = source.fetch(spec, staging / spec.path, known.get(spec.path))
        _check_sha(got)
        fetched.append(got)
    stored = _generation_manifest(manifest, fetched, today)
    (staging / MANIFEST).write_text(json.dumps(stored, indent=2, ensure_ascii=False) + "\n")
    return fetched


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
        raise FeedError(f"feed '{name}', file {rel}: {exc}") from exc
    except _CONTENT_ERRORS as exc:
        raise FeedError(
            f"feed '{name}', file {rel}: not the expected format ({type(exc).__name__}: {exc})"
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
        raise FeedError(f"feed '{name}', file {path}: no records (empty or truncated)")
    if count < before * min_ratio:
        raise FeedError(
            f"feed '{name}', file {path}: {count} records where the current data has "
            f"{before}; refusing a feed that shrank this much (truncated upstream?)"
        )


# ------------------------------------------------------------------ the update


@dataclass(frozen=True, slots=True)
class UpdateResult:
    generation: str | None  # current after the update (None: still the shipped snapshot)
    previous: str | None
    switched: bool  # False: every file was as before, nothing moved
    source: str
    files: tuple[Fetched, ...]
    counts: dict[str, int]
    changes: Changes
    alert_ids: tuple[int, ...] = field(default=())

    @property
    def downloaded(self) -> int:
        return sum(1 for f in self.files if f.fetched)


def update_feeds(
    session: Session,
    where: str | None = None,
    settings: Settings | None = None,
    now: datetime | None = None,
) -> UpdateResult:
    """Fetch, verify and switch to a new feed generation; record its provenance and
    create the alerts its new KEV entries and CVEs call for. See the module docstring."""
    settings = settings or get_settings()
    root = feeds_root(settings)
    root.mkdir(parents=True, exist_ok=True)
    with _locked(root), open_source(where, settings) as source:
        return _update(session, source, settings, root, now or datetime.now(UTC))


def _update(
    session: Session, source: Source, settings: Settings, root: Path, now: datetime
) -> UpdateResult:
    current = current_generation(root)
    before = load_current(settings)
    # Named by the wall clock, not `now` (which callers may fix): names sort by age.
    name = f"{datetime.now(UTC):%Y%m%dT%H%M%S%fZ}-{secrets.token_hex(3)}"
    staging = root / f".incoming-{name}"
    try:
        fetched = fetch_all(source, staging, _known_files(session, root, current), now.date())
        verified = verify_folder(staging, feed_counts(before), settings.feeds_min_ratio)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    digest = _digest(fetched)
    if current is not None and digest == generation_digest(session, current):
        shutil.rmtree(staging)
        empty = Changes(frozenset(), frozenset(), frozenset())
        return UpdateResult(current, current, False, source.label, tuple(fetched),
                            verified.counts, empty)  # fmt: skip
    staging.rename(root / name)
    try:
        result = _record(session, source, name, current, digest, fetched, before, verified, now)
    except BaseException:
        shutil.rmtree(root / name, ignore_errors=True)
        raise
    _remember(root / name, verified.index)
    _switch(root, name)
    _prune(root, name, settings.feeds_keep)
    return result


def _record(
    session: Session,
    source: Source,
    name: str,
    current: str | None,
    digest: str,
    fetched: list[Fetched],
    before: VulnIndex,
    verified: Verified,
    now: datetime,
) -> UpdateResult:
    """The generation's provenance and its alerts, in one transaction."""
    changes = index_changes(before, verified.index)
    new = NewGeneration(name, source.label, current, digest, verified.counts)
    alerts = record_generation(
        session,
        new,
        (_provenance(f, verified) for f in fetched),
        changes.to_json(),
        lambda: feed_alerts(session, verified.index, changes, name, now),
        now,
    )
    ids = tuple(a.id for a in alerts)
    return UpdateResult(name, current, True, source.label, tuple(fetched), verified.counts,
                        changes, ids)  # fmt: skip


def _provenance(f: Fetched, verified: Verified) -> FileProvenance:
    return FileProvenance(
        feed=f.spec.feed,
        path=f.spec.path,
        source_url=f.spec.url,
        etag=f.etag,
        last_modified=f.last_modified,
        sha256=f.sha256,
        size=f.size,
        file_date=verified.dates[f.spec.feed],
        records=verified.per_file.get((f.spec.feed, PurePosixPath(f.spec.path).name), 0),
        fetched=f.fetched,
    )


def _known_files(session: Session, root: Path, current: str | None) -> dict[str, Known]:
    if current is None:
        return {}
    folder = root / current
    return {
        r.path: Known(r.path, r.source_url, r.etag, r.last_modified, r.sha256, folder / r.path)
        for r in generation_files(session, current)
    }


def _digest(fetched: list[Fetched]) -> str:
    """Over the files' paths and contents: equal digests, same data (dates aside)."""
    lines = sorted(f"{f.spec.feed}\t{f.spec.path}\t{f.sha256}" for f in fetched)
    return hashlib.sha256("\n".join(lines).encode()).hexdigest()


@contextmanager
def _locked(root: Path) -> Iterator[None]:
    with (root / ".lock").open("a") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError as exc:
            raise FeedError("another feed update is running; try again when it is done") from exc
        yield  # closing the file releases the lock, also when the process dies


def _switch(root: Path, name: str) -> None:
    """Point `current` at `name`: readers see the old name or the new, never half of one."""
    temporary = root / f".{POINTER}-{name}"
    with temporary.open("w", encoding="utf-8") as handle:
        handle.write(name + "\n")
        handle.flush()
        os.fsync(handle.fileno())
    os.replace(temporary, root / POINTER)
    directory = os.open(root, os.O_RDONLY)
    try:
        os.fsync(directory)  # the rename itself survives a crash
    finally:
        os.close(directory)


def _prune(root: Path, current: str, keep: int) -> None:
    """Keep the newest `keep` generations (names sort by time) and drop leftovers of
    interrupted updates; the lock is held, so no `.incoming-*` is in use."""
    generations = sorted((p for p in root.iterdir() if p.is_dir() and p.name[0] != "."),
                         key=lambda p: p.name, reverse=True)  # fmt: skip
    for old in generations[max(keep, 1) :]:
        if old.name != current:
            shutil.rmtree(old, ignore_errors=True)
    for stale in root.glob(".incoming-*"):
        shutil.rmtree(stale, ignore_errors=True)
