"""Version order: a total order, consistent with PEP 440 where PEP 440 applies, and with
the range predicates that matching uses."""

from __future__ import annotations

from datetime import date

import pytest
from hypothesis import given
from hypothesis import strategies as st
from packaging.version import Version

from utsyn.vuln.model import AffectedRange, Feed, Provenance
from utsyn.vuln.versions import compare, version_key

_PROVENANCE = Provenance(Feed.NVD, "test", date(2026, 1, 1))

numbers = st.lists(st.integers(min_value=0, max_value=30), min_size=1, max_size=4)
# PEP 440 forms, OpenSSH, Citrix builds, OpenSSL letters, semver and npm pre-releases,
# Ivanti releases, Tomcat milestones.
_SUFFIXES = ["", "a1", "b2", "rc1", ".post1", ".dev0", "p1", "p2", "-49.15", "-8.50", "k"]
suffixes = st.sampled_from([*_SUFFIXES, "-beta.2", "-canary.3", "r2.3", ".M1", "-rc.1.1"])
versions = st.builds(lambda n, s: ".".join(map(str, n)) + s, numbers, suffixes)
pep440 = st.builds(
    lambda n, pre, post, dev: ".".join(map(str, n)) + pre + post + dev,
    numbers,
    st.sampled_from(["", "a0", "a3", "b1", "rc2"]),
    st.sampled_from(["", ".post0", ".post4"]),
    st.sampled_from(["", ".dev0", ".dev2"]),
)


@given(versions, versions)
def test_compare_is_antisymmetric(a: str, b: str) -> None:
    assert compare(a, b) == -compare(b, a)
    assert (compare(a, b) == 0) == (version_key(a) == version_key(b))


@given(versions, versions, versions)
def test_compare_is_transitive(a: str, b: str, c: str) -> None:
    low, mid, high = sorted([a, b, c], key=version_key)
    assert compare(low, mid) <= 0 and compare(mid, high) <= 0
    assert compare(low, high) <= 0


@given(pep440, pep440)
def test_agrees_with_packaging_on_pep440(a: str, b: str) -> None:
    expected = (Version(a) > Version(b)) - (Version(a) < Version(b))
    assert compare(a, b) == expected


@given(versions, versions, versions, st.booleans(), st.booleans())
def test_range_predicate_is_the_order(
    a: str, b: str, probe: str, start_incl: bool, end_incl: bool
) -> None:
    start, end = sorted([a, b], key=version_key)
    affected = AffectedRange(
        product="x:y",
        provenance=_PROVENANCE,
        statement="property",
        start=start,
        start_inclusive=start_incl,
        end=end,
        end_inclusive=end_incl,
    )
    above = compare(probe, start) > 0 or (start_incl and compare(probe, start) == 0)
    below = compare(probe, end) < 0 or (end_incl and compare(probe, end) == 0)
    assert affected.contains(version_key(probe)) == (above and below)


@given(versions)
def test_exact_range_is_equality(probe: str) -> None:
    exact = AffectedRange(product="x:y", provenance=_PROVENANCE, statement="=", exact="1.18.0")
    assert exact.contains(version_key(probe)) == (compare(probe, "1.18.0") == 0)


@pytest.mark.parametrize(
    ("older", "newer"),
    [
        ("1.9.0b1", "1.9.0"),  # RetireJS jQuery bound: a beta before its release
        ("3.0.0-rc.1", "3.0.0"),
        ("7.4p1", "7.5p1"),  # OpenSSH portable releases
        ("7.4", "7.4p1"),
        ("13.1-49.13", "13.1-49.15"),  # Citrix builds (NVD CVE-2023-4966 bounds)
        ("13.1", "13.1-49.13"),
        ("13.1-49.15", "14.1"),
        ("1.0.2", "1.0.2k"),  # OpenSSL letter releases
        ("1.0.2k", "1.0.3"),
        ("1.0.2l", "1.0.2m"),
        ("15.0.0-canary.0", "15.0.0"),  # npm pre-releases (RetireJS Next.js ranges)
        ("10.1.0-M1", "10.1.0"),
        ("22.7r2.2", "22.7r2.3"),  # Ivanti releases
        ("2.4.9", "2.4.10"),
    ],
)
def test_known_orders(older: str, newer: str) -> None:
    assert compare(older, newer) == -1


def test_trailing_zeros_do_not_matter() -> None:
    assert compare("1.20", "1.20.0") == 0
    assert compare("2.4", "2.4.0") == 0
