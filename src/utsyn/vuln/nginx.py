"""nginx security advisories (nginx.org `xml/en/security_advisories.xml`, BSD-2-Clause).

Each `<item>` gives `vulnerable` ranges (`0.6.18-1.20.0`, several joined by commas, `all`,
or prefixed `nginx/Windows` for Windows-only issues) and `good` versions (`1.21.0+, 1.20.1+`
or `none`). As nginx.org/en/security_advisories.html reads them: a version is vulnerable
when it lies in a vulnerable range and not in a good branch. `1.20.1+` means 1.20.1 and later
*within the 1.20 branch* (1.20.x is the stable branch that got the fix); the highest good
entry is the mainline fix, and everything from it up is good.

The loader turns that into plain intervals: the vulnerable ranges minus each good branch.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date
from pathlib import Path

from utsyn.vuln.model import AffectedRange, Feed, FeedError, Provenance, Vulnerability
from utsyn.vuln.versions import branch_of, version_key

PRODUCT = "f5:nginx"
_WINDOWS_PREFIX = "nginx/windows"
WINDOWS_PLATFORM = "cpe:2.3:o:microsoft:windows:*:*:*:*:*:*:*:*"


@dataclass(frozen=True, slots=True)
class _Interval:
    start: str | None  # None: from the first release
    start_inclusive: bool
    end: str | None  # None: no upper bound
    end_inclusive: bool


def load_nginx_advisories(path: Path, file_date: date) -> list[Vulnerability]:
    try:
        root = ET.parse(path).getroot()
    except (OSError, ET.ParseError) as exc:
        raise FeedError(
            "cannot read nginx advisories %(path)s: %(reason)s", path=path, reason=exc
        ) from exc
    provenance = Provenance(Feed.NGINX, path.name, file_date)
    return [_item(item, provenance) for item in root.iter("item")]


def _item(item: ET.Element, provenance: Provenance) -> Vulnerability:
    attrs = item.attrib
    vulnerable, good = attrs.get("vulnerable", ""), attrs.get("good", "none")
    statement = f'vulnerable="{vulnerable}" good="{good}"'
    references = [attrs[k] for k in ("advisory", "href") if k in attrs]
    return Vulnerability(
        id=_identifier(attrs),
        provenance=provenance,
        summary=attrs.get("name", ""),
        references=tuple(references),
        affected=tuple(_ranges(vulnerable, good, statement, provenance)),
        severity=attrs.get("severity"),
    )


def _identifier(attrs: dict[str, str]) -> str:
    """`cve="2021-23017"` is written without its prefix; one 2010 item has only a CORE id."""
    if "cve" in attrs:
        return f"CVE-{attrs['cve']}"
    return attrs.get("core") or attrs.get("cert") or f"nginx:{attrs.get('name', '')}"


def _ranges(
    vulnerable: str, good: str, statement: str, provenance: Provenance
) -> Iterator[AffectedRange]:
    platforms = (WINDOWS_PLATFORM,) if vulnerable.lower().startswith(_WINDOWS_PREFIX) else ()
    spec = vulnerable[len(_WINDOWS_PREFIX) :] if platforms else vulnerable
    pieces = [_vulnerable_interval(part) for part in spec.split(",") if part.strip()]
    for floor, ceiling in _good_branches(good):
        pieces = [p for piece in pieces for p in _subtract(piece, floor, ceiling)]
    for piece in pieces:
        yield AffectedRange(
            product=PRODUCT,
            provenance=provenance,
            statement=statement,
            start=piece.start,
            start_inclusive=piece.start_inclusive,
            end=piece.end,
            end_inclusive=piece.end_inclusive,
            platforms=platforms,
        )


def _vulnerable_interval(part: str) -> _Interval:
    text = part.strip()
    if text == "all":
        return _Interval(None, True, None, True)
    low, _, high = text.partition("-")
    return _Interval(low.strip(), True, (high or low).strip(), True)


def _good_branches(good: str) -> list[tuple[str, str | None]]:
    """`1.21.0+, 1.20.1+` → [(1.21.0, None), (1.20.1, 1.21)]: each good set as [floor, ceiling)."""
    floors = [g.strip().rstrip("+") for g in good.split(",") if g.strip() not in ("", "none")]
    floors.sort(key=version_key, reverse=True)
    out: list[tuple[str, str | None]] = []
    for index, floor in enumerate(floors):
        branch = branch_of(floor)
        if index == 0 or branch is None:
            out.append((floor, None))
        else:
            out.append((floor, f"{branch[0]}.{branch[1] + 1}"))
    return out


def _subtract(piece: _Interval, floor: str, ceiling: str | None) -> list[_Interval]:
    """`piece` minus the half-open interval [floor, ceiling); ceiling None is unbounded."""
    out: list[_Interval] = []
    below_floor = piece.start is None or version_key(piece.start) < version_key(floor)
    if below_floor:
        ends_before = piece.end is not None and version_key(piece.end) < version_key(floor)
        end, end_incl = (piece.end, piece.end_inclusive) if ends_before else (floor, False)
        out.append(_Interval(piece.start, piece.start_inclusive, end, end_incl))
    if ceiling is not None and (
        piece.end is None or version_key(piece.end) >= version_key(ceiling)
    ):
        if piece.start is None or version_key(piece.start) < version_key(ceiling):
            out.append(_Interval(ceiling, True, piece.end, piece.end_inclusive))
        else:
            out.append(piece)
    return out
