"""Matching an observed product against the index, saying how sure each match is.

A version in an affected range is CONFIRMED only when every condition of the range is met
and the evidence excludes a distribution's backported fix (`vuln.backport`): the version is
one no distribution release still fixed when the CVE came out ships (`Apache/2.4.49`), or
the banner's package revision is older than the one that fixed the CVE
(`OpenSSH_9.2p1 Debian-2+deb12u1` against Debian's fix in `1:9.2p1-2+deb12u3`), or it is
the last revision of a release whose support had ended before the CVE was published. A
revision at or past the fix is no match at all. Otherwise a match is only POTENTIAL, never
scored, as when:

- the version is one a distribution ships (`nginx/1.22.1` is Debian 12's, with some thirty
  fixes backported: Debian Security FAQ, "the version number doesn't change");
- the range needs something the observation does not show: a CPE update (`8.5:p1` against a
  banner without one), a non-default edition (Citrix `fips`), a platform (NVD AND nodes,
  nginx/Windows), or a release where the page names only a series (`Drupal 7`);
- the feed itself is unsure (Apache's `?=`, Exchange build ranges under a CU).

When several feeds give ranges for one CVE and product, the most authoritative one speaks
alone (`model.FEED_RANK`): a vendor's "not affected" is not overruled by a coarser NVD range.
"""

from __future__ import annotations

import re
from bisect import bisect_right
from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from utsyn.vuln.backport import Seen, Status, judge
from utsyn.vuln.cpe import ANY, NA, Cpe, CpeError, parse_cpe
from utsyn.vuln.index import IndexedRange, VulnIndex
from utsyn.vuln.model import (
    AffectedRange,
    Certainty,
    CvssScore,
    EpssScore,
    KevEntry,
    VersionField,
)
from utsyn.vuln.products import canonical_key, key_for_name, retirejs_key
from utsyn.vuln.versions import VersionKey, version_key

# OpenSSH portable releases carry `pN`, which NVD files as the CPE update (`7.4:p1`); an
# OpenBSD release has none and NVD writes the update as NA (`9.8:-`, CVE-2024-6387).
_OPENSSH = re.compile(r"^(?P<version>\d+(?:\.\d+)*)(?P<update>p\d+)?$")
# Products whose version string does not name the CPE update: an Exchange "2019" could be
# any cumulative update, so without a CPE the update is unknown.
_UPDATE_UNKNOWN = {"microsoft:exchange_server"}


class Confidence(StrEnum):
    CONFIRMED = "confirmed"
    POTENTIAL = "potential"


@dataclass(frozen=True, slots=True)
class ObservedProduct:
    """What the scanner saw: a `service.product` value or a web technology."""

    product: str
    version: str | None
    vendor: str | None = None
    cpe: str | None = None
    distro_patched: bool = False
    distro: str | None = None
    source: str = ""  # the banner or header the product was read from
    platforms: tuple[str, ...] = ()  # CPEs of the operating system or hardware, if known
    revision: str | None = None  # the distribution package revision shown ("2+deb12u1")
    label: str = ""  # the name for people ("Apache HTTP Server"), when the scanner gave one

    @classmethod
    def from_observation(cls, value: Mapping[str, Any]) -> ObservedProduct:
        """From `{product, vendor, version, cpe, distro_patched, distro, revision, source}`
        or a web technology `{name, version, cpe, ...}`."""
        name = value.get("product") or value.get("name") or ""
        version = value.get("version")
        return cls(
            product=str(name),
            version=str(version) if version not in (None, "", ANY) else None,
            vendor=str(value["vendor"]) if value.get("vendor") else None,
            cpe=str(value["cpe"]) if value.get("cpe") else None,
            distro_patched=bool(value.get("distro_patched", False)),
            distro=str(value["distro"]) if value.get("distro") else None,
            source=str(value.get("source") or ""),
            revision=str(value["revision"]) if value.get("revision") else None,
            label=str(value.get("name") or name),
        )


@dataclass(frozen=True, slots=True)
class Evidence:
    observed: str  # the banner or "product version" that was matched
    observed_cpe: str | None
    range: AffectedRange  # with its statement and provenance (feed, file date, record date)
    doubts: tuple[str, ...]  # why this range alone would only be a potential match


@dataclass(frozen=True, slots=True)
class Match:
    vuln_id: str
    product: str  # the product key matched, "vendor:product"
    confidence: Confidence
    reasons: tuple[str, ...]  # why the match is potential; empty when confirmed
    evidence: tuple[Evidence, ...]
    summary: str
    cvss: CvssScore | None  # the highest base score known for the CVE, with its vector
    kev: KevEntry | None
    epss: EpssScore | None
    basis: str = ""  # what excludes a backported fix, when confirmed
    shipped_by: tuple[str, ...] = ()  # distribution releases that ship the version seen

    @property
    def scored(self) -> bool:
        """Only confirmed matches count towards a rating."""
        return self.confidence is Confidence.CONFIRMED


@dataclass(frozen=True, slots=True)
class _Subject:
    key: str
    full: str  # the whole version string as announced
    full_key: VersionKey  # the whole version string, as non-NVD feeds write versions
    cpe_key: VersionKey  # the CPE version attribute, as NVD ranges compare
    update: str
    qualifiers: dict[str, str]
    text: str


def match(product: ObservedProduct, index: VulnIndex) -> list[Match]:
    """Every vulnerability the observed product matches, sorted by id."""
    subject = _resolve(product, index)
    if subject is None:
        return []
    hits: dict[str, list[tuple[IndexedRange, tuple[str, ...]]]] = {}
    for candidate in _candidates(subject, index):
        doubts = _doubts(candidate.range, subject, product)
        if doubts is not None:
            hits.setdefault(candidate.vuln_id, []).append((candidate, doubts))
    found = (_match(vid, ranges, subject, product, index) for vid, ranges in sorted(hits.items()))
    return [m for m in found if m is not None]


def _candidates(subject: _Subject, index: VulnIndex) -> list[IndexedRange]:
    """Ranges that may contain the version: intervals starting at or below it (whichever
    of the two version forms is higher), and single versions equal to it."""
    spans = index.spans.get(subject.key, [])
    highest = max(subject.full_key, subject.cpe_key)
    found = spans[: bisect_right(index.span_starts.get(subject.key, []), highest)]
    for field, key in (
        (VersionField.FULL, subject.full_key),
        (VersionField.CPE_VERSION, subject.cpe_key),
    ):
        table = index.exact.get((subject.key, field))
        if table:
            found += table.get(key, ())
    return found


# ------------------------------------------------------------------ resolving the subject


def _parsed_cpe(text: str | None) -> Cpe | None:
    if not text:
        return None
    try:
        return parse_cpe(text)
    except CpeError:
        return None


def _product_key(product: ObservedProduct, cpe: Cpe | None, index: VulnIndex) -> str | None:
    if cpe is not None:
        return canonical_key(cpe.key)
    known = index.products
    if product.vendor and canonical_key(f"{product.vendor}:{product.product}") in known:
        return canonical_key(f"{product.vendor}:{product.product}")
    named = key_for_name(product.vendor, product.product)
    if named is not None:
        return named
    library = retirejs_key(product.product)
    return library if library in known else None


def _split(key: str, full: str) -> tuple[str, str]:
    """The CPE version and update a version string stands for, by product family."""
    if key == "openbsd:openssh":
        found = _OPENSSH.match(full)
        if found:
            return found.group("version"), found.group("update") or NA
    return full, ANY if key in _UPDATE_UNKNOWN else NA


def _resolve(product: ObservedProduct, index: VulnIndex) -> _Subject | None:
    cpe = _parsed_cpe(product.cpe)
    key = _product_key(product, cpe, index)
    cpe_version = cpe.version if cpe is not None and cpe.version not in (ANY, NA) else None
    full = product.version or cpe_version
    if key is None or full is None:
        return None  # without a version nothing can be matched precisely
    version, update = _split(key, full)
    if cpe_version is not None:
        version = cpe_version
    if cpe is not None and cpe.update != ANY:
        update = cpe.update
    qualifiers = {n: v for n, v in cpe.qualifiers() if v != ANY} if cpe is not None else {}
    text = product.source or f"{product.product} {full}"
    return _Subject(key, full, version_key(full), version_key(version), update, qualifiers, text)


# ------------------------------------------------------------------ judging one range


def _doubts(
    affected: AffectedRange, subject: _Subject, product: ObservedProduct
) -> tuple[str, ...] | None:
    """None when the range does not apply; otherwise what keeps it from being certain."""
    cpe_based = affected.compares is VersionField.CPE_VERSION
    if not affected.contains(subject.cpe_key if cpe_based else subject.full_key):
        return None
    doubts: list[str] = []
    if cpe_based and not _update_ok(affected.update, subject.update, doubts):
        return None
    for name, value in affected.qualifiers:
        if not _attribute_ok(value, subject.qualifiers.get(name, ANY), name, doubts):
            return None
    if affected.platforms and not _platform_seen(affected.platforms, product.platforms):
        doubts.append("needs platform " + " or ".join(affected.platforms) + ", not observed")
    if _series_only(subject.full, affected):
        doubts.append(f"the version shown, {subject.full}, names a release series, not a release")
    if affected.certainty is Certainty.UNKNOWN:
        doubts.append("the feed lists this version as possibly affected")
    return tuple(doubts)


def _series_only(full: str, affected: AffectedRange) -> bool:
    """`Drupal 7` against a bound `7.57`: the page names the series, and 7.58 is fixed."""
    bounds = (affected.exact, affected.start, affected.end)
    return full.isdigit() and any(b is not None and b.startswith(full + ".") for b in bounds)


def _update_ok(wanted: str, seen: str, doubts: list[str]) -> bool:
    """The update attribute: unlike an edition, an unknown update is never taken to be NA:
    Exchange `2019` with no cumulative update shown may be any of them, RTM (`2019:-`) too."""
    if wanted == NA and seen == ANY:
        doubts.append("the range needs the release without an update, which is not shown")
        return True
    return _attribute_ok(wanted, seen, "update", doubts)


def _attribute_ok(wanted: str, seen: str, name: str, doubts: list[str]) -> bool:
    """CPE name matching for one attribute; an unknown observed value is a doubt."""
    if wanted in (ANY, seen):
        return True
    if wanted == NA:
        # NA is the default edition/platform; a banner that shows none is taken to be it.
        return seen == ANY
    if seen == ANY:
        doubts.append(f"the range needs {name} {wanted}, which the observation does not show")
        return True
    return False


def _platform_seen(platforms: tuple[str, ...], observed: tuple[str, ...]) -> bool:
    seen = [c for c in (_parsed_cpe(o) for o in observed) if c is not None]
    for text in platforms:
        wanted = _parsed_cpe(text)
        if wanted is not None and any(_same_platform(wanted, c) for c in seen):
            return True
    return False


def _same_platform(wanted: Cpe, seen: Cpe) -> bool:
    # NVD names Windows releases `windows_server_2019`, `windows_10_1607`...: a `windows`
    # criterion (nginx/Windows, Apache's "Windows") covers them all.
    same_product = seen.product == wanted.product or seen.product.startswith(wanted.product + "_")
    same_version = wanted.version in (ANY, NA) or wanted.version == seen.version
    return seen.vendor == wanted.vendor and same_product and same_version


# ------------------------------------------------------------------ the match


def _match(
    vuln_id: str,
    found: list[tuple[IndexedRange, tuple[str, ...]]],
    subject: _Subject,
    product: ObservedProduct,
    index: VulnIndex,
) -> Match | None:
    """The match, or None when the banner shows a package revision with the fix."""
    certain = any(not doubts for _, doubts in found)
    reasons: list[str] = []
    if not certain:
        reasons = list(dict.fromkeys(d for _, doubts in found for d in doubts))
    verdict = judge(_seen(subject, product), vuln_id, index.published.get(vuln_id), index.distros)
    if verdict.status is Status.PATCHED:
        return None
    if verdict.status is Status.POTENTIAL:
        reasons.insert(0, verdict.reason)
    evidence = tuple(
        Evidence(subject.text, product.cpe, candidate.range, doubts) for candidate, doubts in found
    )
    return Match(
        vuln_id=vuln_id,
        product=subject.key,
        confidence=Confidence.POTENTIAL if reasons else Confidence.CONFIRMED,
        reasons=tuple(reasons),
        evidence=evidence,
        summary=index.summaries.get(vuln_id, ""),
        cvss=index.cvss.get(vuln_id),
        kev=index.kev.get(vuln_id),
        epss=index.epss.get(vuln_id),
        basis=verdict.reason if verdict.status is Status.CONFIRMED and not reasons else "",
        shipped_by=verdict.shipped_by,
    )


def _seen(subject: _Subject, product: ObservedProduct) -> Seen:
    distro = product.distro or ("distribution" if product.distro_patched else None)
    return Seen(subject.key, subject.full, distro, product.revision, product.label)
