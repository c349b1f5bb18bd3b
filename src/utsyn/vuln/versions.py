"""Version comparison: one total order for every version string the feeds and banners use.

PEP 440 strings (`1.12.4`, `1.9.0b1`, `3.0.0-rc.1`) are parsed by `packaging.version`, the
field-made parser, so its normalisation of pre-, post- and dev-releases applies. Strings it
rejects or would misread fall back to a tokenizer: OpenSSH `7.4p1`, Citrix builds
`13.1-49.15` (packaging would take `-49` for a post-release), Ivanti `22.7r2.3`, OpenSSL
`1.0.2k`. Both paths produce the same kind of key, so mixed comparisons (a Citrix range
bound `13.1` against a build `13.1-49.13`) stay a total order.

The key is a tuple of items `(rank, number, text)` ending in one END item. Ranks order
what can follow a common prefix: a pre-release tag (`1.0b1 < 1.0`), the end (`1.0`), a
post-release or letter suffix (`1.0 < 1.0.post1`, `1.0.2 < 1.0.2k`), a number
(`1.0.2k < 1.0.2.1`, as in PEP 440 where `1.0.post1 < 1.0.1`). Trailing zero numbers before
the end or a tag are dropped, so `1.0 == 1.0.0` and `1.0.0rc1 == 1rc1` as in PEP 440.
A single END item suffices for padding because END never occurs inside a key.
"""

from __future__ import annotations

import re
from functools import lru_cache

from packaging.version import InvalidVersion, Version

Item = tuple[int, int, str]
VersionKey = tuple[Item, ...]

PRE, END, POST, NUM = 0, 1, 2, 3
_END: Item = (END, 0, "")

# Pre-release words, earliest first. Tomcat's milestones (`10.1.0-M1` in NVD as
# `milestone1`) come before its releases; `c` is PEP 440's spelling of `rc`; npm packages
# publish `-canary.N`, `-next.N` and `-nightly` builds before a release (RetireJS ranges
# for Next.js and Angular use them).
_PRE_TAGS = {
    "dev": 0,
    "snapshot": 0,
    "nightly": 0,
    "canary": 0,
    "next": 0,
    "alpha": 1,
    "a": 1,
    "beta": 2,
    "b": 2,
    "milestone": 3,
    "rc": 4,
    "c": 4,
    "cr": 4,
    "pre": 4,
    "preview": 4,
}
# PEP 440 spells these post-releases; the fallback folds them the same way.
_POST_WORDS = {"post", "rev", "r"}
_TOKEN = re.compile(r"(?P<sep>[^a-z0-9]?)(?P<token>\d+|[a-z]+)")
# `-<digit>` is a build number to Citrix and Debian, an implicit post-release to PEP 440;
# a local part (`+deb9u7`) is not ordered the same way by both. Such strings take the
# fallback so that one spelling never changes its meaning with its neighbours.
_NOT_FOR_PEP440 = re.compile(r"-\d|\+")


def _tag(word: str) -> Item:
    if word in _PRE_TAGS:
        return (PRE, _PRE_TAGS[word], "")
    return (POST, 0, "post" if word in _POST_WORDS else word)


def _normalise(items: list[Item]) -> VersionKey:
    """Drop zero numbers that end a numeric run (before a tag or the end); add END."""
    out: list[Item] = []
    for item in [*items, _END]:
        if item[0] != NUM:
            while len(out) > 1 and out[-1] == (NUM, 0, ""):
                out.pop()
        out.append(item)
    return tuple(out)


def _from_pep440(version: Version) -> VersionKey:
    items: list[Item] = [(NUM, version.epoch, "")]
    items += [(NUM, n, "") for n in version.release]
    if version.pre is not None:
        items += [_tag(version.pre[0]), (NUM, version.pre[1], "")]
    if version.post is not None:
        items += [_tag("post"), (NUM, version.post, "")]
    if version.dev is not None:
        items += [_tag("dev"), (NUM, version.dev, "")]
    return _normalise(items)


def _from_tokens(text: str) -> VersionKey:
    items: list[Item] = [(NUM, 0, "")]  # epoch 0, as PEP 440 versions without one
    for found in _TOKEN.finditer(text.lower()):
        token = found.group("token")
        if token.isdigit():
            items.append((NUM, int(token), ""))
        elif token == "m" and found.group("sep"):
            # Tomcat's `10.1.0-M1` is a milestone; OpenSSL's `1.0.2m` (no separator) a release.
            items.append(_tag("milestone"))
        else:
            items.append(_tag(token))
    return _normalise(items)


@lru_cache(maxsize=65536)
def version_key(text: str) -> VersionKey:
    """The sort key of a version string; equal keys mean equal versions."""
    cleaned = text.strip()
    if not _NOT_FOR_PEP440.search(cleaned):
        try:
            return _from_pep440(Version(cleaned))
        except InvalidVersion:
            pass
    return _from_tokens(cleaned)


def compare(left: str, right: str) -> int:
    """-1, 0 or 1 as `left` is older than, the same as, or newer than `right`."""
    a, b = version_key(left), version_key(right)
    return (a > b) - (a < b)


_BRANCH = re.compile(r"(\d+)\.(\d+)")


def branch_of(text: str) -> tuple[int, int] | None:
    """The `major.minor` branch a version belongs to (`1.20.1` is in 1.20), if it has one."""
    found = _BRANCH.match(text.strip())
    return (int(found.group(1)), int(found.group(2))) if found else None
