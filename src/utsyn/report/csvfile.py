"""The one CSV writer of every export: RFC 4180 lines in which no cell is a formula.

A spreadsheet runs a cell that begins with `=`, `+`, `-` or `@` (and some, after a tab or a
carriage return) as a formula: `=HYPERLINK(...)` in an organisation's name, a sector or a
banner would become a link or a command on the reader's machine. Following OWASP's advice
("CSV Injection"), every such cell — whichever column, whoever wrote the text — is prefixed
with a single quote, which spreadsheets show as text and do not evaluate.

A cell that is a plain decimal number (`-3`, `+47`, `-0.5`, `1e-3`) is left as it is: a
spreadsheet reads it as that number, which cannot run anything, and a quote would turn a
figure into text a sum skips. Anything more (`-1+1`, `+47 22 33 44 55`) is quoted.
"""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Iterable

FORMULA_START = ("=", "+", "-", "@", "\t", "\r")
_NUMBER = re.compile(r"[+-]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?")


def cell(value: object) -> str:
    """The text of one cell, neutralised if a spreadsheet would evaluate it."""
    text = "" if value is None else str(value)
    if text.startswith(FORMULA_START) and not _NUMBER.fullmatch(text):
        return "'" + text
    return text


class CsvLines:
    """Renders one row at a time as a CRLF-terminated CSV line, so exports can stream."""

    def __init__(self) -> None:
        self._line = io.StringIO()
        self._writer = csv.writer(self._line, lineterminator="\r\n")  # RFC 4180

    def line(self, values: Iterable[object]) -> str:
        self._line.seek(0)
        self._line.truncate()
        self._writer.writerow([cell(value) for value in values])
        return self._line.getvalue()
