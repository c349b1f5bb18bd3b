"""Text from outside (imported names, what scanned servers said): what may be stored, what is
shown.

Two lines of defence against text that drives a terminal or reorders what a reader sees
(ESC sequences, U+202E making "evil" look like "live"):
- where such text comes in as a name or a reason, `unsafe_character` finds what the store
  refuses (the store names the field and the problem);
- where any text from outside is shown — the terminal, web pages, the board summary PDF —
  `shown` removes those characters, so what was stored before, or came from a scan, cannot
  either.

The characters: C0 controls (ESC, NUL, CR, ...) but the line feed and tab, DEL, C1
controls, and the bidirectional embeddings, overrides and isolates (U+202A–U+202E,
U+2066–U+2069). The line feed and tab stay in shown text (evidence has lines); a name has
neither.
"""

from __future__ import annotations

import re

_BIDI = r"\u202a-\u202e\u2066-\u2069"
_NOT_SHOWN = re.compile(rf"[\x00-\x08\x0b-\x1f\x7f-\x9f{_BIDI}]")  # keeps tab and line feed
_NOT_IN_A_NAME = re.compile(rf"[\x00-\x1f\x7f-\x9f{_BIDI}]")
_NOT_IN_LINES = re.compile(rf"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f{_BIDI}]")  # + CR


def shown(text: str) -> str:
    """`text` without the characters that would drive a terminal or reorder what is read."""
    return _NOT_SHOWN.sub("", text) if _NOT_SHOWN.search(text) else text


def unsafe_character(text: str, *, lines: bool = False) -> str | None:
    """The first character a stored name (or, with `lines`, a text of several lines, where
    line feeds, carriage returns and tabs may be) must not hold, as `U+001B`; None if none."""
    found = (_NOT_IN_LINES if lines else _NOT_IN_A_NAME).search(text)
    return f"U+{ord(found.group()):04X}" if found else None
