"""The normalised vulnerability model every feed is loaded into.

One `Vulnerability` per record per feed: a CVE that NVD, the CVE list and a vendor all
describe is three records, kept apart so that each range keeps its own provenance. The
index (`vuln.index`) groups them by id and decides which feed speaks for which product.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime
from enum import StrEnum

from utsyn.errors import UtsynError
from utsyn.vuln.cpe import ANY
from utsyn.vuln.versions import VersionKey, version_key


class FeedError(UtsynError):
    """A vulnerability feed file is missing or does not have the expected format."""


class Feed(StrEnum):
    """Where a record came from. The value is what storage and evidence show."""

    NVD = "nvd"
    CVE5_CNA = "cve5-cna"
    CVE5_ADP = "cve5-adp"
    NGINX = "nginx-advisories"
    HTTPD = "apache-httpd"
    RETIREJS = "retirejs"
    KEV = "cisa-kev"
    EPSS = "first-epss"


# Which feed speaks for a product when several give ranges for the same CVE: the vendor's
# own advisory first (it names fixed branches, which NVD and CNAs flatten), then NVD's
# analysed CPE configurations, then the CNA's record, then CISA's ADP enrichment, which
# fills gaps but carries typos (vulnrichment CVE-2023-0567 has `lessThan: "80.28"`).
FEED_RANK: dict[Feed, int] = {
    Feed.NGINX: 0,
    Feed.HTTPD: 0,
    Feed.RETIREJS: 0,
    Feed.NVD: 1,
    Feed.CVE5_CNA: 2,
    Feed.CVE5_ADP: 3,
}


@dataclass(frozen=True, slots=True)
class Provenance:
    """Which file a fact came from, how old the file is, and how old the record is."""

    feed: Feed
    file: str  # file name inside the snapshot
    file_date: date  # the upstream snapshot (commit) date of the file
    record_date: datetime | None = None  # the record's own last-modified time, if it has one


@dataclass(frozen=True, slots=True)
class CvssScore:
    """A CVSS base score. `computed` scores come from the vector by the `cvss` library;
    `reported` ones (computed False) are a number a feed gave without a vector."""

    version: str  # "2.0", "3.0", "3.1", "4.0"
    vector: str | None
    base_score: float
    source: str  # who scored it: "nvd@nist.gov", a CNA, "CISA-ADP", "epss-csv"
    computed: bool
    reported_score: float | None = None  # the number the feed printed next to the vector


class Certainty(StrEnum):
    AFFECTED = "affected"  # the feed says versions in the range are affected
    UNKNOWN = "unknown"  # the feed says they may be (Apache's `?=`, a build-level range)


class VersionField(StrEnum):
    """What a range's bounds are compared with.

    NVD ranges compare the CPE version attribute only (`versionEndExcluding 8.8` against
    OpenSSH `8.7` of `8.7:p1`), the update being a separate attribute; every other feed
    writes whole version strings (`lessThanOrEqual: 8.3p1`).
    """

    CPE_VERSION = "cpe-version"
    FULL = "full"


@dataclass(frozen=True, slots=True)
class AffectedRange:
    """One affected version range of one product, as one feed states it."""

    product: str  # "vendor:product" as in CPE, e.g. "openbsd:openssh"
    provenance: Provenance
    statement: str  # the feed's own words for the range, shown as evidence
    exact: str | None = None  # a single version; then start and end are None
    start: str | None = None
    start_inclusive: bool = True
    end: str | None = None
    end_inclusive: bool = False
    update: str = ANY  # CPE update attribute the range requires ("p1", "-", or ANY)
    qualifiers: tuple[tuple[str, str], ...] = ()  # other CPE attributes that are not ANY
    platforms: tuple[str, ...] = ()  # CPEs one of which must also be present (NVD AND)
    compares: VersionField = VersionField.FULL
    certainty: Certainty = Certainty.AFFECTED
    exact_key: VersionKey | None = field(init=False, compare=False, repr=False)
    start_key: VersionKey | None = field(init=False, compare=False, repr=False)
    end_key: VersionKey | None = field(init=False, compare=False, repr=False)

    def __post_init__(self) -> None:
        # Keys are parsed once here, not at every comparison: matching is the hot path.
        object.__setattr__(self, "exact_key", _key(self.exact))
        object.__setattr__(self, "start_key", _key(self.start))
        object.__setattr__(self, "end_key", _key(self.end))

    def contains(self, key: VersionKey) -> bool:
        """Whether a version (by its key) lies in the range; other attributes aside."""
        if self.exact_key is not None:
            return key == self.exact_key
        if self.start_key is not None and (
            key < self.start_key or (key == self.start_key and not self.start_inclusive)
        ):
            return False
        return (
            self.end_key is None
            or key < self.end_key
            or (key == self.end_key and self.end_inclusive)
        )


def _key(text: str | None) -> VersionKey | None:
    return None if text is None else version_key(text)


@dataclass(frozen=True, slots=True)
class Vulnerability:
    id: str  # "CVE-2021-23017", or a GHSA / RetireJS id when a JS advisory has no CVE
    provenance: Provenance
    aliases: tuple[str, ...] = ()
    summary: str = ""
    published: datetime | None = None
    modified: datetime | None = None
    cvss: tuple[CvssScore, ...] = ()
    cwe: tuple[str, ...] = ()
    references: tuple[str, ...] = ()
    affected: tuple[AffectedRange, ...] = ()
    severity: str | None = None  # the vendor's own word ("major", "important"), if any


@dataclass(frozen=True, slots=True)
class KevEntry:
    """One entry of CISA's Known Exploited Vulnerabilities catalogue."""

    cve_id: str
    vendor: str
    product: str
    name: str
    date_added: date
    due_date: date | None
    ransomware_use: bool | None  # "Known" True; "Unknown" None (CISA does not say "no")
    required_action: str
    notes: str
    cwes: tuple[str, ...]
    provenance: Provenance


@dataclass(frozen=True, slots=True)
class KevCatalogue:
    version: str | None  # catalogVersion (the JSON has it, the CSV does not)
    released: datetime | None
    entries: dict[str, KevEntry]


@dataclass(frozen=True, slots=True)
class EpssScore:
    """FIRST EPSS: probability of exploitation activity in the next 30 days."""

    cve_id: str
    probability: float
    percentile: float
    provenance: Provenance
