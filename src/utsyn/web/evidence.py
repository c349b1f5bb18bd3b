"""A finding's evidence as readable facts, for the dashboard (`templates/_evidence.html`).

Evidence is text: either what a server said (a banner, a record, an answer) or
`<check> = <value>` where a rule read an observation's value (`rules.outcomes.view.hit`
writes the value as JSON; findings stored before it did hold a Python literal, read here with
`ast.literal_eval`, which evaluates literals and nothing else). Read back, a header becomes a
header line, cookies a table, a mapping key/value facts and a list a list. Words that are
mostly bytes (a binary protocol's greeting: SMB, RDP, LDAP, a database) become a hex dump,
since there the bytes are the point; anything else is shown as its lines. Nothing here marks
text safe: the template escapes every value.
"""

from __future__ import annotations

import ast
import json
import re
from dataclasses import dataclass
from typing import Literal

Fact = str | int | float | bool | None
Kind = Literal["text", "facts", "list", "headers", "cookies", "hex"]

_ASSIGNMENT = re.compile(r"(?P<check>[a-z][a-z0-9_.\-]*) = (?P<value>.*)", re.DOTALL)
# `scan.model.excerpt` writes control characters as \xNN and bytes that were not UTF-8 as
# U+FFFD: the units that tell bytes from words.
_UNIT = re.compile(r"\\x([0-9a-f]{2})|(\ufffd)|(.)", re.DOTALL)
_BREAK = re.compile(r"(?:\\x[0-9a-f]{2}|\ufffd|\r?\n)+")
BINARY_SHARE = 0.15  # this share of escaped or unreadable units, or more: bytes
HEX_WIDTH = 16


@dataclass(frozen=True)
class Cookie:
    name: str
    secure: bool | None
    httponly: bool | None
    samesite: str | None


@dataclass(frozen=True)
class HexLine:
    offset: int
    cells: tuple[str, ...]  # two hex digits, or "??" for a byte the scan could not keep
    text: str  # the printable ASCII of the line, "." for the rest


@dataclass(frozen=True)
class Evidence:
    kind: Kind
    check: str = ""  # the check the value was read from, when the evidence names one
    lines: tuple[str, ...] = ()  # text and list
    facts: tuple[tuple[str, Fact], ...] = ()  # facts, and headers (None: not sent)
    cookies: tuple[Cookie, ...] = ()
    dump: tuple[HexLine, ...] = ()


def readable(evidence: str) -> Evidence:
    """The evidence as the page shows it."""
    assigned = _ASSIGNMENT.fullmatch(evidence)
    if assigned is not None:
        found, value = _value(assigned.group("value"))
        if found:
            return _of_value(assigned.group("check"), value)
    if _binary(evidence):
        return Evidence("hex", dump=hex_dump(evidence))
    return Evidence("text", lines=_lines(evidence))


def _value(text: str) -> tuple[bool, object]:
    try:
        return True, json.loads(text)
    except ValueError:
        pass
    try:  # stored before the evidence was JSON
        return True, ast.literal_eval(text)
    except (ValueError, TypeError, SyntaxError, MemoryError, RecursionError):
        return False, None


def _of_value(check: str, value: object) -> Evidence:
    if check.startswith("http.header.") and (value is None or isinstance(value, str)):
        return Evidence("headers", check, facts=((check.removeprefix("http.header."), value),))
    if check == "http.cookies" and isinstance(value, list | tuple):
        cookies = tuple(_cookie(c) for c in value if isinstance(c, dict))
        return Evidence("cookies", check, cookies=cookies)
    if isinstance(value, dict):
        return Evidence("facts", check, facts=tuple((str(k), _fact(v)) for k, v in value.items()))
    if isinstance(value, list | tuple | set | frozenset):
        return Evidence("list", check, lines=tuple(str(_fact(v)) for v in value))
    if isinstance(value, bytes):
        units: list[int | None] = list(value)
        return Evidence("hex", check, dump=_dump(units))
    return Evidence("facts", check, facts=((check, _fact(value)),))


def _cookie(data: dict[object, object]) -> Cookie:
    def flag(key: str) -> bool | None:
        value = data.get(key)
        return value if isinstance(value, bool) else None

    samesite = data.get("samesite")
    return Cookie(str(data.get("name", "")), flag("secure"), flag("httponly"),
                  str(samesite) if samesite is not None else None)  # fmt: skip


def _fact(value: object) -> Fact:
    if value is None or isinstance(value, str | int | float | bool):
        return value
    if isinstance(value, bytes):
        return value.hex(" ")
    return json.dumps(value, ensure_ascii=False, default=str)


def _units(text: str) -> list[int | None]:
    """The bytes behind an excerpt: an escape is its character, U+FFFD a byte not kept
    (None), any other character its UTF-8 encoding."""
    units: list[int | None] = []
    for escaped, lost, char in _UNIT.findall(text):
        if lost:
            units.append(None)
        else:
            units += (chr(int(escaped, 16)) if escaped else char).encode("utf-8")
    return units


def _binary(text: str) -> bool:
    odd = sum(1 for escaped, lost, _ in _UNIT.findall(text) if escaped or lost)
    return bool(text) and odd / len(_UNIT.findall(text)) >= BINARY_SHARE


def hex_dump(text: str) -> tuple[HexLine, ...]:
    """An excerpt's bytes, sixteen to a line, with their printable ASCII beside them."""
    return _dump(_units(text))


def _dump(units: list[int | None]) -> tuple[HexLine, ...]:
    lines = []
    for offset in range(0, len(units), HEX_WIDTH):
        row = units[offset : offset + HEX_WIDTH]
        cells = tuple("??" if b is None else f"{b:02x}" for b in row)
        text = "".join(chr(b) if b is not None and 0x20 <= b < 0x7F else "." for b in row)
        lines.append(HexLine(offset, cells, text))
    return tuple(lines)


def _lines(text: str) -> tuple[str, ...]:
    """The text's lines. Control characters and lost bytes between words (a protocol's
    field separators) break lines too; one line of ` | `-separated parts (a dialogue, a
    list) is split at them."""
    lines = [line.strip() for line in _BREAK.split(text)]
    lines = [line for line in lines if line] or [""]
    if len(lines) == 1 and " | " in lines[0]:
        lines = [part.strip() for part in lines[0].split(" | ")]
    return tuple(lines)
