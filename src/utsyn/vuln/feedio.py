"""Reading feed files: JSON with a helpful error, and the feeds' several time formats."""

from __future__ import annotations

import json
import re
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

from utsyn.vuln.model import FeedError

_CWE = re.compile(r"\bCWE-\d+\b")


def read_json(path: Path) -> Any:
    try:
        with path.open("rb") as handle:
            return json.load(handle)
    except FileNotFoundError as exc:
        raise FeedError("feed file not found: %(path)s", path=path) from exc
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise FeedError(
            "feed file %(path)s is not valid JSON: %(reason)s", path=path, reason=exc
        ) from exc


def parse_time(text: object) -> datetime | None:
    """ISO 8601 times as NVD (`2021-06-01T13:15:07.853`, no zone: UTC), the CVE list
    (`...Z`) and KEV write them; a bare date is midnight UTC. Anything else is None."""
    if not isinstance(text, str) or not text.strip():
        return None
    try:
        parsed = datetime.fromisoformat(text.strip().replace("Z", "+00:00"))
    except ValueError:
        return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def parse_date(text: object) -> date | None:
    parsed = parse_time(text)
    return parsed.date() if parsed else None


def cwe_ids(texts: list[str]) -> tuple[str, ...]:
    """The `CWE-n` ids named in free text, in order, without repeats."""
    found: list[str] = []
    for text in texts:
        found += [c for c in _CWE.findall(text) if c not in found]
    return tuple(found)


def as_list(value: object) -> list[Any]:
    return value if isinstance(value, list) else []


def as_dict(value: object) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}
