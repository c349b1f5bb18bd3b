"""Does the evidence exclude a distribution's backported fix? The judgement that decides
whether a version match is confirmed, potential, or no match at all.

A version in an affected range is proof only when no distribution package could be behind
it. With the distribution table (`vuln.distros`):

- A banner that names a distribution package and its revision
  (`OpenSSH_9.2p1 Debian-2+deb12u1`) is compared with the revision that fixed the CVE in
  that release: older is confirmed, the same or newer is patched (no match at all).
- A banner that names the distribution's release (by its revision, or because only one of
  its releases ships that version) is confirmed when the release had left support before
  the CVE was published: nobody published a fix for it.
- A banner without a distribution hint is confirmed when no release in the table that was
  still supported when the CVE was published ships that upstream version (`nginx/1.19.0`,
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
    live = [r.release for r in rows if r.release.supported_on(published)]
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
    if candidates and not any(r.supported_on(published) for r in candidates):
        return Status.CONFIRMED, "the banner names " + _unsupported(candidates, cve, published)
    revision = f" (revision {seen.revision})" if seen.revision else ""
    return Status.POTENTIAL, (
        f"the banner names {seen.distro}'s package{revision}, and {seen.distro} backports "
        "security fixes without changing the version"
    )


def _releases_shipping(seen: Seen, distribution: str | None, table: DistroTable) -> list[Release]:
    """The releases of the named distribution that ship the version (empty: none known)."""
    rows = table.carrying(seen.product, seen.version)
    return [r.release for r in rows if r.release.distribution == distribution]


def _against_fix(seen: Seen, fix: Fix) -> tuple[Status, str]:
    if fix.fixed is None:
        return Status.PATCHED, f"{fix.release.name}'s package was never affected ({fix.source})"
    epoch, _, _ = dpkg.split(fix.fixed)
    installed = (
        f"{epoch}:{seen.version}-{seen.revision}" if epoch else (f"{seen.version}-{seen.revision}")
    )
    where = f"{fix.release.name} fixed {fix.cve} in {fix.package} {fix.fixed} ({fix.advisory})"
    if dpkg.compare(installed, fix.fixed) < 0:
        return Status.CONFIRMED, f"{where}; the banner shows the older {installed}"
    return Status.PATCHED, f"{where}; the banner shows {installed}"


def _unsupported(releases: list[Release], cve: str, published: date | None) -> str:
    ended = ", ".join(f"{r.name}, supported until {r.supported_until}" for r in releases)
    return f"{ended}, before {cve} was published ({published}): no fix was published for it"


def _names(releases: list[Release]) -> str:
    names = list(dict.fromkeys(r.name for r in releases))
    return names[0] if len(names) == 1 else ", ".join(names[:-1]) + " and " + names[-1]
