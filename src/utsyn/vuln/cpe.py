"""CPE 2.3 formatted strings (NISTIR 7695 section 6.2), split into their eleven attributes.

Only what matching needs: the attributes, unescaped, with `*` (ANY) and `-` (NA) kept as
they are. Attribute values are compared lower-case, as NVD writes them.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from utsyn.errors import UtsynError

ANY = "*"
NA = "-"
# A colon preceded by an even number of backslashes (possibly none) separates attributes.
_SPLIT = re.compile(r"(?<!\\):")
_UNESCAPE = re.compile(r"\\(.)")


class CpeError(UtsynError):
    """A CPE name does not follow the CPE 2.3 formatted-string syntax."""


@dataclass(frozen=True, slots=True)
class Cpe:
    part: str  # "a" application, "o" operating system, "h" hardware
    vendor: str
    product: str
    version: str = ANY
    update: str = ANY
    edition: str = ANY
    language: str = ANY
    sw_edition: str = ANY
    target_sw: str = ANY
    target_hw: str = ANY
    other: str = ANY

    @property
    def key(self) -> str:
        """The product key `vendor:product` that vulnerability ranges are indexed by."""
        return f"{self.vendor}:{self.product}"

    def qualifiers(self) -> tuple[tuple[str, str], ...]:
        """The attributes besides part, vendor, product, version and update, by name."""
        return (
            ("edition", self.edition),
            ("language", self.language),
            ("sw_edition", self.sw_edition),
            ("target_sw", self.target_sw),
            ("target_hw", self.target_hw),
            ("other", self.other),
        )


def parse_cpe(text: str) -> Cpe:
    """Parse `cpe:2.3:a:openbsd:openssh:7.4:p1:*:*:*:*:*:*`; missing tail attributes are ANY."""
    fields = _SPLIT.split(text.strip())
    if len(fields) < 5 or fields[0].lower() != "cpe" or fields[1] != "2.3":
        raise CpeError("not a CPE 2.3 name: %(text)r", text=text)
    values = [_UNESCAPE.sub(r"\1", f).lower() for f in fields[2:13]]
    values += [ANY] * (11 - len(values))
    if values[0] not in ("a", "o", "h", ANY):
        raise CpeError("CPE part must be a, o or h: %(text)r", text=text)
    return Cpe(*values)
