"""RetireJS vulnerable JavaScript library repository (RetireJS/retire.js
`repository/jsrepository.json`, Apache-2.0), the classic format.

Per library, `vulnerabilities[]` entries give `atOrAbove` (inclusive, optional) and
`below` (exclusive), as retire.js's own `isAtOrAbove`/`below` checks read them. One CVE can
have several entries for one library (jQuery's CVE-2015-9251 for 1.4.0–1.12.0 and for
1.12.3–3.0.0-beta1): they become one record with several ranges. An entry without a CVE is
named by its GitHub advisory id, else by RetireJS's own `retid`, issue or bug number.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date
from pathlib import Path
from typing import Any

from utsyn.vuln.feedio import as_dict, as_list, cwe_ids, read_json
from utsyn.vuln.model import AffectedRange, Feed, Provenance, Vulnerability
from utsyn.vuln.products import retirejs_key

# `retire-example` is the format's own sample entry (`CVE-XXXX-XXXX`), not a library.
_NOT_LIBRARIES = {"retire-example", "dont check"}


def load_retirejs(path: Path, file_date: date) -> list[Vulnerability]:
    data = as_dict(read_json(path))
    provenance = Provenance(Feed.RETIREJS, path.name, file_date)
    out: list[Vulnerability] = []
    for library, body in data.items():
        if library not in _NOT_LIBRARIES:
            out += _library(library, as_dict(body), provenance)
    return out


def entry_id(library: str, entry: Mapping[str, Any]) -> str:
    ids = as_dict(entry.get("identifiers"))
    cves = [str(c) for c in as_list(ids.get("CVE"))]
    if cves:
        return cves[0]
    if ids.get("githubID"):
        return str(ids["githubID"])
    for field in ("retid", "issue", "bug", "PR", "osvdb"):
        if ids.get(field):
            return f"retirejs:{library}:{field}-{ids[field]}"
    return f"retirejs:{library}:{ids.get('summary', 'unnamed')}"


def _library(library: str, body: dict[str, Any], provenance: Provenance) -> list[Vulnerability]:
    grouped: dict[str, list[dict[str, Any]]] = {}
    for entry in as_list(body.get("vulnerabilities")):
        grouped.setdefault(entry_id(library, entry), []).append(as_dict(entry))
    return [_record(library, vid, entries, provenance) for vid, entries in grouped.items()]


def _record(
    library: str, vid: str, entries: list[dict[str, Any]], provenance: Provenance
) -> Vulnerability:
    first = as_dict(entries[0].get("identifiers"))
    aliases = {str(c) for e in entries for c in as_list(as_dict(e.get("identifiers")).get("CVE"))}
    aliases |= {str(as_dict(e.get("identifiers")).get("githubID")) for e in entries}
    aliases -= {vid, "None"}
    return Vulnerability(
        id=vid,
        provenance=provenance,
        aliases=tuple(sorted(aliases)),
        summary=str(first.get("summary", "")),
        cwe=cwe_ids([" ".join(str(c) for c in as_list(e.get("cwe"))) for e in entries]),
        references=tuple(dict.fromkeys(str(u) for e in entries for u in as_list(e.get("info")))),
        affected=tuple(_range(library, e, provenance) for e in entries),
        severity=str(entries[0].get("severity")) if entries[0].get("severity") else None,
    )


def _range(library: str, entry: Mapping[str, Any], provenance: Provenance) -> AffectedRange:
    start = entry.get("atOrAbove")
    end = entry.get("below")
    words = [f"atOrAbove {start}" if start else "", f"below {end}" if end else ""]
    return AffectedRange(
        product=retirejs_key(library),
        provenance=provenance,
        statement=f"{library}: " + " ".join(w for w in words if w),
        start=str(start) if start else None,
        end=str(end) if end else None,
    )
