"""A mapping between two shipped framework libraries, read from both ends.

A library's `mappings` name its own nodes (`from`, checked when it loads) and another library's
(`to`, checked here, once both are loaded). `crosswalk()` gives NSM's Grunnprinsipper 2.1 against
NIST CSF 2.0: the principles a subcategory page shows, and the subcategories of each principle.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache

from utsyn.errors import ConfigError
from utsyn.frameworks.library import NIST_CSF, Framework, Node, load_framework

NSM_PRINCIPLES = "nsm-grunnprinsipper-2.1"


@dataclass(frozen=True)
class Crosswalk:
    """`source`'s nodes mapped to `target`'s, both ways, in each framework's order."""

    source: Framework
    target: Framework
    cited: str  # the mapping's `source`: where it comes from
    forward: dict[str, tuple[Node, ...]]
    backward: dict[str, tuple[Node, ...]]

    def targets(self, ref_id: str) -> tuple[Node, ...]:
        """The target framework's nodes mapped from `source` node `ref_id`."""
        return self.forward.get(ref_id, ())

    def sources(self, ref_id: str) -> tuple[Node, ...]:
        """The source framework's nodes mapped to `target` node `ref_id`."""
        return self.backward.get(ref_id, ())


@cache
def crosswalk(source: str = NSM_PRINCIPLES, target: str = NIST_CSF) -> Crosswalk:
    """The mapping `source` → `target`; a ConfigError if there is none or a `to` is unknown."""
    here, there = load_framework(source), load_framework(target)
    found = [m for m in here.mappings if m.target == target]
    pairs = {pair for m in found for pair in m.pairs}
    unknown = sorted({b for _, b in pairs if not there.has(b)})
    if not found or unknown:
        raise ConfigError(
            "%(path)s: invalid framework library: %(reason)s",
            path=f"frameworks/{source}.yaml",
            reason=f"mapping to {target}: unknown nodes {unknown}"
            if found
            else f"no mapping to {target}",
        )
    return Crosswalk(
        source=here,
        target=there,
        cited=found[0].source,
        forward=_grouped(pairs, there),
        backward=_grouped({(b, a) for a, b in pairs}, here),
    )


def _grouped(pairs: set[tuple[str, str]], values: Framework) -> dict[str, tuple[Node, ...]]:
    """Each key's values, in the values' framework order."""
    position = {node.ref_id: i for i, node in enumerate(values.nodes)}
    grouped: dict[str, list[str]] = {}
    for key, value in pairs:
        grouped.setdefault(key, []).append(value)
    return {
        key: tuple(values.node(v) for v in sorted(found, key=position.__getitem__))
        for key, found in grouped.items()
    }
