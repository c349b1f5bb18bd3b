"""Does the evidence exclude a distribution's backported fix? The judgement that decides
whether a version match is confirmed, potential, or no match at all.

A version in an affected range is proof only when no distribution package could be behind
it. With the distribution table (`vuln.distros`):

- A banner that names a distribution package and its revision
  (`OpenSSH_9.2p1 Debian-2+deb12u1`) is compared with the revision that fixed the CVE in
  that release: older is confirmed, the same or newer is patched (no match at all).
- A banner that names the distribution's release (by its revision, or because only one of
  its releases ships that version) is confirmed when nobody fixed that release's packages
  any more when the CVE was published; or when the distribution's own support had ended
  and the banner shows the last revision the distribution published (`Debian-10+deb9u7`):
  a third party's later fix (Freexian's Extended LTS) would carry a newer revision.
- A banner without a distribution hint is confirmed when no release in the table that was
  still fixed when the CVE was published ships that upstream version (`nginx/1.19.0`,
  `Apache/2.4.49`); `nginx/1.22.1` is Debian 12's and stays potential.
- Everything else is potential: 0 points, with the releases that ship the version named so
  that the owner knows which package changelog to read.

A product the table does not track is not packaged by these distributions: its announced
version is the code's, as before.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from enum import StrEnum

from utsyn.vuln import dpkg
from utsyn.vuln.distros import HINTS, DistroTable, Fix, Release


class Status(StrEnum):
    CONFIRMED = "confirmed"
    POTENTIAL = "potential"
    PATCHED = "patched"  # the distribution's fix is installed: not a match


@dataclass(frozen=True, slots=True)
class Seen:
    """What a banner says about the installed software."""

    product: str  # "vendor:product"
    version: str  # as announced: "9.2p1", "1.22.1"
    distro: str | None  # the distribution the banner names ("Debian"), if any
    revision: str | None  # the package revision it shows ("2+deb12u1"), if any
    label: str = ""  # the product's name for people ("Apache HTTP Server")


@dataclass(frozen=True, slots=True)
class Verdict:
    status: Status
    reason: str  # why, in words an owner can check
    shipped_by: tuple[str, ...]  # releases that ship this upstream version


def judge(seen: Seen, cve: str, published: date | None, table: DistroTable) -> Verdict:
    """The verdict on one CVE whose affected range contains `seen.version`."""
    shipped_by = tuple(row.release.name for row in table.carrying(seen.product, seen.version))
    if seen.distro is not None:
        status, reason = _hinted(seen, cve, published, table)
    elif table.tracks(seen.product):
        status, reason = _bare(seen, cve, published, table)
    else:
        status, reason = Status.CONFIRMED, ""  # not a distribution package anywhere
    return Verdict(status, reason, shipped_by)


def _bare(seen: Seen, cve: str, published: date | None, table: DistroTable) -> tuple[Status, str]:
    rows = table.carrying(seen.product, seen.version)
    live = [r.release for r in rows if r.release.fixable_on(published)]
    name = f"{seen.label or seen.product.split(':')[-1]} {seen.version}"
    if not rows:
        return Status.CONFIRMED, (
            f"no distribution release ships {name}: an upstream build, whose version is its code's"
        )
    if not live:
        return Status.CONFIRMED, f"{name} is shipped only by " + _unsupported(
            [r.release for r in rows], cve, published
        )
    return Status.POTENTIAL, (
        f"{_names(live)} ship{'s' if len(live) == 1 else ''} {name}; distributions backport "
        "security fixes without changing the version"
    )


def _hinted(seen: Seen, cve: str, published: date | None, table: DistroTable) -> tuple[Status, str]:
    distribution = HINTS.get(seen.distro or "")
    named = table.release_in(distribution, seen.revision) if distribution else None
    # The release: the one the revision names, else the only one shipping this version.
    candidates = [named] if named else _releases_shipping(seen, distribution, table)
    if len(candidates) == 1 and seen.revision:
        fix = table.fix(candidates[0], seen.product, cve)
        if fix is not None:
            return _against_fix(seen, fix)
    if candidates and not any(r.fixable_on(published) for r in candidates):
        return Status.CONFIRMED, "the banner names " + _unsupported(candidates, cve, published)
    if len(candidates) == 1 and _last_published(seen, candidates[0], published, table):
        return Status.CONFIRMED, _after_support(seen, candidates[0], cve, published)
    revision = f" (revision {seen.revision})" if seen.revision else ""
    return Status.POTENTIAL, (
        f"the banner names {seen.distro}'s package{revision}, and {seen.distro} backports "
        "security fixes without changing the version"
    )


def _last_published(
    seen: Seen, release: Release, published: date | None, table: DistroTable
) -> bool:
    """The distribution's support ended before the CVE, and the banner shows the last
    revision it published: whoever fixed the CVE later did so in a newer revision."""
    row = table.shipped_in(release, seen.product)
    if release.supported_on(published) or row is None or row.last is None or not seen.revision:
        return False
    return dpkg.compare(_installed(seen, row.last), row.last) <= 0


def _after_support(seen: Seen, release: Release, cve: str, published: date | None) -> str:
    return (
        f"{release.name} left its distribution's support on {release.supported_until}, "
        f"before {cve} was published ({published}), and the banner shows its last package "
        f"revision {seen.revision}: a later fix would carry a newer one"
    )


def _installed(seen: Seen, reference: str) -> str:
    """The package version the banner shows, with the epoch of the `reference` version (a
    banner shows no epoch; a package keeps its epoch within a release)."""
    epoch, _, _ = dpkg.split(reference)
    bare = f"{seen.version}-{seen.revision}"
    return f"{epoch}:{bare}" if epoch else bare


def _releases_shipping(seen: Seen, distribution: str | None, table: DistroTable) -> list[Release]:
    """The releases of the named distribution that ship the version (empty: none known)."""
    rows = table.carrying(seen.product, seen.version)
    return [r.release for r in rows if r.release.distribution == distribution]


def _against_fix(seen: Seen, fix: Fix) -> tuple[Status, str]:
    if fix.fixed is None:
        return Status.PATCHED, f"{fix.release.name}'s package was never affected ({fix.source})"
    installed = _installed(seen, fix.fixed)
    where = f"{fix.release.name} fixed {fix.cve} in {fix.package} {fix.fixed} ({fix.advisory})"
    if dpkg.compare(installed, fix.fixed) < 0:
        return Status.CONFIRMED, f"{where}; the banner shows the older {installed}"
    return Status.PATCHED, f"{where}; the banner shows {installed}"


def _unsupported(releases: list[Release], cve: str, published: date | None) -> str:
    ended = ", ".join(
        f"{r.name}, fixed by anyone until {r.extended_until or r.supported_until}" for r in releases
    )
    return f"{ended}, before {cve} was published ({published}): no fix was published for it"


def _names(releases: list[Release]) -> str:
    names = list(dict.fromkeys(r.name for r in releases))
    return names[0] if len(names) == 1 else ", ".join(names[:-1]) + " and " + names[-1]
