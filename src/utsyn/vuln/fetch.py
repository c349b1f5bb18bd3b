"""Fetching a feed generation: from a folder (the shipped snapshot, or `--from DIR`) or an
http(s) mirror, every file its `SOURCES.json` names, size-capped, sha256-checked, and
replayed as a conditional request (kept from the current generation on 304).

The mirror's manifest format is described in `feeds`."""

from __future__ import annotations

import hashlib
import json
import os
import zlib
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import date
from email.utils import parsedate_to_datetime
from pathlib import Path, PurePosixPath
from typing import Any, Protocol

import httpx

from utsyn import __version__
from utsyn.settings import Settings
from utsyn.vuln.feedio import as_dict
from utsyn.vuln.index import (
    MANIFEST,
    read_manifest,
    snapshot_dir,
)
from utsyn.vuln.model import FeedError
from utsyn.vuln.verify import REQUIRED

CHUNK = 1 << 16


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
            raise FeedError("%(file)s is a truncated gzip stream", file=self.label)

    def write(self, chunk: bytes) -> None:
        if self.inflater is None:
            self._store(chunk)
            return
        try:
            while chunk and not self.inflater.eof:
                self._store(self.inflater.decompress(chunk, CHUNK))
                chunk = self.inflater.unconsumed_tail
        except zlib.error as exc:
            raise FeedError(
                "%(file)s is not valid gzip: %(reason)s", file=self.label, reason=exc
            ) from exc

    def _store(self, data: bytes) -> None:
        self.size += len(data)
        if self.size > self.limit:
            raise FeedError(
                "%(file)s is larger than %(limit)s bytes (UTSYN_FEEDS_MAX_BYTES)",
                file=self.label,
                limit=self.limit,
            )
        self.hash.update(data)
        self.handle.write(data)


def _copy(source: Path, target: Path, label: str, limit: int, gz: bool) -> tuple[str, int]:
    try:
        with source.open("rb") as handle, _Sink(target, label, limit, gz) as sink:
            for chunk in iter(lambda: handle.read(CHUNK), b""):
                sink.write(chunk)
    except FileNotFoundError as exc:
        raise FeedError("%(file)s: file not found", file=label) from exc
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
            raise FeedError(
                "%(folder)s has no %(manifest)s: lay it out like the snapshot",
                folder=self.folder,
                manifest=MANIFEST,
            )
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
            raise FeedError("cannot fetch %(url)s: %(reason)s", url=url, reason=exc) from exc
        if response.status_code != 200:
            raise FeedError(
                "%(url)s: HTTP %(status)s (a mirror serves %(manifest)s)",
                url=url,
                status=response.status_code,
                manifest=MANIFEST,
            )
        if len(response.content) > self.limit:
            raise FeedError("%(url)s is larger than %(limit)s bytes", url=url, limit=self.limit)
        try:
            data = json.loads(response.content)
        except (json.JSONDecodeError, UnicodeDecodeError) as exc:
            raise FeedError("%(url)s is not valid JSON: %(reason)s", url=url, reason=exc) from exc
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
                    raise FeedError("%(file)s: HTTP %(status)s", file=label, status=got.status_code)
                return self._receive(spec, target, got, label)
        except httpx.HTTPError as exc:  # a connection cut mid-body lands here
            raise FeedError("%(file)s: %(reason)s", file=label, reason=exc) from exc

    def _receive(
        self, spec: FileSpec, target: Path, response: httpx.Response, label: str
    ) -> Fetched:
        declared = int(response.headers.get("Content-Length") or 0)
        if declared > self.limit:
            raise FeedError(
                "%(file)s is larger than %(limit)s bytes (UTSYN_FEEDS_MAX_BYTES)",
                file=label,
                limit=self.limit,
            )
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
        raise FeedError(
            "feed source %(source)r is neither a folder nor an http(s) URL", source=where
        )


# ------------------------------------------------------------------ manifest → files


def _safe_path(feed: str, path: object) -> str:
    """A relative path inside the generation: a mirror's manifest must not write elsewhere."""
    text = str(path or "")
    parts = PurePosixPath(text).parts
    if not text or text.startswith("/") or ".." in parts or "\\" in text:
        raise FeedError(
            "feed '%(feed)s': unsafe or empty path %(path)r in %(manifest)s",
            feed=feed,
            path=text,
            manifest=MANIFEST,
        )
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
        raise FeedError("feed '%(feed)s': folder %(folder)s holds no files", feed=name, folder=path)
    if entry.get("csv"):
        paths.append(_safe_path(name, entry["csv"]))
    return paths


def file_specs(manifest: dict[str, dict[str, Any]], source: Source) -> list[FileSpec]:
    missing = [name for name in REQUIRED if name not in manifest]
    if missing:
        raise FeedError(
            "%(manifest)s names no %(feeds)s feed",
            manifest=source.label + MANIFEST,
            feeds=", ".join(missing),
        )
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
            "feed '%(feed)s', file %(path)s: sha256 is %(got)s, the manifest says %(want)s "
            "(corrupted or replaced in transit)",
            feed=fetched.spec.feed,
            path=fetched.spec.path,
            got=fetched.sha256,
            want=want,
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
