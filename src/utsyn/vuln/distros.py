"""Which upstream versions distribution releases ship, and which package revision fixed a CVE.

Debian, Ubuntu and Red Hat fix flaws in the version a release shipped (`nginx 1.22.1` stays
1.22.1 in Debian 12 for its whole life, with some thirty CVE fixes backported), so a
version in an affected range proves nothing about a distribution's package. This table is
what lets a match be confirmed anyway (`vuln.backport`): a version no maintained release
ships, or a package revision older than the one that fixed the CVE.

The table is a feed (`distros` in SOURCES.json, `utsyn feeds update`), one JSON file:

    {"format": "utsyn-distro-packages/1",
     "releases": [{"id": "debian-12", "distribution": "debian", "version": "12",
                   "name": "Debian 12 (bookworm)", "released": "2023-06-10",
                   "supported_until": "2028-06-30", "support": "...",
                   "source": "https://wiki.debian.org/LTS", "checked": "memory"}, ...],
     "packages": [{"release": "debian-12", "product": "f5:nginx", "package": "nginx",
                   "versions": ["1.22.1"], "source": "https://packages.debian.org/...",
                   "checked": "apt-cache madison nginx ... 2026-12-07"}, ...],
     "fixes": [{"release": "debian-12", "product": "openbsd:openssh", "package": "openssh",
                "cve": "CVE-2024-6387", "fixed": "1:9.2p1-2+deb12u3",
                "advisory": "DSA-5724-1", "source": "...", "checked": "..."}, ...]}

- `distribution` is `debian`, `ubuntu` or `rhel` (Red Hat Enterprise Linux and its rebuilds
  Rocky Linux and AlmaLinux, which ship the same upstream versions).
- `supported_until` is the last day the distribution itself published security fixes for
  the release, its own extended support included (Debian LTS, Ubuntu ESM, RHEL ELS).
  `extended_until` (optional, with `extended_by`) is how long a third party goes on fixing
  the release's packages under the same revision scheme (Freexian's Extended LTS ships
  `+deb9u8` after Debian LTS's last `+deb9u7`): until then a fix may exist.
- `product` is the `vendor:product` key NVD's CPEs use (`vuln.products`).
- `last` (optional, on a release past `supported_until`) is the last package version the
  distribution itself published: a banner showing it lacks every later fix.
- `versions` are written as the software announces them (Red Hat's sshd says `OpenSSH_8.0`
  for openssh-8.0p1), each an exact version, a glob (`7.4.*`, `1.1.1*`), an inclusive
  range `2.4.51..2.4.99`, or `*` when the release packages the product at a version the
  table does not record.
- `fixed` is the first package version (`[epoch:]upstream-revision`) with the fix, or null
  with `"status": "not-affected"` when the distribution's tracker says its package never was.
- Every row cites a `source` and says in `checked` how it was verified; rows from memory
  say so.

A product with at least one package row is *tracked*: a release without a row for it is
taken not to ship it. A product no row names (Exchange, FortiOS, a JavaScript library) is
not packaged by these distributions, and its announced version is the code's version.
"""

from __future__ import annotations

import re
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date
from fnmatch import fnmatchcase
from pathlib import Path
from typing import Any

from utsyn.vuln.feedio import as_dict, as_list, read_json
from utsyn.vuln.model import FeedError
from utsyn.vuln.versions import version_key

FORMAT = "utsyn-distro-packages/1"
DISTRIBUTIONS = ("debian", "ubuntu", "rhel")
# The distribution a banner's hint names (`scan.products.detect_distro`): Raspberry Pi OS
# rebuilds Debian's packages with Debian's revisions (`Raspbian-2+deb12u3`).
HINTS = {"Debian": "debian", "Raspbian": "debian", "Ubuntu": "ubuntu", "Red Hat": "rhel"}
# How a package revision names its release: `+deb12u3`, `0ubuntu0.22.04.1`, `.el9_4`.
_RELEASE_IN_REVISION = {
    "debian": re.compile(r"deb(\d+)u\d"),
    "ubuntu": re.compile(r"(\d\d\.\d\d)"),
    "rhel": re.compile(r"\.el(\d+)"),
}
_GLOB = re.compile(r"[*?\[]")


@dataclass(frozen=True, slots=True)
class Release:
    id: str  # "debian-12"
    distribution: str  # "debian", "ubuntu", "rhel"
    version: str  # "12", "22.04"
    name: str  # "Debian 12 (bookworm)"
    supported_until: date
    source: str
    extended_until: date | None = None  # a third party's fixes, under the same revisions

    def supported_on(self, day: date | None) -> bool:
        """Whether the distribution itself still published fixes for the release on `day`;
        an unknown day counts as supported (the cautious answer)."""
        return day is None or day <= self.supported_until

    def fixable_on(self, day: date | None) -> bool:
        """Whether anyone still fixed the release's packages on `day`."""
        return self.supported_on(day) or (
            self.extended_until is not None and day is not None and day <= self.extended_until
        )


@dataclass(frozen=True, slots=True)
class Shipped:
    """One package row: the upstream versions a release ships of a product."""

    release: Release
    product: str
    package: str
    versions: tuple[str, ...]
    source: str
    checked: str
    last: str | None = None  # the last package version the distribution itself published

    def carries(self, version: str) -> bool:
        return any(_spec_matches(spec, version) for spec in self.versions)


@dataclass(frozen=True, slots=True)
class Fix:
    """The package version of a release that fixed a CVE (None: never affected)."""

    release: Release
    product: str
    package: str
    cve: str
    fixed: str | None
    advisory: str
    source: str
    checked: str


@dataclass(frozen=True, slots=True)
class DistroTable:
    releases: dict[str, Release] = field(default_factory=dict)
    shipped: dict[str, tuple[Shipped, ...]] = field(default_factory=dict)  # by product
    fixes: dict[tuple[str, str, str], Fix] = field(default_factory=dict)  # release, product, CVE
    file: str = ""
    file_date: date | None = None

    def tracks(self, product: str) -> bool:
        return product in self.shipped

    def carrying(self, product: str, version: str) -> list[Shipped]:
        """The package rows, one per release, whose versions include `version`."""
        return [row for row in self.shipped.get(product, ()) if row.carries(version)]

    def release_in(self, distribution: str, revision: str | None) -> Release | None:
        """The release a package revision names (`2+deb12u1` → Debian 12), if it does."""
        pattern = _RELEASE_IN_REVISION.get(distribution)
        found = pattern.search(revision) if pattern is not None and revision else None
        return self.releases.get(f"{distribution}-{found.group(1)}") if found else None

    def fix(self, release: Release, product: str, cve: str) -> Fix | None:
        return self.fixes.get((release.id, product, cve))

    def shipped_in(self, release: Release, product: str) -> Shipped | None:
        return next((r for r in self.shipped.get(product, ()) if r.release == release), None)

    def __len__(self) -> int:
        return sum(len(rows) for rows in self.shipped.values())


def _spec_matches(spec: str, version: str) -> bool:
    if spec == "*":
        return True
    if ".." in spec:
        low, _, high = spec.partition("..")
        key = version_key(version)
        return (not low or version_key(low) <= key) and (not high or key <= version_key(high))
    if _GLOB.search(spec):
        return fnmatchcase(version, spec)
    return version_key(spec) == version_key(version)


# ------------------------------------------------------------------ loading


def load_distros(path: Path, file_date: date) -> DistroTable:
    """The table in `path`; FeedError names the row that is not as documented above."""
    data = as_dict(read_json(path))
    if data.get("format") != FORMAT:
        raise FeedError(
            "%(file)s: not a %(format)s table (format %(found)r)",
            file=path.name,
            format=FORMAT,
            found=data.get("format"),
        )
    releases = {r.id: r for r in (_release(row) for row in as_list(data.get("releases")))}
    shipped: dict[str, list[Shipped]] = defaultdict(list)
    for row in as_list(data.get("packages")):
        item = _shipped(row, releases)
        shipped[item.product].append(item)
    fixes = {(f.release.id, f.product, f.cve): f for f in _fixes(data, releases)}
    frozen = {product: tuple(rows) for product, rows in shipped.items()}
    return DistroTable(releases, frozen, fixes, path.name, file_date)


def _text(row: dict[str, Any], key: str) -> str:
    value = row.get(key)
    if not isinstance(value, str) or not value.strip():
        raise FeedError("distribution table row without %(key)r: %(row)s", key=key, row=row)
    return value


def _release(row: Any) -> Release:
    row = as_dict(row)
    distribution = _text(row, "distribution")
    if distribution not in DISTRIBUTIONS:
        raise FeedError("distribution table: unknown distribution %(name)r", name=distribution)
    _text(row, "checked")
    extended = row.get("extended_until")
    return Release(
        _text(row, "id"), distribution, _text(row, "version"), _text(row, "name"),
        _date(row, "supported_until"), _text(row, "source"),
        _date(row, "extended_until") if extended is not None else None,
    )  # fmt: skip


def _date(row: dict[str, Any], key: str) -> date:
    try:
        return date.fromisoformat(_text(row, key))
    except ValueError as exc:
        raise FeedError("distribution table: bad %(key)s in %(row)s", key=key, row=row) from exc


def _in(releases: dict[str, Release], row: dict[str, Any]) -> Release:
    name = _text(row, "release")
    if name not in releases:
        raise FeedError("distribution table: row names unknown release %(name)r", name=name)
    return releases[name]


def _shipped(row: Any, releases: dict[str, Release]) -> Shipped:
    row = as_dict(row)
    versions = tuple(str(v) for v in as_list(row.get("versions")))
    if not versions:
        raise FeedError("distribution table: package row without versions: %(row)s", row=row)
    last = row.get("last")
    return Shipped(
        _in(releases, row), _text(row, "product"), _text(row, "package"), versions,
        _text(row, "source"), _text(row, "checked"), str(last) if last is not None else None,
    )  # fmt: skip


def _fixes(data: dict[str, Any], releases: dict[str, Release]) -> Iterable[Fix]:
    for raw in as_list(data.get("fixes")):
        row = as_dict(raw)
        fixed = row.get("fixed")
        if fixed is None and row.get("status") != "not-affected":
            raise FeedError("distribution table: fix row without 'fixed': %(row)s", row=row)
        yield Fix(
            _in(releases, row), _text(row, "product"), _text(row, "package"), _text(row, "cve"),
            str(fixed) if fixed is not None else None, _text(row, "advisory"),
            _text(row, "source"), _text(row, "checked"),
        )  # fmt: skip
