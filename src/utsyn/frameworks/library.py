"""A framework library (functions, categories, subcategories, their implementation examples
and mappings to other frameworks) as frozen dataclasses, read once per process.

The file's format is documented at the top of `data/frameworks/nist-csf-2.0.yaml`. Loading
checks what the pages and the rulebook rely on: unique ids, every parent present and one level
up, both languages present for every name and description. A file that breaks this is a
ConfigError naming the node.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cache
from importlib.resources import files
from typing import Any, Literal

import yaml

from utsyn.errors import ConfigError
from utsyn.i18n import Language

NIST_CSF = "nist-csf-2.0"
Kind = Literal["function", "category", "subcategory"]
KINDS: dict[int, Kind] = {1: "function", 2: "category", 3: "subcategory"}
# libyaml's loader reads the 110 kB library about ten times faster than the pure-Python one.
_Loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


@dataclass(frozen=True, slots=True)
class Text:
    """A text in both languages; both are required."""

    en: str
    nb: str

    def get(self, lang: Language) -> str:
        return self.en if lang == "en" else self.nb


@dataclass(frozen=True, slots=True)
class Example:
    """An implementation example; `nb` is None until it is translated."""

    ref_id: str
    en: str
    nb: str | None

    def get(self, lang: Language) -> str:
        """The text in `lang`, or the English while the bokmål is missing."""
        return self.nb if lang == "nb" and self.nb else self.en

    def translated(self, lang: Language) -> bool:
        return lang == "en" or self.nb is not None


@dataclass(frozen=True, slots=True)
class Node:
    """A function (depth 1), category (2) or subcategory (3)."""

    ref_id: str
    parent: str | None
    depth: int
    name: Text | None  # functions and categories; a subcategory is its description
    description: Text
    examples: tuple[Example, ...] = ()

    @property
    def kind(self) -> Kind:
        return KINDS[self.depth]

    def title(self, lang: Language) -> str:
        return (self.name or self.description).get(lang)


@dataclass(frozen=True, slots=True)
class Mapping:
    """Links from this framework's nodes to another framework's, from one cited source."""

    target: str
    source: str
    relation: str
    pairs: tuple[tuple[str, str], ...]


@dataclass(frozen=True)
class Framework:
    ref_id: str
    name: Text
    version: str
    translation_version: str
    publisher: str
    source: str
    source_date: str
    licence: str
    nodes: tuple[Node, ...]  # in the framework's order, parents before their children
    mappings: tuple[Mapping, ...]
    _by_id: dict[str, Node] = field(init=False, repr=False, compare=False)
    _children: dict[str | None, tuple[Node, ...]] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        children: dict[str | None, list[Node]] = {}
        for node in self.nodes:
            children.setdefault(node.parent, []).append(node)
        object.__setattr__(self, "_by_id", {n.ref_id: n for n in self.nodes})
        object.__setattr__(self, "_children", {k: tuple(v) for k, v in children.items()})

    def node(self, ref_id: str) -> Node:
        return self._by_id[ref_id]

    def has(self, ref_id: str) -> bool:
        return ref_id in self._by_id

    def children(self, ref_id: str | None) -> tuple[Node, ...]:
        """The nodes right below `ref_id`; None gives the functions."""
        return self._children.get(ref_id, ())

    def of_kind(self, kind: Kind) -> tuple[Node, ...]:
        return tuple(n for n in self.nodes if n.kind == kind)

    def ancestors(self, ref_id: str) -> tuple[Node, ...]:
        """From the function down to the node's parent."""
        found: list[Node] = []
        parent = self.node(ref_id).parent
        while parent is not None:
            found.append(self.node(parent))
            parent = found[-1].parent
        return tuple(reversed(found))


@cache
def load_framework(ref_id: str = NIST_CSF) -> Framework:
    """A shipped framework library by its id (the file name without `.yaml`)."""
    path = f"frameworks/{ref_id}.yaml"
    try:
        text = files("utsyn.data").joinpath(path).read_text(encoding="utf-8")
        data = yaml.load(text, Loader=_Loader)  # a safe loader (CSafeLoader or SafeLoader)
        return parse_framework(data)
    except FileNotFoundError as exc:
        raise ConfigError("no framework library %(name)s", name=ref_id) from exc
    except (yaml.YAMLError, KeyError, TypeError, ValueError) as exc:
        raise ConfigError(
            "%(path)s: invalid framework library: %(reason)s", path=path, reason=exc
        ) from exc


def parse_framework(data: dict[str, Any]) -> Framework:
    """A library from its parsed YAML; ValueError (or KeyError, TypeError) names what is wrong."""
    about = data["library"]
    nodes: list[Node] = []
    seen: dict[str, Node] = {}
    for raw in data["nodes"]:
        node = _node(raw)
        if node.ref_id in seen:
            raise ValueError(f"{node.ref_id}: a second node with this id")
        above = seen.get(node.parent) if node.parent else None
        if node.depth not in KINDS or (node.depth > 1) != (above is not None):
            raise ValueError(f"{node.ref_id}: depth {node.depth} does not fit its parent")
        if above is not None and above.depth != node.depth - 1:
            raise ValueError(f"{node.ref_id}: its parent {above.ref_id} is not one level up")
        if (node.name is None) != (node.depth == 3):
            raise ValueError(f"{node.ref_id}: functions and categories have a name, nothing else")
        seen[node.ref_id] = node
        nodes.append(node)
    return Framework(
        ref_id=str(about["ref_id"]),
        name=_text(about["name"]),
        version=str(about["version"]),
        translation_version=str(about["translation_version"]),
        publisher=str(about["publisher"]),
        source=str(about["source"]),
        source_date=str(about["source_date"]),
        licence=str(about["licence"]),
        nodes=tuple(nodes),
        mappings=tuple(_mapping(m, seen) for m in data.get("mappings") or ()),
    )


def _node(raw: dict[str, Any]) -> Node:
    ref_id = str(raw["ref_id"])
    try:
        return Node(
            ref_id=ref_id,
            parent=raw["parent"],
            depth=int(raw["depth"]),
            name=_text(raw["name"]) if raw.get("name") else None,
            description=_text(raw["description"]),
            examples=tuple(
                Example(str(e["ref_id"]), _required(e["en"]), e.get("nb") or None)
                for e in raw.get("implementation_examples") or ()
            ),
        )
    except (KeyError, TypeError, ValueError) as exc:
        raise ValueError(f"{ref_id}: {exc}") from exc


def _text(raw: dict[str, Any]) -> Text:
    return Text(en=_required(raw["en"]), nb=_required(raw["nb"]))


def _required(value: object) -> str:
    if not isinstance(value, str) or not value.strip():
        raise ValueError(f"a text is missing or empty: {value!r}")
    return value


def _mapping(raw: dict[str, Any], nodes: dict[str, Node]) -> Mapping:
    pairs = tuple((str(p["from"]), str(p["to"])) for p in raw["pairs"])
    unknown = sorted({a for a, _ in pairs if a not in nodes})
    if unknown:
        raise ValueError(f"mapping to {raw['target']}: unknown nodes {unknown}")
    return Mapping(str(raw["target"]), str(raw["source"]), str(raw["relation"]), pairs)
