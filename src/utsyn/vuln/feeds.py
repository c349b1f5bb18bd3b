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
import os
import secrets
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path, PurePosixPath

from sqlalchemy.orm import Session

from utsyn.files import private_directory
from utsyn.settings import Settings, get_settings
from utsyn.store.feed_state import (
    FileProvenance,
    NewGeneration,
    generation_digest,
    generation_files,
    record_generation,
)
from utsyn.vuln.alerts import Changes, feed_alerts, index_changes
from utsyn.vuln.fetch import Fetched, Known, Source, fetch_all, open_source
from utsyn.vuln.index import (
    MANIFEST,
    VulnIndex,
    load_folder,
    load_snapshot,
)
from utsyn.vuln.model import FeedError
from utsyn.vuln.verify import Verified, feed_counts, verify_folder

FEEDS_DIR = "feeds"
POINTER = "current"


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
    private_directory(root)  # the data directory's first maker creates it 0700
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
