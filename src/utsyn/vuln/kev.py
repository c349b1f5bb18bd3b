"""CISA Known Exploited Vulnerabilities catalogue (cisagov/kev-data, CC0 1.0), from the
JSON or the CSV that CISA publishes side by side; both load to the same `KevCatalogue`.

`knownRansomwareCampaignUse` is "Known" or "Unknown": CISA never states "not used", so
"Unknown" is kept as None rather than False.
"""

from __future__ import annotations

import csv
from collections.abc import Mapping
from datetime import date
from pathlib import Path
from typing import Any

from utsyn.vuln.feedio import as_list, parse_date, parse_time, read_json
from utsyn.vuln.model import Feed, FeedError, KevCatalogue, KevEntry, Provenance


def load_kev_json(path: Path, file_date: date) -> KevCatalogue:
    data = read_json(path)
    provenance = Provenance(Feed.KEV, path.name, file_date, parse_time(data.get("dateReleased")))
    rows = [_entry(row, provenance) for row in as_list(data.get("vulnerabilities"))]
    return KevCatalogue(
        version=str(data["catalogVersion"]) if "catalogVersion" in data else None,
        released=parse_time(data.get("dateReleased")),
        entries={e.cve_id: e for e in rows},
    )


def load_kev_csv(path: Path, file_date: date) -> KevCatalogue:
    provenance = Provenance(Feed.KEV, path.name, file_date)
    try:
        with path.open(encoding="utf-8", newline="") as handle:
            rows = [_entry(row, provenance) for row in csv.DictReader(handle)]
    except FileNotFoundError as exc:
        raise FeedError("feed file not found: %(path)s", path=path) from exc
    return KevCatalogue(version=None, released=None, entries={e.cve_id: e for e in rows})


def _cwes(value: object) -> tuple[str, ...]:
    """The JSON has a list; the CSV joins the same list with ", "."""
    if isinstance(value, list):
        return tuple(str(v) for v in value)
    return tuple(p.strip() for p in str(value or "").split(",") if p.strip())


def _entry(row: Mapping[str, Any], provenance: Provenance) -> KevEntry:
    added = parse_date(row.get("dateAdded"))
    if added is None:
        raise FeedError("KEV entry %(cve)s has no valid dateAdded", cve=row.get("cveID"))
    ransomware = str(row.get("knownRansomwareCampaignUse", "")).strip().lower()
    return KevEntry(
        cve_id=str(row["cveID"]),
        vendor=str(row.get("vendorProject", "")),
        product=str(row.get("product", "")),
        name=str(row.get("vulnerabilityName", "")),
        date_added=added,
        due_date=parse_date(row.get("dueDate")),
        ransomware_use=True if ransomware == "known" else None,
        required_action=str(row.get("requiredAction", "")),
        notes=str(row.get("notes", "")),
        cwes=_cwes(row.get("cwes")),
        provenance=provenance,
    )
