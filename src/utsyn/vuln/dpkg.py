"""Debian package versions (`[epoch:]upstream[-revision]`), ordered as dpkg orders them.

Debian and Ubuntu fix a flaw by a new revision of the same upstream version
(`1:9.2p1-2+deb12u3` fixes what `1:9.2p1-2+deb12u1` lacks), so the only way to tell a
patched package from an unpatched one is dpkg's comparison, Debian Policy section 5.6.12:
the epoch numerically, then the upstream version and the revision, each compared as
alternating runs of non-digits (`~` sorts before everything, even the end; letters before
other characters) and numbers. Written out here because the one maintained library for it
(python-debian) is GPL-licensed and Utsyn is Apache-2.0.
"""

from __future__ import annotations

import re
from functools import cmp_to_key

_RUN = re.compile(r"(\D*)(\d*)")


def _order(char: str) -> int:
    if char == "~":
        return -1
    if char.isalpha():
        return ord(char)
    return ord(char) + 256


def _compare_text(a: str, b: str) -> int:
    for i in range(max(len(a), len(b))):
        left = _order(a[i]) if i < len(a) else 0
        right = _order(b[i]) if i < len(b) else 0
        if left != right:
            return -1 if left < right else 1
    return 0


def _compare_part(a: str, b: str) -> int:
    """One upstream version or revision against another."""
    runs_a, runs_b = _RUN.findall(a), _RUN.findall(b)
    for i in range(max(len(runs_a), len(runs_b))):
        text_a, num_a = runs_a[i] if i < len(runs_a) else ("", "")
        text_b, num_b = runs_b[i] if i < len(runs_b) else ("", "")
        found = _compare_text(text_a, text_b)
        if found:
            return found
        number_a, number_b = int(num_a or 0), int(num_b or 0)
        if number_a != number_b:
            return -1 if number_a < number_b else 1
    return 0


def split(version: str) -> tuple[int, str, str]:
    """`1:9.2p1-2+deb12u3` → (1, "9.2p1", "2+deb12u3"); a missing revision is ""."""
    text = version.strip()
    epoch, colon, rest = text.partition(":")  # the epoch ends at the first colon
    if not colon:
        epoch, rest = "0", text
    upstream, dash, revision = rest.rpartition("-")  # the revision starts at the last hyphen
    if not dash:
        upstream, revision = rest, ""
    return int(epoch or 0), upstream, revision


def compare(a: str, b: str) -> int:
    """-1, 0 or 1 as package version `a` is older than, equal to, or newer than `b`."""
    epoch_a, upstream_a, revision_a = split(a)
    epoch_b, upstream_b, revision_b = split(b)
    if epoch_a != epoch_b:
        return -1 if epoch_a < epoch_b else 1
    return _compare_part(upstream_a, upstream_b) or _compare_part(revision_a, revision_b)


sort_key = cmp_to_key(compare)
