"""Scenario sources: a shipped scenario's name, a manifest file, or `generate:ORGS:SEED`."""

from __future__ import annotations

from utsyn.errors import ConfigError
from utsyn.lab.generate import generate
from utsyn.lab.manifest import Manifest
from utsyn.lab.scenarios import load_scenario


def source_for(scenario: str, orgs: int | None = None, seed: int = 1) -> str:
    return f"generate:{orgs}:{seed}" if orgs else scenario


def load_source(source: str) -> Manifest:
    if source.startswith("generate:"):
        try:
            _, orgs, seed = source.split(":")
            return generate(int(orgs), int(seed))
        except ValueError as exc:
            raise ConfigError("%(source)r: expected generate:ORGS:SEED", source=source) from exc
    return load_scenario(source)
