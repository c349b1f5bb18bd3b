"""CVE Record Format 5.x (cve.org schema `CVE_Record_Format.json`): the CNA container and
the ADP containers (CISA's vulnrichment), as in cisagov/vulnrichment and in the Apache
httpd site's 5.x records.

`affected[].versions[]` semantics (schema "versions" definition): an entry with `lessThan`
or `lessThanOrEqual` is a range starting at `version` (`"0"` meaning the beginning); one
without is a single version; `changes[]` switch the status at the given versions inside
the range, read literally (from `at` upwards). Only `status: affected` is indexed:
`defaultStatus` and `unaffected` entries say nothing a range does not already leave out.
CNAs write versions loosely (`7.4.X`, `8.0.*`, `exim 4.95`, `n/a`); `_clean` documents what
is understood and skips the rest rather than guess.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from dataclasses import replace
from datetime import date
from pathlib import Path
from typing import Any

from utsyn.vuln import scoring
from utsyn.vuln.cpe import ANY, NA, Cpe, CpeError, parse_cpe
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
from utsyn.vuln.products import canonical_key, fallback_key, key_for_name

_METRIC_KEYS = ("cvssV2_0", "cvssV3_0", "cvssV3_1", "cvssV4_0")
_NO_VERSION = {"", "n/a", "na", "unspecified", "unknown", "-", "*", "all", "0"}
_WILDCARD = re.compile(r"^(?P<prefix>\d+(?:\.\d+)*)\.[x*]$", re.IGNORECASE)
_LEADING_NAME = re.compile(r"^[a-z][a-z ]*\s+(?=\d)", re.IGNORECASE)


def load_cve5_file(path: Path, file_date: date) -> list[Vulnerability]:
    """The vulnrichment subset: `{"source", "product_index", "records": {id: record}}`."""
    records = as_dict(read_json(path).get("records"))
    return [parse_record(r, path.name, file_date, Feed.CVE5_CNA) for r in records.values()]


def parse_record(
    record: Mapping[str, Any], file: str, file_date: date, feed: Feed
) -> Vulnerability:
    """One record. `feed` labels the CNA container; ADP ranges are labelled CVE5_ADP unless
    the whole file is a vendor feed (then the vendor's feed label covers both)."""
    meta = as_dict(record.get("cveMetadata"))
    containers = as_dict(record.get("containers"))
    cna = as_dict(containers.get("cna"))
    adps = [as_dict(a) for a in as_list(containers.get("adp"))]
    modified = parse_time(meta.get("dateUpdated"))
    cna_prov = Provenance(feed, file, file_date, modified)
    adp_prov = replace(cna_prov, feed=Feed.CVE5_ADP if feed is Feed.CVE5_CNA else feed)
    affected = list(_container_ranges(cna, cna_prov))
    for adp in adps:
        affected += _container_ranges(adp, adp_prov)
    every = [cna, *adps]
    return Vulnerability(
        id=str(meta.get("cveId", "")),
        provenance=cna_prov,
        summary=_english(as_list(cna.get("descriptions"))),
        published=parse_time(meta.get("datePublished")),
        modified=modified,
        cvss=tuple(s for c in every for s in _scores(c)),
        cwe=cwe_ids([_problem_texts(c) for c in every]),
        references=tuple(str(r["url"]) for c in every for r in as_list(c.get("references"))),
        affected=tuple(affected),
        severity=_severity_word(cna),
    )


def _english(descriptions: list[Any]) -> str:
    texts = [
        str(d.get("value", "")) for d in descriptions if str(d.get("lang", "")).startswith("en")
    ]
    return texts[0] if texts else ""


def _source_name(container: Mapping[str, Any]) -> str:
    meta = as_dict(container.get("providerMetadata"))
    return str(meta.get("shortName") or meta.get("orgId") or "cve5")


def _scores(container: Mapping[str, Any]) -> Iterator[CvssScore]:
    source = _source_name(container)
    for metric in as_list(container.get("metrics")):
        for key in _METRIC_KEYS:
            data = as_dict(metric.get(key))
            if "vectorString" in data:
                reported = data.get("baseScore")
                yield scoring.computed(
                    str(data["vectorString"]),
                    source,
                    float(reported) if reported is not None else None,
                )


def _severity_word(container: Mapping[str, Any]) -> str | None:
    """Apache writes its own severity word as a `Textual description of severity`."""
    for metric in as_list(container.get("metrics")):
        content = as_dict(as_dict(metric.get("other")).get("content"))
        if isinstance(content.get("text"), str):
            return str(content["text"])
    return None


def _problem_texts(container: Mapping[str, Any]) -> str:
    parts = []
    for problem in as_list(container.get("problemTypes")):
        for d in as_list(problem.get("descriptions")):
            parts += [str(d.get("cweId", "")), str(d.get("description", ""))]
    return " ".join(parts)


def _container_ranges(
    container: Mapping[str, Any], provenance: Provenance
) -> Iterator[AffectedRange]:
    for entry in as_list(container.get("affected")):
        yield from _entry_ranges(as_dict(entry), provenance)


def _entry_ranges(entry: Mapping[str, Any], provenance: Provenance) -> Iterator[AffectedRange]:
    cpes = [_cpe_or_none(str(c)) for c in as_list(entry.get("cpes"))]
    named = [c for c in cpes if c is not None]
    versions = [as_dict(v) for v in as_list(entry.get("versions")) if v.get("status") == "affected"]
    platforms = _platforms(entry)
    if named and _cpes_name_releases(named, versions):
        yield from _release_ranges(named, versions, provenance, platforms)
        return
    for key in _keys(entry, named):
        for version in versions:
            yield from _version_ranges(key, version, provenance, platforms)


def _cpe_or_none(text: str) -> Cpe | None:
    try:
        return parse_cpe(text)
    except CpeError:  # an ADP typo in one CPE must not drop the whole record
        return None


def _cpes_name_releases(cpes: list[Cpe], versions: list[dict[str, Any]]) -> bool:
    """Microsoft's CNA names each Exchange cumulative update by CPE
    (`exchange_server:2019:cumulative_update_11`) and gives build-number ranges
    (`15.02.0` to `15.02.0986.009`) inside it. Such CPE versions match no range start."""
    starts = {str(v.get("version", "")) for v in versions}
    specific = [c for c in cpes if c.version not in (ANY, NA)]
    return bool(specific) and all(c.version not in starts for c in specific)


def _release_ranges(
    cpes: list[Cpe],
    versions: list[dict[str, Any]],
    provenance: Provenance,
    platforms: tuple[str, ...],
) -> Iterator[AffectedRange]:
    # A release-level observation cannot tell which build it runs: when the record only
    # affects builds below a fix, the match is potential.
    has_build_ranges = any("lessThan" in v or "lessThanOrEqual" in v for v in versions)
    certainty = Certainty.UNKNOWN if has_build_ranges else Certainty.AFFECTED
    for cpe in cpes:
        if cpe.version in (ANY, NA):
            continue
        yield AffectedRange(
            product=canonical_key(cpe.key),
            provenance=provenance,
            statement=f"{_cpe_text(cpe)} (builds: {_describe(versions)})",
            exact=cpe.version,
            update=cpe.update,
            platforms=platforms,
            compares=VersionField.CPE_VERSION,
            certainty=certainty,
        )


def _cpe_text(cpe: Cpe) -> str:
    return f"cpe:2.3:{cpe.part}:{cpe.key}:{cpe.version}:{cpe.update}"


def _describe(versions: list[dict[str, Any]]) -> str:
    return "; ".join(
        " ".join(f"{k}={v[k]}" for k in ("version", "lessThan", "lessThanOrEqual") if k in v)
        for v in versions
    )


def _keys(entry: Mapping[str, Any], cpes: list[Cpe]) -> list[str]:
    if cpes:
        return sorted({canonical_key(c.key) for c in cpes})
    vendor, product = str(entry.get("vendor", "")), str(entry.get("product", ""))
    if product.lower() in ("n/a", ""):
        return []
    return [key_for_name(vendor, product) or fallback_key(vendor, product)]


def _platforms(entry: Mapping[str, Any]) -> tuple[str, ...]:
    names = [str(p).lower() for p in as_list(entry.get("platforms"))]
    return ("cpe:2.3:o:microsoft:windows:*:*:*:*:*:*:*:*",) if names == ["windows"] else ()


def _clean(text: object) -> str | None:
    """A usable version string, or None. `exim 4.95` → `4.95`; `7.4.X` → `7.4` (a branch)."""
    if not isinstance(text, str):
        return None
    value = _LEADING_NAME.sub("", text.strip())
    if value.lower() in _NO_VERSION or value.lower().startswith("n/a"):
        return None
    wildcard = _WILDCARD.match(value)
    return wildcard.group("prefix") if wildcard else value


_CITRIX_RELEASE = re.compile(r"^(?P<release>\d+\.\d+)(?:-(?P<edition>[a-z]+))?$", re.IGNORECASE)


def _citrix(
    key: str, start: str | None, end: str | None
) -> tuple[str | None, str | None, dict[str, Any]]:
    """Citrix's CNA writes a NetScaler fix as `version: 13.1-FIPS, lessThan: 37.159`: build
    37.159 of release 13.1, FIPS edition. NVD and CISA's ADP write the same as
    `13.1-37.159` with `target_sw` fips (CVE-2023-3466, CVE-2023-4966)."""
    release = _CITRIX_RELEASE.match(start or "")
    if not key.startswith("citrix:") or release is None or not end or "-" in end:
        return start, end, {}
    base = release.group("release")
    edition = (release.group("edition") or "").lower()
    extra: dict[str, Any] = {"qualifiers": (("target_sw", edition),)} if edition else {}
    return base, f"{base}-{end}", extra


def _next_branch(prefix: str) -> str:
    """`8.1` → `8.2`: the exclusive end of a `8.1.*` wildcard."""
    head, _, last = prefix.rpartition(".")
    return f"{head}.{int(last) + 1}" if head else str(int(last) + 1)


def _version_ranges(
    key: str, version: dict[str, Any], provenance: Provenance, platforms: tuple[str, ...]
) -> Iterator[AffectedRange]:
    if version.get("versionType") == "git":
        return  # commit ids have no order a banner could be compared with
    raw = str(version.get("version", ""))
    start = _clean(raw)
    statement = _describe([version])
    base: dict[str, Any] = {
        "product": key,
        "provenance": provenance,
        "statement": statement,
        "platforms": platforms,
    }
    if "lessThan" in version or "lessThanOrEqual" in version:
        inclusive = "lessThanOrEqual" in version
        end = _clean(version.get("lessThanOrEqual" if inclusive else "lessThan"))
        start, end, extra = _citrix(key, start, end)
        base.update(extra)
        yield from _with_changes(base, start, end, inclusive, as_list(version.get("changes")))
    elif start is not None and _WILDCARD.match(raw.strip()):
        yield AffectedRange(**base, start=start, end=_next_branch(start))
    elif start is not None:
        yield AffectedRange(**base, exact=start)


def _with_changes(
    base: dict[str, Any], start: str | None, end: str | None, inclusive: bool, changes: list[Any]
) -> Iterator[AffectedRange]:
    """Split `[start, end)` at each change; yield the segments whose status is affected."""
    points: list[tuple[str | None, str]] = [(start, "affected")]
    points += [(_clean(c.get("at")), str(c.get("status"))) for c in changes if isinstance(c, dict)]
    for index, (at, status) in enumerate(points):
        last = index == len(points) - 1
        if status != "affected":
            continue
        upper = end if last else points[index + 1][0]
        yield AffectedRange(**base, start=at, end=upper, end_inclusive=inclusive if last else False)
