"""The 2024 Norwegian county and municipality numbers (Kartverket, CC BY 4.0)."""

from __future__ import annotations

import csv
from functools import cache
from importlib.resources import files


@cache
def counties() -> dict[str, str]:
    """County number → name."""
    return _read("fylker_2024.csv", "fylkesnummer", "fylkesnavn")


@cache
def municipalities() -> dict[str, str]:
    """Municipality number → name."""
    return _read("kommuner_2024.csv", "kommunenummer", "kommunenavn")


def _read(name: str, key: str, value: str) -> dict[str, str]:
    text = files("utsyn.data").joinpath("geo", name).read_text(encoding="utf-8")
    return {row[key]: row[value] for row in csv.DictReader(text.splitlines())}
