"""Feed provenance: one `FeedGeneration` row per feed update and one `FeedFile` row per file
it holds (`vuln.feeds` downloads, verifies and switches the files themselves).

A generation, its files and the alerts it brings are recorded in one transaction.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from utsyn.store.db import atomic
from utsyn.store.models import Alert, FeedFile, FeedGeneration


@dataclass(frozen=True, slots=True)
class NewGeneration:
    """What a verified update knows of the generation it installs."""

    name: str
    source: str  # the directory or base URL it came from
    previous: str | None  # the generation it replaces
    digest: str
    counts: dict[str, int]  # feed → records


@dataclass(frozen=True, slots=True)
class FileProvenance:
    """Where one of the generation's files came from and what it held."""

    feed: str
    path: str
    source_url: str
    etag: str | None
    last_modified: str | None
    sha256: str
    size: int
    file_date: date
    records: int
    fetched: bool  # False: kept from the previous generation


def record_generation(
    session: Session,
    new: NewGeneration,
    files: Iterable[FileProvenance],
    changes: dict[str, Any],
    make_alerts: Callable[[], Sequence[Alert]],
    now: datetime,
) -> list[Alert]:
    """The generation, its files, and the alerts `make_alerts` creates, in one unit of work;
    the generation's `changes` record how many alerts there were."""
    with atomic(session):
        generation = FeedGeneration(
            name=new.name, source=new.source, previous=new.previous, digest=new.digest,
            created=now, counts=new.counts, changes={},
        )  # fmt: skip
        session.add(generation)
        session.flush()
        session.add_all(_file_row(generation.id, f, now) for f in files)
        alerts = list(make_alerts())
        generation.changes = {**changes, "alerts": len(alerts)}
    return alerts


def _file_row(generation_id: int, f: FileProvenance, now: datetime) -> FeedFile:
    return FeedFile(
        generation_id=generation_id,
        feed=f.feed,
        path=f.path,
        source_url=f.source_url,
        etag=f.etag,
        last_modified=f.last_modified,
        sha256=f.sha256,
        size=f.size,
        file_date=f.file_date,
        loaded_at=now,
        records=f.records,
        fetched=f.fetched,
    )


def generation_files(session: Session, name: str) -> list[FeedFile]:
    """The provenance of one generation's files, by path."""
    return list(
        session.scalars(
            select(FeedFile)
            .join(FeedGeneration)
            .where(FeedGeneration.name == name)
            .order_by(FeedFile.path)
        )
    )


def generation_row(session: Session, name: str) -> FeedGeneration | None:
    return session.scalars(select(FeedGeneration).where(FeedGeneration.name == name)).first()


def generation_digest(session: Session, name: str) -> str | None:
    return session.scalar(select(FeedGeneration.digest).where(FeedGeneration.name == name))
