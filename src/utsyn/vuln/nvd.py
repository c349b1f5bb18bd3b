"""NVD CVE API 2.0 records (`vulnerabilities[].cve`, one object per file as fkie-cad stores
them): configurations → affected ranges, metrics → computed CVSS.

Configuration semantics (NVD "CPE Match Criteria", nvd.nist.gov/developers/vulnerabilities):
a configuration is a list of nodes; each node holds `cpeMatch` entries with `vulnerable`
true or false. With `operator: AND` the vulnerable entries are affected only when one of the
non-vulnerable entries (the platform: an `o:` operating system or `h:` hardware) is present
too; those platforms are kept on the range so a match can say it could not confirm them.
Only vulnerable entries are product ranges. A negated node (`negate: true`, "anything but")
is skipped: it narrows a platform and NVD uses it in a handful of records.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from datetime import date
from pathlib import Path
from typing import Any

from utsyn.vuln import scoring
from utsyn.vuln.cpe import ANY, NA, Cpe, parse_cpe
from utsyn.vuln.feedio import as_dict, as_list, cwe_ids, parse_time, read_json
from utsyn.vuln.model import (
    AffectedRange,
    Certainty,
    CvssScore,
    Feed,
    Provenance,
    VersionField,
    Vulnerability,
)
from utsyn.vuln.products import canonical_key

_METRIC_KEYS = ("cvssMetricV2", "cvssMetricV30", "cvssMetricV31", "cvssMetricV40")
_RANGE_KEYS = (
    "versionStartIncluding",
    "versionStartExcluding",
    "versionEndIncluding",
    "versionEndExcluding",
)


def load_nvd_dir(folder: Path, file_date: date) -> list[Vulnerability]:
    """Every `*.json` record in a folder; `file_date` is the snapshot date of the folder."""
    return [
        load_nvd_record(read_json(path), path.name, file_date)
        for path in sorted(folder.glob("*.json"))
    ]


def load_nvd_record(cve: Mapping[str, Any], file: str, file_date: date) -> Vulnerability:
    modified = parse_time(cve.get("lastModified"))
    provenance = Provenance(Feed.NVD, file, file_date, modified)
    return Vulnerability(
        id=str(cve["id"]),
        provenance=provenance,
        summary=_english(as_list(cve.get("descriptions"))),
        published=parse_time(cve.get("published")),
        modified=modified,
        cvss=tuple(_scores(as_dict(cve.get("metrics")))),
        cwe=_weaknesses(as_list(cve.get("weaknesses"))),
        references=tuple(str(r["url"]) for r in as_list(cve.get("references")) if "url" in r),
        affected=tuple(_ranges(as_list(cve.get("configurations")), provenance)),
    )


def _english(descriptions: list[Any]) -> str:
    return next((str(d["value"]) for d in descriptions if d.get("lang") == "en"), "")


def _scores(metrics: dict[str, Any]) -> Iterator[CvssScore]:
    for key in _METRIC_KEYS:
        for metric in as_list(metrics.get(key)):
            data = as_dict(metric.get("cvssData"))
            if "vectorString" in data:
                yield scoring.computed(
                    str(data["vectorString"]),
                    str(metric.get("source", "")),
                    float(data["baseScore"]) if "baseScore" in data else None,
                )


def _weaknesses(weaknesses: list[Any]) -> tuple[str, ...]:
    texts = [str(d.get("value", "")) for w in weaknesses for d in as_list(w.get("description"))]
    return cwe_ids(texts)


def _ranges(configurations: list[Any], provenance: Provenance) -> Iterator[AffectedRange]:
    for configuration in configurations:
        nodes = [n for n in as_list(configuration.get("nodes")) if not n.get("negate")]
        matches = [m for n in nodes for m in as_list(n.get("cpeMatch"))]
        is_and = configuration.get("operator") == "AND" or any(
            n.get("operator") == "AND" for n in nodes
        )
        platforms = (
            tuple(str(m["criteria"]) for m in matches if not m.get("vulnerable")) if is_and else ()
        )
        for entry in matches:
            if entry.get("vulnerable"):
                yield _range(entry, platforms, provenance)


def _range(
    entry: Mapping[str, Any], platforms: tuple[str, ...], provenance: Provenance
) -> AffectedRange:
    criteria = str(entry["criteria"])
    cpe = parse_cpe(criteria)
    bounds = {k: str(entry[k]) for k in _RANGE_KEYS if k in entry}
    statement = " ".join([criteria, *(f"{k} {v}" for k, v in bounds.items())])
    common: dict[str, Any] = {
        "product": canonical_key(cpe.key),
        "provenance": provenance,
        "statement": statement,
        "update": cpe.update,
        "qualifiers": tuple((n, v) for n, v in cpe.qualifiers() if v != ANY),
        "platforms": platforms,
        "compares": VersionField.CPE_VERSION,
    }
    if bounds:
        return AffectedRange(**common, **_bounds(bounds))
    return _single(cpe, common)


def _bounds(bounds: dict[str, str]) -> dict[str, Any]:
    start_incl = bounds.get("versionStartIncluding")
    start_excl = bounds.get("versionStartExcluding")
    end_incl = bounds.get("versionEndIncluding")
    end_excl = bounds.get("versionEndExcluding")
    return {
        "start": start_incl or start_excl,
        "start_inclusive": start_excl is None,
        "end": end_incl or end_excl,
        "end_inclusive": end_incl is not None,
    }


def _single(cpe: Cpe, common: dict[str, Any]) -> AffectedRange:
    if cpe.version == ANY:
        return AffectedRange(**common)  # every version
    if cpe.version == NA:
        # "Not applicable" on a product that does have versions says nothing about which:
        # such a range can only ever be a potential match.
        return AffectedRange(**common, certainty=Certainty.UNKNOWN)
    return AffectedRange(**common, exact=cpe.version)
