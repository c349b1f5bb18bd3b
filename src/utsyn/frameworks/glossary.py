"""The terms Utsyn's bokmål translation of a framework keeps to (`data/frameworks/glossary.yaml`):
one English term, one bokmål term, everywhere."""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import cache
from importlib.resources import files

import yaml

from utsyn.errors import ConfigError


@dataclass(frozen=True, slots=True)
class Term:
    en: str
    nb: str
    match: tuple[str, ...]  # stems that count as the bokmål term in a translated text
    note: str

    def in_english(self, text: str) -> bool:
        """Whether `text` uses the term: a whole word, also with -s, -es, -ies or -al."""
        return _pattern(self.en).search(text) is not None

    def in_bokmal(self, text: str) -> bool:
        lowered = text.lower()
        return any(stem in lowered for stem in self.match)


@dataclass(frozen=True)
class Glossary:
    version: str
    terms: tuple[Term, ...]


@cache
def glossary() -> Glossary:
    path = "frameworks/glossary.yaml"
    try:
        data = yaml.safe_load(files("utsyn.data").joinpath(path).read_text(encoding="utf-8"))
        terms = tuple(
            Term(
                en=str(t["en"]),
                nb=str(t["nb"]),
                match=tuple(str(s).lower() for s in t["match"]),
                note=str(t.get("note", "")),
            )
            for t in data["terms"]
        )
        return Glossary(version=str(data["version"]), terms=terms)
    except (yaml.YAMLError, KeyError, TypeError) as exc:
        raise ConfigError(
            "%(path)s: invalid framework library: %(reason)s", path=path, reason=exc
        ) from exc


@cache
def _pattern(term: str) -> re.Pattern[str]:
    stem = re.escape(term[:-1]) + "(?:y|ies)" if term.endswith("y") else re.escape(term)
    return re.compile(rf"\b{stem}(?:s|es|al)?\b", re.IGNORECASE)
