"""Alphabetical order in the page's language, for the tables a user sorts by name.

Norwegian puts æ, ø and å after z, in that order (and ä, ö with æ, ø); English reads them
as the letters they are built on (æ as "ae", ø and ö as "o", å and ä as "a"). Accents
otherwise do not count (é with e, Sámi č with c), and case decides only between names
that are otherwise equal. The database's own collation (binary on SQLite) knows neither.
"""

from __future__ import annotations

import unicodedata

from utsyn.i18n import Language

# After "z" in code point order, so an ordinary comparison puts them last, in this order.
_NORWEGIAN_LAST = {"æ": "{a", "ä": "{a", "ø": "{b", "ö": "{b", "å": "{c"}
_ENGLISH = {"æ": "ae", "ø": "o", "ß": "ss"}


def sort_key(text: str, lang: Language) -> tuple[str, str]:
    """The key that orders `text` alphabetically in `lang`."""
    folded = text.casefold()
    letters = _NORWEGIAN_LAST if lang == "nb" else _ENGLISH
    spelled = "".join(letters.get(c, c) for c in folded)
    base = "".join(
        c for c in unicodedata.normalize("NFKD", spelled) if not unicodedata.combining(c)
    )
    return (base, text)
