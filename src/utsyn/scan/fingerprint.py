"""Web technology identification with the Wappalyzer fingerprints (MIT, v6.10.54).

`identify_web(headers, html, script_srcs, cookies)` applies the header, HTML, script-source,
cookie and meta patterns of `utsyn/data/wappalyzer/technologies.json` (a field subset of
Wappalyzer's last MIT release; see the README there) to one page, then Wappalyzer's
`implies`, `excludes`, `requires` and `requiresCategory` rules. Patterns that need a
browser (`js`, `dom`, `xhr`) are not in the data: this scanner does not run scripts.

Patterns carry Wappalyzer's tags: `regex\\;version:\\1\\;confidence:50`; a version template
may be a ternary (`\\1?found:missing`). The patterns are compiled once, at first use.

Python's `re` cannot be interrupted, and many of these patterns (`<link[^>]+...`) take
quadratic time on a hostile page: 10 kB of "<" cost 100 s when matched whole. So every
input is capped, the HTML is matched in overlapping windows of `WINDOW` characters (one
search is then at most about 0.3 s), a pattern only runs where its required literal
occurs, and matching stops once `TIME_BUDGET` is spent: a hostile page gets a partial
answer in bounded time instead of stalling a worker.
"""

from __future__ import annotations

import json
import re
import time
from dataclasses import dataclass, field
from functools import cache
from importlib.resources import files
from typing import Any

from utsyn.scan.products import cpe_escape

# Input caps: a home page's head and first screens hold what the patterns look for.
HTML_LIMIT = 262_144
WINDOW = 2048
WINDOW_OVERLAP = 512  # a match shorter than this is never cut in two
HEADER_LIMIT = 2048
MAX_HEADERS = 100
MAX_SCRIPTS = 128
SCRIPT_SRC_LIMIT = 1024
MAX_COOKIES = 64
COOKIE_LIMIT = 2048
MAX_METAS = 256
TIME_BUDGET = 1.5  # seconds of pattern matching per page
_MAX_IMPLIED_DEPTH = 8

# Where Wappalyzer's CPE names disagree with the ones NVD uses today.
_CPE_FIXES = {
    "cpe:2.3:a:microsoft:internet_information_server:": (
        "cpe:2.3:a:microsoft:internet_information_services:"
    ),
    "cpe:2.3:a:nginx:nginx:": "cpe:2.3:a:f5:nginx:",
}

_META_TAG = re.compile(r"<meta\s[^<>]{0,2048}>", re.I)
_META_ATTR = re.compile(r"""([\w:.-]+)\s*=\s*(?:"([^"]*)"|'([^']*)'|([^\s"'>]+))""")


@dataclass(frozen=True, slots=True)
class Pattern:
    regex: re.Pattern[str]
    version: str | None
    confidence: int
    literal: str | None  # lower-case text every match contains, when one is known


@dataclass(frozen=True)
class Technology:
    name: str
    categories: tuple[str, ...]
    category_ids: frozenset[int]
    cpe: str | None
    headers: dict[str, tuple[Pattern, ...]] = field(default_factory=dict)
    cookies: dict[str, tuple[Pattern, ...]] = field(default_factory=dict)
    meta: dict[str, tuple[Pattern, ...]] = field(default_factory=dict)
    html: tuple[Pattern, ...] = ()
    script_src: tuple[Pattern, ...] = ()
    implies: tuple[str, ...] = ()
    excludes: tuple[str, ...] = ()
    requires: tuple[str, ...] = ()
    requires_category: frozenset[int] = frozenset()


@dataclass
class Detection:
    confidence: int = 0
    versions: list[str] = field(default_factory=list)

    def add(self, confidence: int, version: str | None) -> None:
        self.confidence = min(100, self.confidence + confidence)
        if version:
            self.versions.append(version)


# ---------------------------------------------------------------- loading


def _strings(value: Any) -> list[str]:
    if value is None:
        return []
    if isinstance(value, str | int):
        return [str(value)]
    return [str(v) for v in value]


def parse_pattern(text: str) -> Pattern:
    """`regex\\;version:\\1\\;confidence:50` → a compiled Pattern (case-insensitive)."""
    regex, version, confidence = split_tags(text)
    return Pattern(re.compile(regex, re.I), version, confidence, required_literal(regex))


_QUANTIFIERS = frozenset("*+?{")


def required_literal(regex: str) -> str | None:
    """The longest plain text (3+ ASCII characters) any match of `regex` must contain.

    Conservative: only text outside groups and classes counts, a character followed by
    a quantifier does not, and a top-level alternation means there is no such text.
    """
    runs: list[str] = []
    current = ""
    depth = 0
    i = 0
    while i < len(regex):
        char, step, literal = regex[i], 1, None
        if char == "\\":
            following = regex[i + 1 : i + 2]
            literal = following if following and not following.isalnum() else None
            step = 2
        elif char == "[":
            step = _class_end(regex, i) - i
        elif char in "()":
            depth += 1 if char == "(" else -1
        elif char == "|" and depth == 0:
            return None
        elif char == "{":
            step = max(regex.find("}", i), i) - i + 1
        elif char not in ".^$|*+?" and depth == 0:
            literal = char
        i += step
        if literal is not None and depth == 0 and regex[i : i + 1] not in _QUANTIFIERS:
            current += literal
        else:
            runs.append(current)
            current = ""
    best = max([*runs, current], key=len).lower()
    return best if len(best) >= 3 and best.isascii() else None


def _class_end(regex: str, start: int) -> int:
    """The index just past the `]` that closes the class opened at `start`."""
    i = start + 1
    if regex[i : i + 1] == "^":
        i += 1
    if regex[i : i + 1] == "]":
        i += 1
    while i < len(regex) and regex[i] != "]":
        i += 2 if regex[i] == "\\" else 1
    return i + 1


def split_tags(text: str) -> tuple[str, str | None, int]:
    """`value\\;version:…\\;confidence:…` → (value, version template, confidence)."""
    value, *tags = text.split("\\;")
    version: str | None = None
    confidence = 100
    for tag in tags:
        key, _, setting = tag.partition(":")
        if key == "version":
            version = setting
        elif key == "confidence" and setting.isdigit():
            confidence = int(setting)
    return value, version, confidence


def _patterns(value: Any) -> tuple[Pattern, ...]:
    return tuple(parse_pattern(p) for p in _strings(value))


def _keyed(value: Any) -> dict[str, tuple[Pattern, ...]]:
    if not isinstance(value, dict):
        return {}
    return {str(k).lower(): _patterns(v) for k, v in value.items()}


def _technology(name: str, spec: dict[str, Any], categories: dict[str, str]) -> Technology:
    ids = frozenset(int(c) for c in spec.get("cats", []))
    return Technology(
        name=name,
        categories=tuple(categories.get(str(c), str(c)) for c in sorted(ids)),
        category_ids=ids,
        cpe=spec.get("cpe"),
        headers=_keyed(spec.get("headers")),
        cookies=_keyed(spec.get("cookies")),
        meta=_keyed(spec.get("meta")),
        html=_patterns(spec.get("html")),
        script_src=_patterns(spec.get("scriptSrc")),
        implies=tuple(_strings(spec.get("implies"))),
        excludes=tuple(_strings(spec.get("excludes"))),
        requires=tuple(_strings(spec.get("requires"))),
        requires_category=frozenset(int(c) for c in _strings(spec.get("requiresCategory"))),
    )


@cache
def technologies() -> dict[str, Technology]:
    """Every fingerprint, compiled once per process (about 3,900 patterns)."""
    path = files("utsyn.data").joinpath("wappalyzer", "technologies.json")
    data = json.loads(path.read_text(encoding="utf-8"))
    categories: dict[str, str] = data["categories"]
    return {n: _technology(n, s, categories) for n, s in data["technologies"].items()}


# ---------------------------------------------------------------- matching


def resolve_version(template: str | None, match: re.Match[str]) -> str | None:
    """Fill a version template (`\\1`, or the ternary `\\1?yes:no`) from a match."""
    if not template:
        return None

    def group(index: str) -> str:
        number = int(index)
        if number > (match.re.groups or 0):
            return ""
        return match.group(number) or ""

    ternary = re.fullmatch(r"\\(\d)\?([^:]*):(.*)", template)
    if ternary:
        template = ternary[2] if group(ternary[1]) else ternary[3]
    version = re.sub(r"\\(\d)", lambda m: group(m[1]), template).strip()
    return version[:64] or None


class Budget:
    """A deadline for one page's matching, checked before every search."""

    def __init__(self, seconds: float) -> None:
        self.deadline = time.monotonic() + seconds
        self.exhausted = False

    def spent(self) -> bool:
        if not self.exhausted and time.monotonic() > self.deadline:
            self.exhausted = True
        return self.exhausted


# A value to match, with its lower-case form for the literal prefilter (made once).
Text = tuple[str, str]


def _texts(values: list[str]) -> list[Text]:
    return [(v, v.lower()) for v in values]


def _scan(
    patterns: tuple[Pattern, ...],
    values: list[Text],
    hit: Detection | None,
    budget: Budget,
    whole: str | None = None,
) -> Detection | None:
    """Match `patterns` against `values`; `whole` (all values, lower case) lets a pattern
    whose literal is absent skip every window at once."""
    for pattern in patterns:
        if budget.spent():
            return hit
        if whole is not None and pattern.literal is not None and pattern.literal not in whole:
            continue
        for value, lowered in values:
            if pattern.literal is not None and pattern.literal not in lowered:
                continue
            if budget.spent():
                return hit
            match = pattern.regex.search(value)
            if match is not None:
                hit = hit or Detection()
                hit.add(pattern.confidence, resolve_version(pattern.version, match))
                break  # one match per pattern is evidence enough
    return hit


def _scan_keyed(
    patterns: dict[str, tuple[Pattern, ...]],
    values: dict[str, list[Text]],
    hit: Detection | None,
    budget: Budget,
) -> Detection | None:
    for key, key_patterns in patterns.items():
        found = _values_for(key, values)
        if found:
            hit = _scan(key_patterns, found, hit, budget)
    return hit


def _values_for(key: str, values: dict[str, list[Text]]) -> list[Text]:
    if key.endswith("*"):  # a cookie-name prefix such as "_ga_*"
        prefix = key[:-1]
        return [v for name, vs in values.items() if name.startswith(prefix) for v in vs]
    return values.get(key, [])


@dataclass(frozen=True)
class Page:
    """One page's evidence, already cut to size and keyed in lower case."""

    headers: dict[str, list[Text]]
    html: list[Text]
    html_lower: str
    scripts: list[Text]
    scripts_lower: str
    cookies: dict[str, list[Text]]
    meta: dict[str, list[Text]]


def _page(headers: dict[str, str], html: str, scripts: list[str], cookies: list[str]) -> Page:
    head = {k.lower()[:128]: [v[:HEADER_LIMIT]] for k, v in list(headers.items())[:MAX_HEADERS]}
    body = html[:HTML_LIMIT]
    sources = [s[:SCRIPT_SRC_LIMIT] for s in scripts[:MAX_SCRIPTS]]
    return Page(
        headers={k: _texts(v) for k, v in head.items()},
        html=_texts(windows(body)),
        html_lower=body.lower(),
        scripts=_texts(sources),
        scripts_lower="\n".join(sources).lower(),
        cookies={k: _texts(v) for k, v in _cookie_values(cookies).items()},
        meta={k: _texts(v) for k, v in _meta_values(body).items()},
    )


def windows(text: str) -> list[str]:
    """`text` in overlapping slices of `WINDOW` characters (one slice when it is short)."""
    step = WINDOW - WINDOW_OVERLAP
    last = max(len(text) - WINDOW_OVERLAP, 1)
    return [text[start : start + WINDOW] for start in range(0, last, step)] if text else []


def _cookie_values(cookies: list[str]) -> dict[str, list[str]]:
    """Cookie name → values, from `name=value; attributes` strings or bare names."""
    jar: dict[str, list[str]] = {}
    for cookie in cookies[:MAX_COOKIES]:
        pair = cookie[:COOKIE_LIMIT].split(";", 1)[0]
        name, _, value = pair.partition("=")
        jar.setdefault(name.strip().lower(), []).append(value.strip())
    return jar


def _meta_values(html: str) -> dict[str, list[str]]:
    metas: dict[str, list[str]] = {}
    for tag in _META_TAG.findall(html)[:MAX_METAS]:
        attrs = {m[1].lower(): m[2] or m[3] or m[4] for m in _META_ATTR.finditer(tag)}
        key = attrs.get("name") or attrs.get("property") or attrs.get("http-equiv")
        if key and "content" in attrs:
            metas.setdefault(key.lower(), []).append(attrs["content"])
    return metas


def _detect(tech: Technology, page: Page, budget: Budget) -> Detection | None:
    hit = _scan_keyed(tech.headers, page.headers, None, budget)
    hit = _scan_keyed(tech.cookies, page.cookies, hit, budget)
    hit = _scan_keyed(tech.meta, page.meta, hit, budget)
    hit = _scan(tech.script_src, page.scripts, hit, budget, page.scripts_lower)
    return _scan(tech.html, page.html, hit, budget, page.html_lower)


# ---------------------------------------------------------------- rules between technologies


def _add_implied(found: dict[str, Detection], known: dict[str, Technology]) -> None:
    """Wappalyzer's `implies` (`PHP\\;confidence:75`), followed a few levels deep."""
    pending = list(found)
    for _ in range(_MAX_IMPLIED_DEPTH):
        implied: list[str] = []
        for name in pending:
            for spec in known[name].implies:
                target, version, confidence = split_tags(spec)
                if target in known and target not in found:
                    found[target] = Detection()
                    found[target].add(min(confidence, found[name].confidence), version)
                    implied.append(target)
        if not implied:
            return
        pending = implied


def _apply_constraints(found: dict[str, Detection], known: dict[str, Technology]) -> None:
    for name in list(found):
        if name in found:  # not excluded by an earlier one
            for excluded in known[name].excludes:
                found.pop(excluded, None)
    categories = {c for n in found for c in known[n].category_ids}
    for name in list(found):
        tech = known[name]
        missing = [r for r in tech.requires if r not in found]
        if missing or (tech.requires_category and not tech.requires_category & categories):
            del found[name]


# ---------------------------------------------------------------- the API


def _cpe(tech: Technology, version: str | None) -> str | None:
    if not tech.cpe:
        return None
    cpe = tech.cpe
    for wrong, right in _CPE_FIXES.items():
        if cpe.startswith(wrong):
            cpe = right + cpe[len(wrong) :]
    if not version:
        return cpe
    fields = cpe.split(":")
    if len(fields) == 13:
        fields[5] = cpe_escape(version)
    return ":".join(fields)


def _best_version(versions: list[str]) -> str | None:
    # Several patterns may each give a version: the most specific (longest) wins.
    return max(versions, key=len) if versions else None


def identify_web(
    headers: dict[str, str], html: str, script_srcs: list[str], cookies: list[str]
) -> list[dict[str, object]]:
    """Technologies a page reveals: name, version, categories, cpe, confidence.

    `cookies` holds `Set-Cookie` values or `name=value` pairs (bare names work too).
    Sorted by confidence, then name.
    """
    known = technologies()
    page = _page(headers, html, script_srcs, cookies)
    budget = Budget(TIME_BUDGET)
    found: dict[str, Detection] = {}
    for name, tech in known.items():
        hit = _detect(tech, page, budget)
        if hit is not None:
            found[name] = hit
    _add_implied(found, known)
    _apply_constraints(found, known)
    results: list[dict[str, object]] = []
    for name, hit in found.items():
        version = _best_version(hit.versions)
        results.append(
            {
                "name": name,
                "version": version,
                "categories": list(known[name].categories),
                "cpe": _cpe(known[name], version),
                "confidence": hit.confidence,
            }
        )
    return sorted(results, key=lambda r: (-int(str(r["confidence"])), str(r["name"])))
