"""Every check family, registered in one place.

Adding a check = one module + one line here + rulebook entries + lab cases.
"""

from __future__ import annotations

from utsyn.scan.family import CheckFamily

FAMILIES: list[CheckFamily] = []
