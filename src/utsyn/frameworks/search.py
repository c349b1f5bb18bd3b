"""Full-text search of a framework library in bokmål and English at once.

An in-memory index, built once per process (the NIST CSF library is 134 nodes and 363
examples, about 200 kB of text): no database table to migrate or keep in step, the same on
SQLite and PostgreSQL, and a query takes well under a millisecond (benchmarks/RESULTS.md).
Each query word must occur in a node's text as a substring, not only as a whole word,
because bokmål writes compounds as one word: «kopi» finds «sikkerhetskopier». A subcategory's
text includes its implementation examples. Hits rank by where the words occur (id, then
name, then description, then examples), ties in the framework's order.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import cache

from utsyn.frameworks.library import NIST_CSF, Framework, Node, load_framework

MAX_WORDS = 8
_WORD = re.compile(r"[\w.-]+")
# Weights of the places a word can occur: a hit in the id or name outranks one in the text.
_ID, _NAME, _DESCRIPTION, _EXAMPLES = 100, 10, 4, 1


@dataclass(frozen=True, slots=True)
class _Entry:
    node: Node
    ref_id: str
    name: str
    description: str
    examples: str
    everything: str


def words(query: str) -> tuple[str, ...]:
    """The query's words, lowered; a one-letter word and words past MAX_WORDS are left out."""
    found = [w.strip(".-") for w in _WORD.findall(query.casefold())]
    return tuple(dict.fromkeys(w for w in found if len(w) > 1))[:MAX_WORDS]


class Index:
    def __init__(self, framework: Framework) -> None:
        self.framework = framework
        self._entries = tuple(_entry(n) for n in framework.nodes)

    def search(self, query: str, limit: int = 50) -> tuple[Node, ...]:
        """The nodes whose texts (either language) hold every word of `query`, best first."""
        wanted = words(query)
        if not wanted:
            return ()
        scored: list[tuple[int, int, Node]] = []
        for position, entry in enumerate(self._entries):
            if all(w in entry.everything for w in wanted):
                scored.append((-sum(_score(entry, w) for w in wanted), position, entry.node))
        scored.sort(key=lambda s: s[:2])
        return tuple(node for _, _, node in scored[:limit])


def _entry(node: Node) -> _Entry:
    name = f"{node.name.en}\n{node.name.nb}".casefold() if node.name else ""
    description = f"{node.description.en}\n{node.description.nb}".casefold()
    examples = "\n".join(f"{e.en}\n{e.nb or ''}" for e in node.examples).casefold()
    ref_id = node.ref_id.casefold()
    return _Entry(
        node, ref_id, name, description, examples, f"{ref_id}\n{name}\n{description}\n{examples}"
    )


def _score(entry: _Entry, word: str) -> int:
    return (
        _ID * (word == entry.ref_id)
        + _NAME * (word in entry.name)
        + _DESCRIPTION * (word in entry.description)
        + _EXAMPLES * (word in entry.examples)
    )


@cache
def index(ref_id: str = NIST_CSF) -> Index:
    return Index(load_framework(ref_id))
