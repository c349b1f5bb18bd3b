"""The daily feed task's work: `utsyn.vuln.feeds.update_feeds`, then the feeds' age.

`update_feeds` is offline unless UTSYN_FEEDS_URL names a mirror: it then verifies the
shipped snapshot and switches nothing. A generation it switches to lives under this
machine's `UTSYN_DATA_DIR/feeds`: workers on other machines see it only when that folder is
shared (docs/scaling.md).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Any

from utsyn.vuln.feeds import current_generation, feeds_root, update_feeds
from utsyn.vuln.index import feed_date, read_manifest, snapshot_dir
from utsyn.worker.database import with_retry


@dataclass(frozen=True)
class FeedStatus:
    generation: str | None  # None: the shipped snapshot
    switched: bool
    downloaded: int
    alerts: int
    newest: date
    age_days: int

    @property
    def message(self) -> str:
        where = self.generation or "the shipped snapshot"
        change = "switched to it" if self.switched else "unchanged"
        return (
            f"feed update: {where} ({change}; {self.downloaded} files downloaded, "
            f"{self.alerts} alerts); newest feed {self.newest.isoformat()}, "
            f"{self.age_days} days old"
        )

    def to_json(self) -> dict[str, Any]:
        return {
            "generation": self.generation,
            "switched": self.switched,
            "downloaded": self.downloaded,
            "alerts": self.alerts,
            "newest": self.newest.isoformat(),
            "age_days": self.age_days,
        }


def update_and_check(today: date | None = None) -> FeedStatus:
    result = with_retry(lambda session: update_feeds(session))
    newest = newest_feed()
    today = today or datetime.now(UTC).date()
    return FeedStatus(
        result.generation,
        result.switched,
        result.downloaded,
        len(result.alert_ids),
        newest,
        max(0, (today - newest).days),
    )


def newest_feed() -> date:
    """The newest feed date of the generation in use (or of the shipped snapshot)."""
    root = feeds_root()
    name = current_generation(root)
    folder = snapshot_dir() if name is None else root / name
    return max(feed_date(entry) for entry in read_manifest(folder).values())
