"""Apache HTTP Server vendor records (apache/httpd-site `content/security/json/*.json`,
Apache-2.0), bundled as `{"source", "records": {id: record}}`.

Most records are CVE JSON 4.0 as written by Vulnogram; newer ones are CVE JSON 5.x and go
through `cve5.parse_record`. In 4.0, `version_data[].version_affected` is an operator on
`version_value` (Vulnogram's CVE 4 editor): `=` this version is affected, `?=` it may be
(the ASF lists old releases it did not re-check), `<`/`<=` affected below (or up to), and
`>=`/`>` or `!<` ("not affected below") give the lower bound. A bound-only entry is read
within its branch when `version_name` names one (`Apache HTTP Server 2.4`): the httpd
pages state such issues for 2.4.x only.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from datetime import date, datetime
from pathlib import Path
from typing import Any

from utsyn.vuln import cve5
from utsyn.vuln.feedio import as_dict, as_list, cwe_ids, parse_time, read_json
from utsyn.vuln.model import AffectedRange, Certainty, Feed, Provenance, Vulnerability
from utsyn.vuln.nginx import WINDOWS_PLATFORM
from utsyn.vuln.products import fallback_key, key_for_name

_BRANCH_NAME = re.compile(r"(\d+\.\d+)\s*$")
_LOWER = {">=": True, ">": False, "!<": True}  # operator → start inclusive
_UPPER = {"<=": True, "<": False}  # operator → end inclusive
_EXACT = {"=": Certainty.AFFECTED, "?=": Certainty.UNKNOWN}


def load_httpd_file(path: Path, file_date: date) -> list[Vulnerability]:
    records = as_dict(read_json(path).get("records"))
    out = []
    for record in records.values():
        if "containers" in record:
            out.append(cve5.parse_record(record, path.name, file_date, Feed.HTTPD))
        else:
            out.append(_cve4(record, path.name, file_date))
    return out


def _cve4(record: Mapping[str, Any], file: str, file_date: date) -> Vulnerability:
    meta = as_dict(record.get("CVE_data_meta"))
    provenance = Provenance(Feed.HTTPD, file, file_date, _last_event(record))
    descriptions = as_list(as_dict(record.get("description")).get("description_data"))
    problems = [
        str(d.get("value", ""))
        for p in as_list(as_dict(record.get("problemtype")).get("problemtype_data"))
        for d in as_list(p.get("description"))
    ]
    references = as_list(as_dict(record.get("references")).get("reference_data"))
    return Vulnerability(
        id=str(meta.get("ID", "")),
        provenance=provenance,
        summary=str(meta.get("TITLE") or (descriptions[0].get("value") if descriptions else "")),
        published=parse_time(meta.get("DATE_PUBLIC")),
        cwe=cwe_ids(problems),
        references=tuple(str(r["url"]) for r in references if r.get("url")),
        affected=tuple(_products(record, provenance)),
        severity=next(
            (str(i["other"]) for i in as_list(record.get("impact")) if "other" in i), None
        ),
    )


def _last_event(record: Mapping[str, Any]) -> datetime | None:
    """4.0 records carry no modification time; the latest timeline event stands in."""
    times = [parse_time(t.get("time")) for t in as_list(record.get("timeline"))]
    known = [t for t in times if t is not None]
    return max(known) if known else None


def _products(record: Mapping[str, Any], provenance: Provenance) -> Iterator[AffectedRange]:
    vendors = as_list(as_dict(as_dict(record.get("affects")).get("vendor")).get("vendor_data"))
    for vendor in vendors:
        vendor_name = str(vendor.get("vendor_name", ""))
        for product in as_list(as_dict(vendor.get("product")).get("product_data")):
            name = str(product.get("product_name", ""))
            key = key_for_name(vendor_name, name) or fallback_key(vendor_name, name)
            data = [
                as_dict(v) for v in as_list(as_dict(product.get("version")).get("version_data"))
            ]
            yield from _exact_ranges(key, data, provenance)
            yield from _bound_ranges(key, data, provenance)


def _platforms(entry: Mapping[str, Any]) -> tuple[str, ...]:
    return (WINDOWS_PLATFORM,) if str(entry.get("platform", "")).lower() == "windows" else ()


def _statement(entry: Mapping[str, Any]) -> str:
    fields = ("version_name", "version_affected", "version_value")
    return " ".join(str(entry[f]) for f in fields if entry.get(f))


def _exact_ranges(
    key: str, data: list[dict[str, Any]], provenance: Provenance
) -> Iterator[AffectedRange]:
    for entry in data:
        certainty = _EXACT.get(str(entry.get("version_affected")))
        if certainty is not None and entry.get("version_value"):
            yield AffectedRange(
                product=key,
                provenance=provenance,
                statement=_statement(entry),
                exact=str(entry["version_value"]),
                platforms=_platforms(entry),
                certainty=certainty,
            )


def _bound_ranges(
    key: str, data: list[dict[str, Any]], provenance: Provenance
) -> Iterator[AffectedRange]:
    lowers = [e for e in data if e.get("version_affected") in _LOWER]
    for entry in (e for e in data if e.get("version_affected") in _UPPER):
        start, start_incl = _lower_bound(entry, lowers)
        yield AffectedRange(
            product=key,
            provenance=provenance,
            statement="; ".join(_statement(e) for e in [*lowers, entry]),
            start=start,
            start_inclusive=start_incl,
            end=str(entry["version_value"]),
            end_inclusive=_UPPER[str(entry["version_affected"])],
            platforms=_platforms(entry),
        )


def _lower_bound(entry: Mapping[str, Any], lowers: list[dict[str, Any]]) -> tuple[str | None, bool]:
    if lowers:
        low = lowers[0]
        return str(low["version_value"]), _LOWER[str(low["version_affected"])]
    branch = _BRANCH_NAME.search(str(entry.get("version_name", "")))
    return (branch.group(1), True) if branch else (None, True)
